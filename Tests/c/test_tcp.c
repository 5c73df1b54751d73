/* test_tcp.c - listeners, streams and connects over real loopback sockets, through libcore's
 * public API: echo with half-close, backpressure in both directions, timeouts, connect
 * errors and EMFILE back-off. */
#include <gale.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "test.h"
#include "loop_util.h"

/* ---- echo server -------------------------------------------------------------------------- */

typedef struct {
    gale_loop *loop;
    gale_listener *listener;
    int accepted;
    int closed;
    size_t max_queue;
    char peer[GALE_ADDR_STRLEN];
} echo_server;

static void echo_data(gale_stream *s, const void *data, size_t len, void *ud) {
    echo_server *srv = ud;
    int r = gale_stream_write(s, data, len);
    CHECK(r >= 0);
    if (gale_stream_write_queue(s) > srv->max_queue) srv->max_queue = gale_stream_write_queue(s);
    if (r == 1) gale_stream_pause_reading(s); /* backpressure: stop reading until it drains */
}
static void echo_writable(gale_stream *s, void *ud) { gale_stream_resume_reading(s); }
static void echo_eof(gale_stream *s, void *ud) { gale_stream_shutdown(s); }
static void echo_error(gale_stream *s, int err, void *ud) { gale_stream_close(s); }
static void echo_close(gale_stream *s, void *ud) { ((echo_server *)ud)->closed++; }

static const gale_stream_callbacks echo_cbs = {
    .on_data = echo_data, .on_eof = echo_eof, .on_writable = echo_writable,
    .on_error = echo_error, .on_close = echo_close,
};

static void echo_accept(gale_listener *l, int fd, const gale_addr *peer, void *ud) {
    echo_server *srv = ud;
    srv->accepted++;
    gale_addr_format(peer, srv->peer, sizeof srv->peer);
    gale_stream *s;
    CHECK_EQ_INT(gale_stream_new(srv->loop, fd, &s), 0);
    gale_stream_start(s, &echo_cbs, srv, NULL);
}

/* ---- a client that sends a pattern, half-closes, and checks what comes back -------------- */

#define ECHO_BYTES (1024 * 1024)

typedef struct {
    gale_loop *loop;
    unsigned char *out;
    size_t received;
    int bad;
    int eof;
    int closed;
    int connect_err;
    int ref_freed;
} echo_client;

static unsigned char pattern(size_t i) { return (unsigned char)(i * 31 + (i >> 11)); }

static void client_data(gale_stream *s, const void *data, size_t len, void *ud) {
    echo_client *c = ud;
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        if (p[i] != pattern(c->received + i)) c->bad++;
    c->received += len;
}
static void client_eof(gale_stream *s, void *ud) {
    ((echo_client *)ud)->eof = 1;
    gale_stream_close(s);
}
static void client_close(gale_stream *s, void *ud) {
    echo_client *c = ud;
    c->closed = 1;
    gale_loop_stop(c->loop);
}
static void ref_free(const void *data, size_t len, void *ud) {
    echo_client *c = ud;
    c->ref_freed++;
}
static const gale_stream_callbacks client_cbs = {
    .on_data = client_data, .on_eof = client_eof, .on_close = client_close,
};

static void client_connected(gale_connect *req, gale_stream *s, int err, void *ud) {
    echo_client *c = ud;
    c->connect_err = err;
    if (err) {
        gale_loop_stop(c->loop);
        return;
    }
    gale_stream_start(s, &client_cbs, c, NULL);
    /* Zero-copy in four pieces, then half-close: the server echoes, sees EOF and shuts
     * down too, which is how we know everything came back. */
    for (int i = 0; i < 4; i++)
        CHECK(gale_stream_write_ref(s, c->out + i * (ECHO_BYTES / 4), ECHO_BYTES / 4, ref_free, c) >= 0);
    CHECK_EQ_INT(gale_stream_shutdown(s), 0);
    CHECK_EQ_INT(gale_stream_write(s, "x", 1), -EPIPE);
}

static void echo_roundtrip(const char *host, int family) {
    echo_server srv = {0};
    CHECK_EQ_INT(gale_loop_new(&srv.loop), 0);
    CHECK_EQ_INT(gale_listener_open(srv.loop, host, 0, GALE_LISTEN_BACKLOG_DEFAULT, 0, echo_accept, &srv, NULL,
                                    &srv.listener), 0);
    int port = gale_listener_port(srv.listener);
    CHECK(port > 0);
    gale_addr bound;
    CHECK_EQ_INT(gale_listener_addr(srv.listener, 0, &bound), 0);
    if (family) CHECK_EQ_INT(gale_addr_family(&bound), family);

    echo_client c = {0};
    c.loop = srv.loop;
    c.out = malloc(ECHO_BYTES);
    for (size_t i = 0; i < ECHO_BYTES; i++) c.out[i] = pattern(i);
    CHECK_EQ_INT(gale_connect_tcp(srv.loop, host, port, 5000 * MS, client_connected, &c, NULL, NULL), 0);
    CHECK(run_for(srv.loop, 10000));
    CHECK_EQ_INT(c.connect_err, 0);
    CHECK_EQ_INT(c.received, ECHO_BYTES);
    CHECK_EQ_INT(c.bad, 0);
    CHECK(c.eof);
    CHECK_EQ_INT(c.ref_freed, 4);
    CHECK_EQ_INT(srv.accepted, 1);
    /* The server never queued much more than its high-water mark plus one read. */
    CHECK(srv.max_queue <= GALE_STREAM_HIGH_WATER_DEFAULT + 64 * 1024);
    gale_listener_close(srv.listener);
    gale_loop_free(srv.loop);
    CHECK_EQ_INT(srv.closed, 1);
    free(c.out);
}

TEST(echo_1mib_ipv4_with_half_close) { echo_roundtrip("127.0.0.1", AF_INET); }
TEST(echo_1mib_ipv6) { echo_roundtrip("::1", AF_INET6); }
TEST(echo_1mib_by_name) { echo_roundtrip("localhost", 0); /* bound on every address localhost has */ }

/* ---- Unix domain -------------------------------------------------------------------------- */

TEST(unix_listener_and_connect) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/gale-test-%d.sock", (int)getpid());
    echo_server srv = {0};
    CHECK_EQ_INT(gale_loop_new(&srv.loop), 0);
    CHECK_EQ_INT(gale_listener_open_unix(srv.loop, path, 16, GALE_LISTEN_UNLINK, echo_accept, &srv, NULL,
                                         &srv.listener), 0);
    CHECK_EQ_INT(gale_listener_port(srv.listener), -1);
    CHECK_EQ_INT(access(path, F_OK), 0);
    echo_client c = {0};
    c.loop = srv.loop;
    c.out = malloc(ECHO_BYTES);
    for (size_t i = 0; i < ECHO_BYTES; i++) c.out[i] = pattern(i);
    gale_addr a;
    gale_addr_from_unix(path, &a);
    CHECK_EQ_INT(gale_connect_addr(srv.loop, &a, 0, client_connected, &c, NULL, NULL), 0);
    CHECK(run_for(srv.loop, 10000));
    CHECK_EQ_INT(c.received, ECHO_BYTES);
    CHECK_EQ_INT(c.bad, 0);
    gale_listener_close(srv.listener);
    CHECK(access(path, F_OK) != 0); /* the socket file goes with the listener */
    gale_loop_free(srv.loop);
    free(c.out);
}

/* ---- backpressure ------------------------------------------------------------------------ */

typedef struct {
    gale_loop *loop;
    gale_stream *s;
    size_t written, max_queue;
    int writable_events;
    char chunk[16384];
} flood_state;

static void flood_fill(flood_state *f) {
    /* Write until the stream says stop, as a well-behaved producer does. */
    for (;;) {
        int r = gale_stream_write(f->s, f->chunk, sizeof f->chunk);
        CHECK(r >= 0);
        f->written += sizeof f->chunk;
        size_t q = gale_stream_write_queue(f->s);
        if (q > f->max_queue) f->max_queue = q;
        if (r == 1) break;
    }
}
static void flood_writable(gale_stream *s, void *ud) {
    flood_state *f = ud;
    f->writable_events++;
    CHECK(gale_stream_write_queue(s) <= GALE_STREAM_LOW_WATER_DEFAULT);
    flood_fill(f);
}
static const gale_stream_callbacks flood_cbs = {.on_writable = flood_writable};

static void flood_accept(gale_listener *l, int fd, const gale_addr *peer, void *ud) {
    flood_state *f = ud;
    gale_stream_new(f->loop, fd, &f->s);
    gale_stream_start(f->s, &flood_cbs, f, NULL);
    flood_fill(f);
}

TEST(write_queue_stays_bounded_when_the_peer_does_not_read) {
    flood_state f;
    memset(&f, 0, sizeof f);
    CHECK_EQ_INT(gale_loop_new(&f.loop), 0);
    gale_listener *l;
    CHECK_EQ_INT(gale_listener_open(f.loop, "127.0.0.1", 0, -1, 0, flood_accept, &f, NULL, &l), 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    gale_addr a;
    gale_listener_addr(l, 0, &a);
    CHECK_EQ_INT(connect(fd, (struct sockaddr *)&a.storage, a.len), 0);
    run_for(f.loop, 300); /* the peer reads nothing for 300 ms */
    CHECK(f.written > 0);
    CHECK(f.max_queue < GALE_STREAM_HIGH_WATER_DEFAULT + sizeof f.chunk);
    size_t stalled = f.written;
    /* Now read a few MiB: the writer resumes through on_writable. */
    char buf[65536];
    size_t got = 0;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    for (int i = 0; i < 400 && got < 4u * 1024 * 1024; i++) {
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0) got += (size_t)n;
        gale_loop_run_once(f.loop, 0);
        usleep(1000);
    }
    CHECK(f.writable_events > 0);
    CHECK(f.written > stalled);
    CHECK(f.max_queue < GALE_STREAM_HIGH_WATER_DEFAULT + sizeof f.chunk);
    close(fd);
    gale_listener_close(l);
    gale_loop_free(f.loop);
}

typedef struct {
    gale_loop *loop;
    gale_stream *s;
    size_t got;
} paused_state;

static void paused_data(gale_stream *s, const void *data, size_t len, void *ud) {
    paused_state *p = ud;
    p->got += len;
    gale_stream_pause_reading(s); /* a consumer that stops after the first bytes */
}
static const gale_stream_callbacks paused_cbs = {.on_data = paused_data};
static void paused_accept(gale_listener *l, int fd, const gale_addr *peer, void *ud) {
    paused_state *p = ud;
    gale_stream_new(p->loop, fd, &p->s);
    gale_stream_start(p->s, &paused_cbs, p, NULL);
}

TEST(paused_reader_does_not_buffer_or_spin_under_a_flood) {
    paused_state p = {0};
    CHECK_EQ_INT(gale_loop_new(&p.loop), 0);
    gale_listener *l;
    CHECK_EQ_INT(gale_listener_open(p.loop, "127.0.0.1", 0, -1, 0, paused_accept, &p, NULL, &l), 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    gale_addr a;
    gale_listener_addr(l, 0, &a);
    CHECK_EQ_INT(connect(fd, (struct sockaddr *)&a.storage, a.len), 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    static char junk[65536];
    size_t sent = 0;
    double cpu0 = cpu_seconds();
    uint64_t wall0 = gale_now_ns();
    for (int i = 0; i < 200; i++) { /* flood for ~200 ms while the server is paused */
        ssize_t n;
        while ((n = write(fd, junk, sizeof junk)) > 0) sent += (size_t)n;
        gale_loop_run_once(p.loop, 0);
        usleep(1000);
    }
    double cpu = cpu_seconds() - cpu0;
    CHECK(p.got > 0);
    CHECK(sent > p.got);
    /* The consumer saw one read at most; the rest waits in the kernel, not in user space. */
    CHECK(p.got <= 64 * 1024);
    CHECK(p.s && !gale_stream_is_reading(p.s));
    double wall = (double)(gale_now_ns() - wall0) / 1e9;
    CHECK(cpu < idle_cpu_bound(0.15, wall)); /* no busy loop (libevent#891): the loop sleeps while paused */
    /* Resuming delivers what was held, then more. */
    size_t before = p.got;
    gale_stream_resume_reading(p.s);
    run_for(p.loop, 50);
    CHECK(p.got > before);
    close(fd);
    gale_listener_close(l);
    gale_loop_free(p.loop);
}

/* ---- timeouts ---------------------------------------------------------------------------- */

typedef struct {
    gale_loop *loop;
    int which;
    uint64_t t0, elapsed;
} timeout_state;

static void to_timeout(gale_stream *s, int which, void *ud) {
    timeout_state *t = ud;
    t->which = which;
    t->elapsed = gale_now_ns() - t->t0;
    gale_stream_close(s);
}
static void to_close(gale_stream *s, void *ud) { gale_loop_stop(((timeout_state *)ud)->loop); }
static const gale_stream_callbacks to_cbs = {.on_timeout = to_timeout, .on_close = to_close};

static int timeout_kind;
static void to_accept(gale_listener *l, int fd, const gale_addr *peer, void *ud) {
    timeout_state *t = ud;
    gale_stream *s;
    gale_stream_new(t->loop, fd, &s);
    gale_stream_start(s, &to_cbs, t, NULL);
    if (timeout_kind == GALE_TIMEOUT_READ) gale_stream_set_timeouts(s, 60 * MS, 0, 0);
    else gale_stream_set_timeouts(s, 0, 0, 60 * MS);
}

static void timeout_case(int kind) {
    timeout_state t = {0};
    timeout_kind = kind;
    CHECK_EQ_INT(gale_loop_new(&t.loop), 0);
    gale_listener *l;
    CHECK_EQ_INT(gale_listener_open(t.loop, "127.0.0.1", 0, -1, 0, to_accept, &t, NULL, &l), 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    gale_addr a;
    gale_listener_addr(l, 0, &a);
    /* Timeouts count from the loop's cached time of the turn that armed them (libevent's),
     * which is before the accept callback runs but after this point. */
    t.t0 = gale_now_ns();
    CHECK_EQ_INT(connect(fd, (struct sockaddr *)&a.storage, a.len), 0);
    CHECK(run_for(t.loop, 3000));
    CHECK_EQ_INT(t.which, kind);
    CHECK(t.elapsed >= 60 * MS);
    char c;
    CHECK_EQ_INT(read(fd, &c, 1), 0); /* the server closed the idle connection */
    close(fd);
    gale_listener_close(l);
    gale_loop_free(t.loop);
}

TEST(read_timeout_fires_for_a_silent_peer) { timeout_case(GALE_TIMEOUT_READ); }
TEST(idle_timeout_fires_for_a_silent_peer) { timeout_case(GALE_TIMEOUT_IDLE); }

/* ---- connect errors ---------------------------------------------------------------------- */

typedef struct {
    gale_loop *loop;
    int err;
    int called;
} conn_result;

static void on_conn(gale_connect *req, gale_stream *s, int err, void *ud) {
    conn_result *r = ud;
    r->called++;
    r->err = err;
    if (s) gale_stream_close(s);
    gale_loop_stop(r->loop);
}

TEST(connect_refused_unresolvable_and_timeout) {
    gale_loop *loop;
    CHECK_EQ_INT(gale_loop_new(&loop), 0);

    /* Refused: a port nobody listens on (bound, then closed). */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    bind(fd, (struct sockaddr *)&sin, sizeof sin);
    getsockname(fd, (struct sockaddr *)&sin, &len);
    close(fd);
    conn_result r = {loop, 0, 0};
    CHECK_EQ_INT(gale_connect_tcp(loop, "127.0.0.1", ntohs(sin.sin_port), 2000 * MS, on_conn, &r, NULL, NULL), 0);
    CHECK_EQ_INT(r.called, 0);
    run_for(loop, 3000);
    CHECK_EQ_INT(r.called, 1);
    CHECK_EQ_INT(r.err, -ECONNREFUSED);

    /* Unresolvable: the resolver's error, not a hang or a crash. */
    conn_result u = {loop, 0, 0};
    CHECK_EQ_INT(gale_connect_tcp(loop, "no-such-host.invalid", 80, 5000 * MS, on_conn, &u, NULL, NULL), 0);
    run_for(loop, 6000);
    CHECK_EQ_INT(u.called, 1);
    CHECK(gale_error_eai(u.err) != 0);

    /* Timeout: a listener with a full accept queue drops our SYN; loopback only. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    sin.sin_port = 0;
    bind(lfd, (struct sockaddr *)&sin, sizeof sin);
    listen(lfd, 0);
    len = sizeof sin;
    getsockname(lfd, (struct sockaddr *)&sin, &len);
    int filler = socket(AF_INET, SOCK_STREAM, 0);
    connect(filler, (struct sockaddr *)&sin, sizeof sin);
    conn_result t = {loop, 0, 0};
    uint64_t t0 = gale_now_ns();
    CHECK_EQ_INT(gale_connect_tcp(loop, "127.0.0.1", ntohs(sin.sin_port), 150 * MS, on_conn, &t, NULL, NULL), 0);
    run_for(loop, 3000);
    CHECK_EQ_INT(t.called, 1);
    CHECK_EQ_INT(t.err, -ETIMEDOUT);
    CHECK(gale_now_ns() - t0 >= 150 * MS);
    close(filler);
    close(lfd);

    /* Bad arguments fail at once and never call back. */
    CHECK_EQ_INT(gale_connect_tcp(loop, "127.0.0.1", 70000, 0, on_conn, &t, NULL, NULL), -EINVAL);
    gale_loop_free(loop);
}

static void never_conn(gale_connect *req, gale_stream *s, int err, void *ud) { CHECK(0 && "cancelled connect called back"); }
static int conn_freed;
static void conn_free(void *ud) { conn_freed++; }

TEST(connect_cancel_releases_without_calling_back) {
    gale_loop *loop;
    CHECK_EQ_INT(gale_loop_new(&loop), 0);
    gale_connect *req;
    conn_freed = 0;
    CHECK_EQ_INT(gale_connect_tcp(loop, "localhost", 9, 0, never_conn, NULL, conn_free, &req), 0);
    gale_connect_cancel(req);
    CHECK_EQ_INT(conn_freed, 1);
    CHECK_EQ_INT(gale_connect_tcp(loop, "127.0.0.1", 9, 0, never_conn, NULL, conn_free, &req), 0);
    gale_connect_cancel(req);
    CHECK_EQ_INT(conn_freed, 2);
    run_for(loop, 50);
    /* Left pending when the loop goes: released too. */
    CHECK_EQ_INT(gale_connect_tcp(loop, "localhost", 9, 0, never_conn, NULL, conn_free, NULL), 0);
    gale_loop_free(loop);
    CHECK_EQ_INT(conn_freed, 3);
}

/* ---- EMFILE ------------------------------------------------------------------------------ */

typedef struct {
    gale_loop *loop;
    int accepted;
    int errors;
    int last_err;
} emfile_state;

static void emfile_accept(gale_listener *l, int fd, const gale_addr *peer, void *ud) {
    ((emfile_state *)ud)->accepted++;
    close(fd);
}
static void emfile_error(gale_listener *l, int err, void *ud) {
    emfile_state *st = ud;
    st->errors++;
    st->last_err = err;
}

TEST(accept_backs_off_on_emfile_without_spinning_then_recovers) {
    emfile_state st = {0};
    CHECK_EQ_INT(gale_loop_new(&st.loop), 0);
    gale_listener *l;
    CHECK_EQ_INT(gale_listener_open(st.loop, "127.0.0.1", 0, -1, 0, emfile_accept, &st, NULL, &l), 0);
    gale_listener_set_error_cb(l, emfile_error);
    gale_addr a;
    gale_listener_addr(l, 0, &a);

    enum { CLIENTS = 5 };
    int clients[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = socket(AF_INET, SOCK_STREAM, 0);
        CHECK_EQ_INT(connect(clients[i], (struct sockaddr *)&a.storage, a.len), 0);
    }
    /* Use up every descriptor the process may have. */
    struct rlimit old, low;
    getrlimit(RLIMIT_NOFILE, &old);
    low = old;
    low.rlim_cur = 256;
    setrlimit(RLIMIT_NOFILE, &low);
    int hogs[256], nhogs = 0;
    int h;
    while (nhogs < 256 && (h = open("/dev/null", O_RDONLY)) >= 0) hogs[nhogs++] = h;
    CHECK_EQ_INT(errno, EMFILE);

    double cpu0 = cpu_seconds();
    uint64_t wall0 = gale_now_ns();
    run_for(st.loop, 400);
    double cpu = cpu_seconds() - cpu0;
    double wall = (double)(gale_now_ns() - wall0) / 1e9;
    CHECK_EQ_INT(st.accepted, 0);
    CHECK(st.errors >= 2);          /* it retried ... */
    CHECK(st.errors <= 12);         /* ... on a back-off, not on every loop turn */
    CHECK_EQ_INT(st.last_err, -EMFILE);
    CHECK(gale_listener_backoffs(l) >= 2);
    CHECK(cpu < idle_cpu_bound(0.2, wall)); /* and the loop slept meanwhile */

    for (int i = 0; i < nhogs; i++) close(hogs[i]);
    setrlimit(RLIMIT_NOFILE, &old);
    /* The next retry accepts what waits, and new clients too. (Under valgrind, accept4
     * succeeds in the kernel and valgrind closes the fd above its own limit, so the waiting
     * connections are consumed there; only the new ones can be counted on.) */
    int fresh[2];
    for (int i = 0; i < 2; i++) {
        fresh[i] = socket(AF_INET, SOCK_STREAM, 0);
        CHECK_EQ_INT(connect(fresh[i], (struct sockaddr *)&a.storage, a.len), 0);
    }
    run_for(st.loop, 1500);
    if (getenv("GALE_UNDER_VALGRIND")) CHECK(st.accepted >= 2);
    else CHECK_EQ_INT(st.accepted, CLIENTS + 2);
    CHECK_EQ_INT(gale_listener_accepted(l), (uint64_t)st.accepted);
    for (int i = 0; i < CLIENTS; i++) close(clients[i]);
    for (int i = 0; i < 2; i++) close(fresh[i]);
    gale_listener_close(l);
    gale_loop_free(st.loop);
}

/* ---- listener errors --------------------------------------------------------------------- */

static void no_accept(gale_listener *l, int fd, const gale_addr *peer, void *ud) { close(fd); }

TEST(listener_errors_are_reported_not_fatal) {
    gale_loop *loop;
    CHECK_EQ_INT(gale_loop_new(&loop), 0);
    gale_listener *a, *b = NULL;
    CHECK_EQ_INT(gale_listener_open(loop, "127.0.0.1", 0, -1, 0, no_accept, NULL, NULL, &a), 0);
    int port = gale_listener_port(a);
    CHECK_EQ_INT(gale_listener_open(loop, "127.0.0.1", port, -1, 0, no_accept, NULL, NULL, &b), -EADDRINUSE);
    CHECK(b == NULL);
    /* With SO_REUSEPORT on both, two listeners share a port. */
    gale_listener *c, *d;
    CHECK_EQ_INT(gale_listener_open(loop, "127.0.0.1", 0, -1, GALE_LISTEN_REUSEPORT, no_accept, NULL, NULL, &c), 0);
    CHECK_EQ_INT(gale_listener_open(loop, "127.0.0.1", gale_listener_port(c), -1, GALE_LISTEN_REUSEPORT, no_accept,
                                    NULL, NULL, &d), 0);
    int e = gale_listener_open(loop, "no-such-host.invalid", 0, -1, 0, no_accept, NULL, NULL, &b);
    CHECK(gale_error_eai(e) != 0);
    CHECK(b == NULL);
    CHECK_EQ_INT(gale_listener_open(loop, "127.0.0.1", 70000, -1, 0, no_accept, NULL, NULL, &b), -EINVAL);
    /* The wildcard listens dual-stack: an IPv4 client reaches it. */
    gale_listener *w;
    CHECK_EQ_INT(gale_listener_open(loop, NULL, 0, -1, 0, no_accept, NULL, NULL, &w), 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)gale_listener_port(w)),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ_INT(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    close(fd);
    gale_loop_free(loop); /* closes all four listeners */
}

int main(void) {
    RUN(echo_1mib_ipv4_with_half_close);
    RUN(echo_1mib_ipv6);
    RUN(echo_1mib_by_name);
    RUN(unix_listener_and_connect);
    RUN(write_queue_stays_bounded_when_the_peer_does_not_read);
    RUN(paused_reader_does_not_buffer_or_spin_under_a_flood);
    RUN(read_timeout_fires_for_a_silent_peer);
    RUN(idle_timeout_fires_for_a_silent_peer);
    RUN(connect_refused_unresolvable_and_timeout);
    RUN(connect_cancel_releases_without_calling_back);
    RUN(accept_backs_off_on_emfile_without_spinning_then_recovers);
    RUN(listener_errors_are_reported_not_fatal);
    return test_summary();
}
