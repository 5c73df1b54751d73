/* test_loop.c - the loop, cross-thread posts, deferred work, timers, signals, the work pool
 * and the resolver, through libcore's public API. */
#include <gale.h>

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "test.h"
#include "loop_util.h"

/* ---- posts -------------------------------------------------------------------------------- */

typedef struct {
    gale_loop *loop;
    int count;
    int target;
    int order_ok;
    int last[4];
} post_state;

typedef struct {
    post_state *st;
    int thread;
    int seq;
} post_msg;

static void on_post(void *arg) {
    post_msg *m = arg;
    post_state *st = m->st;
    CHECK(gale_loop_in_loop_thread(st->loop));
    /* Each thread's posts run in the order that thread posted them. */
    if (m->seq != st->last[m->thread] + 1) st->order_ok = 0;
    st->last[m->thread] = m->seq;
    if (++st->count == st->target) gale_loop_stop(st->loop);
    free(m);
}

static void *poster(void *arg) {
    post_msg *proto = arg;
    for (int i = 1; i <= 2500; i++) {
        post_msg *m = malloc(sizeof *m);
        *m = *proto;
        m->seq = i;
        CHECK_EQ_INT(gale_loop_post(proto->st->loop, on_post, m, free), 0);
    }
    return NULL;
}

TEST(post_from_threads_wakes_and_keeps_order) {
    gale_loop *loop;
    CHECK_EQ_INT(gale_loop_new(&loop), 0);
    post_state st = {loop, 0, 4 * 2500, 1, {0}};
    pthread_t t[4];
    post_msg protos[4];
    for (int i = 0; i < 4; i++) {
        protos[i] = (post_msg){&st, i, 0};
        pthread_create(&t[i], NULL, poster, &protos[i]);
    }
    CHECK(!gale_loop_in_loop_thread(loop));
    CHECK_EQ_INT(gale_loop_run(loop), 0);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    CHECK_EQ_INT(st.count, st.target);
    CHECK(st.order_ok);
    gale_loop_free(loop);
}

static int freed_count;
static void count_free(void *ud) {
    freed_count++;
    free(ud);
}
static void never(void *ud) { CHECK(0 && "a post ran after its loop was freed"); }

TEST(unrun_posts_are_released_when_the_loop_is_freed) {
    gale_loop *loop;
    CHECK_EQ_INT(gale_loop_new(&loop), 0);
    freed_count = 0;
    for (int i = 0; i < 10; i++) gale_loop_post(loop, never, malloc(8), count_free);
    gale_loop_free(loop);
    CHECK_EQ_INT(freed_count, 10);
}

/* ---- deferred ------------------------------------------------------------------------------ */

static int defer_log[8], defer_n;
static gale_loop *defer_loop;
static void deferred(void *ud) {
    int v = (int)(intptr_t)ud;
    defer_log[defer_n++] = v;
    if (v == 1) gale_loop_defer(defer_loop, deferred, (void *)(intptr_t)3);
}
static void post_then_defer(void *ud) {
    gale_loop_defer(defer_loop, deferred, (void *)(intptr_t)1);
    gale_loop_defer(defer_loop, deferred, (void *)(intptr_t)2);
    CHECK_EQ_INT(defer_n, 0); /* not inside the call */
}
static void stop_loop(void *ud) { gale_loop_stop(ud); }

TEST(defer_runs_after_the_current_callback_in_order) {
    CHECK_EQ_INT(gale_loop_new(&defer_loop), 0);
    defer_n = 0;
    gale_loop_post(defer_loop, post_then_defer, NULL, NULL);
    gale_loop_post(defer_loop, stop_loop, defer_loop, NULL);
    gale_loop_run(defer_loop);
    CHECK_EQ_INT(defer_n, 3);
    CHECK_EQ_INT(defer_log[0], 1);
    CHECK_EQ_INT(defer_log[1], 2);
    CHECK_EQ_INT(defer_log[2], 3);
    gale_loop_free(defer_loop);
}

/* gale_loop_run_deferred from inside a callback (as the HTTP server does after on_request)
 * runs work deferred meanwhile, and work that work defers, before it returns; work deferred
 * after that run still runs later in the turn. */
static char chain_log[8];
static int chain_n;
static void chain_step(void *ud) {
    char ch = (char)(intptr_t)ud;
    chain_log[chain_n++] = ch;
    if (ch == 'a') gale_loop_defer(defer_loop, chain_step, (void *)(intptr_t)'b');
    if (ch == 'c') gale_loop_stop(defer_loop);
}
static void run_inline(void *ud) {
    gale_loop_defer(defer_loop, chain_step, (void *)(intptr_t)'a');
    gale_loop_run_deferred(defer_loop);
    CHECK_EQ_INT(chain_n, 2); /* a, and b deferred by a */
    gale_loop_run_deferred(defer_loop); /* nothing left: a no-op */
    gale_loop_defer(defer_loop, chain_step, (void *)(intptr_t)'c');
    CHECK_EQ_INT(chain_n, 2); /* c waits for the callback to return */
}

TEST(run_deferred_inline_takes_nested_work_and_later_work_still_runs) {
    CHECK_EQ_INT(gale_loop_new(&defer_loop), 0);
    chain_n = 0;
    gale_loop_post(defer_loop, run_inline, NULL, NULL);
    CHECK(run_for(defer_loop, 5000));
    CHECK_EQ_INT(chain_n, 3);
    CHECK(memcmp(chain_log, "abc", 3) == 0);
    gale_loop_free(defer_loop);
}

/* ---- timers -------------------------------------------------------------------------------- */

typedef struct {
    gale_loop *loop;
    int fired[8];
    int order[8];
    int norder;
    uint64_t start;
    uint64_t when[8];
    gale_timer *periodic;
    gale_timer *victim;
} timer_state;

typedef struct {
    timer_state *st;
    int id;
} timer_ud;

static void on_timer(gale_timer *t, void *arg) {
    timer_ud *u = arg;
    CHECK(gale_timer_loop(t) == u->st->loop);
    u->st->fired[u->id]++;
    u->st->when[u->id] = gale_now_ns() - u->st->start;
    u->st->order[u->st->norder++] = u->id;
    if (u->id == 0) gale_timer_free(u->st->victim); /* cancel another timer from a callback */
    if (u->id == 3) gale_loop_stop(u->st->loop);
    gale_timer_free(t); /* free itself from its own callback */
}

TEST(one_shot_timers_fire_in_order_and_cancel) {
    timer_state st;
    memset(&st, 0, sizeof st);
    CHECK_EQ_INT(gale_loop_new(&st.loop), 0);
    static const int delays[4] = {30, 10, 20, 60}; /* ids 0..3; id 4 is cancelled */
    freed_count = 0;
    st.start = gale_now_ns(); /* before arming: a timer may not fire sooner than this + delay */
    for (int i = 0; i < 4; i++) {
        timer_ud *u = malloc(sizeof *u);
        *u = (timer_ud){&st, i};
        gale_timer *t;
        CHECK_EQ_INT(gale_timer_new(st.loop, on_timer, u, count_free, &t), 0);
        CHECK_EQ_INT(gale_timer_start(t, (uint64_t)delays[i] * MS, 0), 0);
        CHECK(gale_timer_is_active(t));
    }
    timer_ud *v = malloc(sizeof *v);
    *v = (timer_ud){&st, 4};
    CHECK_EQ_INT(gale_timer_new(st.loop, on_timer, v, count_free, &st.victim), 0);
    gale_timer_start(st.victim, 45 * MS, 0);
    gale_loop_run(st.loop);
    CHECK_EQ_INT(st.norder, 4);
    CHECK_EQ_INT(st.order[0], 1);
    CHECK_EQ_INT(st.order[1], 2);
    CHECK_EQ_INT(st.order[2], 0);
    CHECK_EQ_INT(st.order[3], 3);
    CHECK_EQ_INT(st.fired[4], 0);
    CHECK(st.when[1] >= 10 * MS);
    CHECK(st.when[3] >= 60 * MS);
    CHECK_EQ_INT(freed_count, 5); /* every user pointer released exactly once */
    gale_loop_free(st.loop);
}

typedef struct {
    gale_loop *loop;
    int ticks;
    uint64_t start, last;
} periodic_state;

static void on_tick(gale_timer *t, void *ud) {
    periodic_state *p = ud;
    p->ticks++;
    p->last = gale_now_ns() - p->start;
    if (p->ticks == 5) {
        gale_timer_stop(t); /* stop a periodic timer from inside its callback */
        CHECK(!gale_timer_is_active(t));
        gale_loop_post(p->loop, stop_loop, p->loop, NULL);
    }
}

TEST(periodic_timer_ticks_and_stops_from_its_callback) {
    periodic_state p = {0};
    CHECK_EQ_INT(gale_loop_new(&p.loop), 0);
    gale_timer *t;
    CHECK_EQ_INT(gale_timer_new(p.loop, on_tick, &p, NULL, &t), 0);
    p.start = gale_now_ns();
    gale_timer_start(t, 5 * MS, 10 * MS);
    gale_loop_run(p.loop);
    CHECK_EQ_INT(p.ticks, 5);
    CHECK(p.last >= 45 * MS); /* 5 + 4 * 10 */
    /* It can be started again after a stop. */
    p.ticks = 4;
    gale_timer_start(t, 1 * MS, 0);
    gale_loop_run(p.loop);
    CHECK_EQ_INT(p.ticks, 5);
    gale_timer_free(t);
    gale_loop_free(p.loop);
}

static void never_fires(gale_timer *t, void *ud) { CHECK(0 && "fired"); }

TEST(timers_left_open_are_released_by_loop_free) {
    gale_loop *loop;
    CHECK_EQ_INT(gale_loop_new(&loop), 0);
    freed_count = 0;
    for (int i = 0; i < 3; i++) {
        gale_timer *t;
        gale_timer_new(loop, never_fires, malloc(4), count_free, &t);
        gale_timer_start(t, 1000 * MS, 0);
    }
    gale_loop_free(loop);
    CHECK_EQ_INT(freed_count, 3);
}

/* ---- signals ------------------------------------------------------------------------------- */

static int got_signal;
static void on_sig(gale_signal *sig, int signum, void *ud) {
    got_signal = signum;
    gale_signal_stop(sig); /* stop from inside the callback */
    gale_loop_stop(ud);
}
static void raise_term(void *ud) { raise(SIGTERM); }

TEST(signal_is_delivered_on_the_loop) {
    gale_loop *loop;
    CHECK_EQ_INT(gale_loop_new(&loop), 0);
    gale_signal *sig;
    CHECK_EQ_INT(gale_signal_start(loop, SIGTERM, on_sig, loop, NULL, &sig), 0);
    got_signal = 0;
    gale_loop_post(loop, raise_term, NULL, NULL);
    gale_loop_run(loop);
    CHECK_EQ_INT(got_signal, SIGTERM);
    gale_loop_free(loop);
}

/* ---- work pool and resolver -------------------------------------------------------------- */

typedef struct {
    gale_loop *loop;
    int err;
    int n4, n6;
    int called;
    int pending;
} gai_state;

static void on_gai(gale_getaddrinfo *req, int err, const struct addrinfo *res, void *ud) {
    gai_state *st = ud;
    st->called++;
    st->err = err;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) st->n4++;
        if (ai->ai_family == AF_INET6) st->n6++;
    }
    if (--st->pending == 0) gale_loop_stop(st->loop);
}

TEST(getaddrinfo_numeric_localhost_and_unknown) {
    gai_state a = {0}, b = {0}, c = {0};
    gale_loop *loop;
    CHECK_EQ_INT(gale_loop_new(&loop), 0);
    a.loop = b.loop = c.loop = loop;
    a.pending = b.pending = c.pending = 1;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    CHECK_EQ_INT(gale_getaddrinfo_start(loop, "127.0.0.1", "80", &hints, on_gai, &a, NULL, NULL), 0);
    CHECK_EQ_INT(a.called, 0); /* never inside the call */
    gale_loop_run(loop);
    CHECK_EQ_INT(a.err, 0);
    CHECK_EQ_INT(a.n4, 1);

    CHECK_EQ_INT(gale_getaddrinfo_start(loop, "localhost", "http", &hints, on_gai, &b, NULL, NULL), 0);
    gale_loop_run(loop);
    CHECK_EQ_INT(b.err, 0);
    CHECK(b.n4 + b.n6 >= 1);

    CHECK_EQ_INT(gale_getaddrinfo_start(loop, "no-such-host.invalid", NULL, NULL, on_gai, &c, NULL, NULL), 0);
    gale_loop_run(loop);
    CHECK(c.err < 0);
    CHECK(gale_error_eai(c.err) != 0);
    CHECK(strlen(gale_strerror(c.err)) > 0);
    gale_loop_free(loop);
}

static void never_gai(gale_getaddrinfo *req, int err, const struct addrinfo *res, void *ud) {
    CHECK(0 && "a cancelled lookup called back");
}

TEST(cancelled_and_orphaned_lookups_release_their_data) {
    gale_loop *loop;
    CHECK_EQ_INT(gale_loop_new(&loop), 0);
    freed_count = 0;
    gale_getaddrinfo *req;
    CHECK_EQ_INT(gale_getaddrinfo_start(loop, "localhost", NULL, NULL, never_gai, malloc(1), count_free, &req), 0);
    gale_getaddrinfo_cancel(req);
    CHECK_EQ_INT(freed_count, 1);
    /* Queued, running or finished-but-not-delivered when the loop goes: freeing the loop
     * releases them without calling back. */
    for (int i = 0; i < 8; i++)
        gale_getaddrinfo_start(loop, "localhost", NULL, NULL, never_gai, malloc(1), count_free, NULL);
    gale_loop_free(loop);
    /* Items still running on a helper thread are released there; wait for them. */
    wait_count(&freed_count, 9, 3000); /* lookups are slow under valgrind: it allows for that */
    CHECK_EQ_INT(freed_count, 9);
}

/* ---- errors and addresses ------------------------------------------------------------------ */

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_HAS_ASAN 1
#endif
#endif

/* After gale_malloc_keep_freed, a 2 MiB block comes from the heap (reused after free), not
 * from a fresh mmap that every free unmaps. Skipped where malloc is not glibc's own
 * (valgrind, ASan replace it). */
TEST(malloc_keep_freed_serves_large_blocks_from_the_heap) {
#if defined(__SANITIZE_ADDRESS__) || defined(TEST_HAS_ASAN)
    return;
#elif defined(__GLIBC__) && defined(M_MMAP_THRESHOLD)
    if (getenv("GALE_UNDER_VALGRIND")) return;
    CHECK_EQ_INT(gale_malloc_keep_freed(64u << 20), 0);
    struct mallinfo2 before = mallinfo2();
    char *p = malloc(2u << 20);
    CHECK(p != NULL);
    memset(p, 1, 2u << 20);
    struct mallinfo2 during = mallinfo2();
    CHECK_EQ_INT(during.hblkhd, before.hblkhd); /* no new mmapped block */
    free(p);
    struct mallinfo2 after = mallinfo2();
    CHECK(after.fordblks >= (size_t)(2u << 20)); /* kept as free heap, not trimmed */
#else
    CHECK_EQ_INT(gale_malloc_keep_freed(64u << 20), -ENOTSUP);
#endif
}

TEST(errors_and_addresses) {
    CHECK_EQ_STR(gale_strerror(-ECONNREFUSED), "Connection refused");
    CHECK(gale_error_eai(-ECONNREFUSED) == 0);
    int e = gale_error_from_eai(EAI_NONAME);
    CHECK_EQ_INT(gale_error_eai(e), EAI_NONAME);
    CHECK_EQ_STR(gale_strerror(e), gai_strerror(EAI_NONAME));

    gale_addr a, b;
    char buf[GALE_ADDR_STRLEN];
    CHECK_EQ_INT(gale_addr_from_ip("127.0.0.1", 8080, &a), 0);
    CHECK_EQ_INT(gale_addr_family(&a), AF_INET);
    CHECK_EQ_INT(gale_addr_port(&a), 8080);
    CHECK(gale_addr_format(&a, buf, sizeof buf) > 0);
    CHECK_EQ_STR(buf, "127.0.0.1:8080");
    CHECK_EQ_INT(gale_addr_from_ip("::1", 443, &b), 0);
    gale_addr_format(&b, buf, sizeof buf);
    CHECK_EQ_STR(buf, "[::1]:443");
    CHECK(!gale_addr_equal(&a, &b));
    CHECK_EQ_INT(gale_addr_from_ip("not an ip", 1, &a), -EINVAL);
    CHECK_EQ_INT(gale_addr_from_ip("1.2.3.4", 70000, &a), -EINVAL);
    CHECK_EQ_INT(gale_addr_from_unix("/tmp/x.sock", &a), 0);
    gale_addr_format(&a, buf, sizeof buf);
    CHECK_EQ_STR(buf, "/tmp/x.sock");
    CHECK_EQ_INT(gale_addr_port(&a), -1);
    char big[200];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK_EQ_INT(gale_addr_from_unix(big, &a), -ENAMETOOLONG);
    CHECK_EQ_INT(gale_addr_format(&b, buf, 4), -ENOSPC);
}

int main(void) {
    RUN(post_from_threads_wakes_and_keeps_order);
    RUN(unrun_posts_are_released_when_the_loop_is_freed);
    RUN(defer_runs_after_the_current_callback_in_order);
    RUN(run_deferred_inline_takes_nested_work_and_later_work_still_runs);
    RUN(one_shot_timers_fire_in_order_and_cancel);
    RUN(periodic_timer_ticks_and_stops_from_its_callback);
    RUN(timers_left_open_are_released_by_loop_free);
    RUN(signal_is_delivered_on_the_loop);
    RUN(getaddrinfo_numeric_localhost_and_unknown);
    RUN(cancelled_and_orphaned_lookups_release_their_data);
    RUN(errors_and_addresses);
    RUN(malloc_keep_freed_serves_large_blocks_from_the_heap);
    return test_summary();
}
