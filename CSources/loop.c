/* loop.c - gale_loop: an event_base, a cross-thread post queue woken by an eventfd, and a
 * same-iteration deferred queue. */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#ifdef __linux__
#include <sys/eventfd.h>
#endif

#include <event2/thread.h>

typedef struct post_item {
    gale_loop_fn fn;
    void *ud;
    gale_free_fn ud_free;
} post_item;

typedef struct defer_item {
    gale_loop_fn fn;
    void *ud;
} defer_item;

typedef struct defer_queue {
    defer_item *items;
    size_t n, head, cap;
    int armed;
    /* A run is in progress, or one is promised before control returns to libevent
     * (gale__loop_defer_hold): a push needs no event, the run takes it. */
    int running, held;
} defer_queue;

struct gale_loop {
    struct event_base *base;
    struct event *wake_ev;
    struct event *defer_ev;
    int wake_rfd, wake_wfd; /* the same eventfd on Linux, a pipe elsewhere */

    /* Posts from any thread: pushed under the lock; the loop swaps the array out whole. */
    pthread_mutex_t post_lock;
    post_item *posts, *posts_spare;
    size_t nposts, cap_posts, cap_spare;
    int wake_pending; /* an eventfd write is outstanding; later posts need not write */

    /* Deferred work: loop thread only, FIFO, run after the current callback. */
    defer_queue defer;
    /* Releases of objects (gale__loop_release_later): same shape, its own event. */
    defer_queue release;
    struct event *release_ev;

    void *data;
    gale_free_fn data_free;
    char *scratch;
    int running;
    int stop;
    int freeing;
    gale__handle handles; /* sentinel of the list of open handles */
};

static __thread gale_loop *current_loop;

static pthread_once_t libevent_once = PTHREAD_ONCE_INIT;
static size_t event_size;

static void libevent_init_once(void) {
    evthread_use_pthreads();
    /* A write to a peer that has gone raises SIGPIPE, which kills the process by default;
     * streams report -EPIPE instead. A handler the application installed is left alone. */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
    event_size = event_get_struct_event_size();
}

void gale__libevent_init(void) { pthread_once(&libevent_once, libevent_init_once); }

size_t gale__event_size(void) {
    gale__libevent_init();
    /* Keep whatever follows the event aligned. */
    return (event_size + 15u) & ~(size_t)15u;
}

int gale__set_nonblock_cloexec(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return gale__neg_errno();
    int fd_fl = fcntl(fd, F_GETFD);
    if (fd_fl < 0 || fcntl(fd, F_SETFD, fd_fl | FD_CLOEXEC) < 0) return gale__neg_errno();
    return 0;
}

void gale__close_fd(int fd) {
    /* On Linux the descriptor is released even when close reports EINTR: never retry. */
    if (fd >= 0) (void)close(fd);
}

/* ---- handles ---------------------------------------------------------------------------- */

void gale__handle_link(gale_loop *loop, gale__handle *h, void (*force_close)(gale__handle *)) {
    h->loop = loop;
    h->force_close = force_close;
    h->next = loop->handles.next;
    h->prev = &loop->handles;
    loop->handles.next->prev = h;
    loop->handles.next = h;
}

void gale__handle_unlink(gale__handle *h) {
    if (!h->next) return;
    h->prev->next = h->next;
    h->next->prev = h->prev;
    h->next = h->prev = NULL;
}

/* ---- deferred queues ------------------------------------------------------------------ */

/* The head index is shared, so a nested run simply continues the same FIFO. */
static void queue_run(defer_queue *q) {
    q->running++;
    while (q->head < q->n) {
        defer_item it = q->items[q->head++];
        it.fn(it.ud);
    }
    q->n = q->head = 0;
    q->running--;
}

static int queue_push(defer_queue *q, struct event *ev, gale_loop_fn fn, void *ud) {
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        defer_item *d = realloc(q->items, cap * sizeof *d);
        if (!d) return -ENOMEM;
        q->items = d;
        q->cap = cap;
    }
    q->items[q->n++] = (defer_item){fn, ud};
    if (!q->armed && !q->running && !q->held) {
        q->armed = 1;
        event_active(ev, EV_TIMEOUT, 0);
    }
    return 0;
}

GALE_EXPORT void gale_loop_run_deferred(gale_loop *loop) { queue_run(&loop->defer); }

void gale__loop_defer_hold(gale_loop *loop) { loop->defer.held++; }

void gale__loop_defer_unhold_and_run(gale_loop *loop) {
    loop->defer.held--;
    queue_run(&loop->defer);
}

static void on_defer(evutil_socket_t fd, short what, void *arg) {
    gale_loop *loop = arg;
    loop->defer.armed = 0;
    queue_run(&loop->defer);
}

static void on_release(evutil_socket_t fd, short what, void *arg) {
    gale_loop *loop = arg;
    loop->release.armed = 0;
    queue_run(&loop->release);
}

GALE_EXPORT int gale_loop_defer(gale_loop *loop, gale_loop_fn fn, void *ud) {
    return queue_push(&loop->defer, loop->defer_ev, fn, ud);
}

int gale__loop_release_later(gale_loop *loop, gale_loop_fn fn, void *ud) {
    return queue_push(&loop->release, loop->release_ev, fn, ud);
}

/* ---- posts ------------------------------------------------------------------------------ */

static void wake(gale_loop *loop) {
#ifdef __linux__
    uint64_t one = 1;
    ssize_t w = write(loop->wake_wfd, &one, sizeof one);
#else
    char c = 0;
    ssize_t w = write(loop->wake_wfd, &c, 1);
#endif
    (void)w; /* EAGAIN means a wakeup is already pending */
}

GALE_EXPORT int gale_loop_post(gale_loop *loop, gale_loop_fn fn, void *ud, gale_free_fn ud_free) {
    pthread_mutex_lock(&loop->post_lock);
    if (loop->nposts == loop->cap_posts) {
        size_t cap = loop->cap_posts ? loop->cap_posts * 2 : 64;
        post_item *p = realloc(loop->posts, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&loop->post_lock);
            return -ENOMEM;
        }
        loop->posts = p;
        loop->cap_posts = cap;
    }
    loop->posts[loop->nposts++] = (post_item){fn, ud, ud_free};
    int need_wake = !loop->wake_pending;
    loop->wake_pending = 1;
    pthread_mutex_unlock(&loop->post_lock);
    if (need_wake) wake(loop);
    return 0;
}

static void on_wake(evutil_socket_t fd, short what, void *arg) {
    gale_loop *loop = arg;
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    pthread_mutex_lock(&loop->post_lock);
    post_item *batch = loop->posts;
    size_t n = loop->nposts, cap = loop->cap_posts;
    loop->posts = loop->posts_spare;
    loop->cap_posts = loop->cap_spare;
    loop->nposts = 0;
    loop->wake_pending = 0;
    pthread_mutex_unlock(&loop->post_lock);

    for (size_t i = 0; i < n; i++) batch[i].fn(batch[i].ud);

    /* The drained array becomes the spare, unless a post grew the live one meanwhile. */
    pthread_mutex_lock(&loop->post_lock);
    loop->posts_spare = batch;
    loop->cap_spare = cap;
    pthread_mutex_unlock(&loop->post_lock);
}

/* ---- life cycle ------------------------------------------------------------------------- */

static int open_wakeup(gale_loop *loop) {
#ifdef __linux__
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) return gale__neg_errno();
    loop->wake_rfd = loop->wake_wfd = fd;
#else
    int p[2];
    if (pipe(p) < 0) return gale__neg_errno();
    gale__set_nonblock_cloexec(p[0]);
    gale__set_nonblock_cloexec(p[1]);
    loop->wake_rfd = p[0];
    loop->wake_wfd = p[1];
#endif
    return 0;
}

GALE_EXPORT int gale_loop_new(gale_loop **out) {
    gale__libevent_init();
    gale_loop *loop = calloc(1, sizeof *loop);
    if (!loop) return -ENOMEM;
    loop->wake_rfd = loop->wake_wfd = -1;
    loop->handles.next = loop->handles.prev = &loop->handles;
    pthread_mutex_init(&loop->post_lock, NULL);

    int err = -ENOMEM;
    struct event_config *cfg = event_config_new();
    if (!cfg) goto fail;
    /* Only the loop thread touches the base; posts go through our own queue and eventfd,
     * so the base needs no lock. */
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    /* libevent's default clock is CLOCK_MONOTONIC_COARSE, which lets a timer fire up to a
     * tick (4 ms) before its delay has passed; a call_later must never run early. */
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    loop->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (!loop->base) goto fail;

    if ((err = open_wakeup(loop)) < 0) goto fail;
    err = -ENOMEM;
    loop->wake_ev = event_new(loop->base, loop->wake_rfd, EV_READ | EV_PERSIST, on_wake, loop);
    loop->defer_ev = event_new(loop->base, -1, 0, on_defer, loop);
    loop->release_ev = event_new(loop->base, -1, 0, on_release, loop);
    if (!loop->wake_ev || !loop->defer_ev || !loop->release_ev) goto fail;
    if (event_add(loop->wake_ev, NULL) < 0) goto fail;
    *out = loop;
    return 0;
fail:
    if (loop->wake_ev) event_free(loop->wake_ev);
    if (loop->defer_ev) event_free(loop->defer_ev);
    if (loop->release_ev) event_free(loop->release_ev);
    if (loop->base) event_base_free(loop->base);
    if (loop->wake_rfd >= 0) gale__close_fd(loop->wake_rfd);
    if (loop->wake_wfd >= 0 && loop->wake_wfd != loop->wake_rfd) gale__close_fd(loop->wake_wfd);
    pthread_mutex_destroy(&loop->post_lock);
    free(loop);
    return err;
}

GALE_EXPORT void gale_loop_free(gale_loop *loop) {
    if (!loop || loop->running) return;
    loop->freeing = 1;
    gale_loop *prev = current_loop;
    current_loop = loop; /* close callbacks run "on the loop" */

    /* Close what is still open, then let the close callbacks and finalizers run. Closing may
     * defer work, which may close more: repeat until both are empty. */
    while (loop->handles.next != &loop->handles || loop->defer.n || loop->release.n) {
        while (loop->handles.next != &loop->handles) {
            gale__handle *h = loop->handles.next;
            gale__handle_unlink(h);
            h->force_close(h);
        }
        queue_run(&loop->defer);
        queue_run(&loop->release);
    }
    /* Posted work that never ran: release it without running it. */
    for (size_t i = 0; i < loop->nposts; i++)
        if (loop->posts[i].ud_free) loop->posts[i].ud_free(loop->posts[i].ud);

    if (loop->data_free) loop->data_free(loop->data);
    event_free(loop->wake_ev);
    event_free(loop->defer_ev);
    event_free(loop->release_ev);
    event_base_free(loop->base); /* runs libevent's pending finalizers too */
    gale__close_fd(loop->wake_rfd);
    if (loop->wake_wfd != loop->wake_rfd) gale__close_fd(loop->wake_wfd);
    pthread_mutex_destroy(&loop->post_lock);
    free(loop->posts);
    free(loop->posts_spare);
    free(loop->scratch);
    free(loop->defer.items);
    free(loop->release.items);
    free(loop);
    current_loop = prev;
}

GALE_EXPORT int gale_loop_run(gale_loop *loop) {
    if (loop->running) return -EBUSY;
    loop->running = 1;
    loop->stop = 0;
    gale_loop *prev = current_loop;
    current_loop = loop;
    int r = 0;
    while (!loop->stop) {
        r = event_base_loop(loop->base, 0);
        if (r < 0) break;
        /* r == 1 (nothing to wait for) cannot happen: the wakeup event is always there. */
        if (r == 1) break;
    }
    current_loop = prev;
    loop->running = 0;
    return r < 0 ? -EIO : 0;
}

GALE_EXPORT int gale_loop_run_once(gale_loop *loop, int block) {
    if (loop->running) return -EBUSY;
    loop->running = 1;
    gale_loop *prev = current_loop;
    current_loop = loop;
    int r = event_base_loop(loop->base, block ? EVLOOP_ONCE : EVLOOP_NONBLOCK);
    current_loop = prev;
    loop->running = 0;
    return r < 0 ? -EIO : 0;
}

GALE_EXPORT void gale_loop_stop(gale_loop *loop) {
    loop->stop = 1;
    if (loop->running) event_base_loopexit(loop->base, NULL);
}

GALE_EXPORT int gale_loop_in_loop_thread(const gale_loop *loop) { return current_loop == loop; }

GALE_EXPORT gale_loop *gale_loop_current(void) { return current_loop; }

GALE_EXPORT uint64_t gale_loop_now(const gale_loop *loop) {
    (void)loop;
    return gale_now_ns();
}

GALE_EXPORT struct event_base *gale_loop_base(gale_loop *loop) { return loop->base; }

GALE_EXPORT void gale_loop_set_data(gale_loop *loop, void *data, gale_free_fn data_free) {
    void *old = loop->data;
    gale_free_fn old_free = loop->data_free;
    loop->data = data;
    loop->data_free = data_free;
    if (old_free && old != data) old_free(old);
}

GALE_EXPORT void *gale_loop_get_data(const gale_loop *loop) { return loop->data; }

char *gale__loop_scratch(gale_loop *loop) {
    if (!loop->scratch) loop->scratch = malloc(GALE__SCRATCH_SIZE);
    return loop->scratch;
}

GALE_EXPORT int gale_available_cpus(void) {
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

GALE_EXPORT int gale_malloc_keep_freed(size_t bytes) {
#if defined(__GLIBC__)
    if (bytes > INT_MAX) bytes = INT_MAX;
    /* Blocks from mmap are unmapped, and faulted in anew, on every free: keep those to sizes
     * rarely allocated per message. */
    size_t mmap_min = bytes / 16 < 1024 * 1024 ? 1024 * 1024 : bytes / 16;
    if (mallopt(M_TRIM_THRESHOLD, (int)bytes) != 1) return -EINVAL;
    if (mallopt(M_MMAP_THRESHOLD, (int)(mmap_min > 32u * 1024 * 1024 ? 32u * 1024 * 1024 : mmap_min)) != 1) return -EINVAL;
    return 0;
#else
    (void)bytes;
    return -ENOTSUP;
#endif
}
