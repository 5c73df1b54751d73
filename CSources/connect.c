/* connect.c - gale_connect: resolve off the loop, then try each address in turn, all under
 * one deadline. */
#include "internal.h"

#include <stdio.h>
#include <unistd.h>

#define MAX_ADDRS 16

struct gale_connect {
    gale__handle h;
    gale_connect_cb cb;
    void *ud;
    gale_free_fn ud_free;
    gale_getaddrinfo *gai;
    gale_addr addrs[MAX_ADDRS];
    unsigned naddrs, next;
    int fd;
    int last_err;
    uint64_t timeout_ns;
    struct event *conn_ev;    /* the socket becoming writable = connected or failed */
    struct event *timeout_ev; /* the whole attempt's deadline */
    unsigned started_pending : 1, cancelled : 1, done : 1, released : 1;
};

/* Release everything; the memory itself waits for begin() if that is still queued. */
static void release(gale_connect *c) {
    if (!c->released) {
        c->released = 1;
        if (c->conn_ev) event_free(c->conn_ev);
        if (c->timeout_ev) event_free(c->timeout_ev);
        c->conn_ev = c->timeout_ev = NULL;
        gale__close_fd(c->fd);
        c->fd = -1;
        if (c->ud_free) c->ud_free(c->ud);
    }
    if (!c->started_pending) free(c);
}

static void finish(gale_connect *c, gale_stream *s, int err) {
    c->done = 1;
    gale__handle_unlink(&c->h);
    if (c->gai) gale_getaddrinfo_cancel(c->gai);
    c->gai = NULL;
    if (c->conn_ev) event_del(c->conn_ev);
    if (c->timeout_ev) event_del(c->timeout_ev);
    c->cb(c, s, err, c->ud);
    release(c);
}

static void try_next(gale_connect *c);

static void on_connected(evutil_socket_t fd, short what, void *arg) {
    gale_connect *c = arg;
    int so = 0;
    socklen_t len = sizeof so;
    if (getsockopt((int)fd, SOL_SOCKET, SO_ERROR, &so, &len) < 0) so = errno;
    if (so == 0) {
        int sfd = c->fd;
        c->fd = -1;
        gale_stream *s;
        int err = gale_stream_new(c->h.loop, sfd, &s);
        finish(c, err < 0 ? NULL : s, err);
        return;
    }
    c->last_err = -so;
    gale__close_fd(c->fd);
    c->fd = -1;
    try_next(c);
}

static void try_next(gale_connect *c) {
    while (c->next < c->naddrs) {
        const gale_addr *a = &c->addrs[c->next++];
        int fd = socket(a->storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            c->last_err = gale__neg_errno();
            continue;
        }
        if (connect(fd, (const struct sockaddr *)&a->storage, a->len) == 0) {
            gale_stream *s;
            int err = gale_stream_new(c->h.loop, fd, &s);
            finish(c, err < 0 ? NULL : s, err);
            return;
        }
        if (errno == EINPROGRESS) {
            c->fd = fd;
            if (!c->conn_ev) c->conn_ev = event_new(gale_loop_base(c->h.loop), fd, EV_WRITE, on_connected, c);
            else event_assign(c->conn_ev, gale_loop_base(c->h.loop), fd, EV_WRITE, on_connected, c);
            if (!c->conn_ev || event_add(c->conn_ev, NULL) < 0) {
                finish(c, NULL, -ENOMEM);
                return;
            }
            return;
        }
        c->last_err = gale__neg_errno();
        gale__close_fd(fd);
    }
    finish(c, NULL, c->last_err ? c->last_err : -EHOSTUNREACH);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg) { finish(arg, NULL, -ETIMEDOUT); }

static void on_resolved(gale_getaddrinfo *req, int err, const struct addrinfo *res, void *arg) {
    gale_connect *c = arg;
    c->gai = NULL;
    if (err < 0) {
        finish(c, NULL, err);
        return;
    }
    for (const struct addrinfo *ai = res; ai && c->naddrs < MAX_ADDRS; ai = ai->ai_next)
        if (gale_addr_from_sockaddr(ai->ai_addr, ai->ai_addrlen, &c->addrs[c->naddrs]) == 0) c->naddrs++;
    try_next(c);
}

/* Runs from the loop, so the callback never runs inside the start call. */
static void begin(void *arg) {
    gale_connect *c = arg;
    c->started_pending = 0;
    if (c->released) {
        free(c);
        return;
    }
    if (c->naddrs && !c->gai) try_next(c);
}

static void force_close(gale__handle *h) { gale_connect_cancel((gale_connect *)h); }

static int create(gale_loop *loop, uint64_t timeout_ns, gale_connect_cb cb, void *ud, gale_free_fn ud_free,
                  gale_connect **out) {
    gale_connect *c = calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    c->fd = -1;
    c->cb = cb;
    c->ud = ud;
    c->ud_free = ud_free;
    c->timeout_ns = timeout_ns;
    if (timeout_ns) {
        c->timeout_ev = evtimer_new(gale_loop_base(loop), on_timeout, c);
        struct timeval tv = gale__tv(timeout_ns);
        if (!c->timeout_ev || evtimer_add(c->timeout_ev, &tv) < 0) {
            if (c->timeout_ev) event_free(c->timeout_ev);
            free(c);
            return -ENOMEM;
        }
    }
    c->h.loop = loop;
    *out = c;
    return 0;
}

static int launch(gale_connect *c, gale_connect **out) {
    if (gale_loop_defer(c->h.loop, begin, c) < 0) {
        if (c->gai) gale_getaddrinfo_cancel(c->gai);
        c->gai = NULL;
        c->ud_free = NULL;
        release(c);
        return -ENOMEM;
    }
    c->started_pending = 1;
    gale__handle_link(c->h.loop, &c->h, force_close);
    if (out) *out = c;
    return 0;
}

GALE_EXPORT int gale_connect_tcp(gale_loop *loop, const char *host, int port, uint64_t timeout_ns,
                                 gale_connect_cb cb, void *ud, gale_free_fn ud_free, gale_connect **out) {
    if (port < 0 || port > 65535 || !host || !*host) return -EINVAL;
    gale_connect *c;
    int err = create(loop, timeout_ns, cb, ud, ud_free, &c);
    if (err < 0) return err;
    if (gale_addr_from_ip(host, port, &c->addrs[0]) == 0) {
        c->naddrs = 1;
    } else {
        struct addrinfo hints;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
        char service[8];
        snprintf(service, sizeof service, "%d", port);
        err = gale_getaddrinfo_start(loop, host, service, &hints, on_resolved, c, NULL, &c->gai);
        if (err < 0) {
            c->ud_free = NULL;
            release(c);
            return err;
        }
    }
    return launch(c, out);
}

GALE_EXPORT int gale_connect_addr(gale_loop *loop, const gale_addr *addr, uint64_t timeout_ns, gale_connect_cb cb,
                                  void *ud, gale_free_fn ud_free, gale_connect **out) {
    int fam = gale_addr_family(addr);
    if (fam != AF_INET && fam != AF_INET6 && fam != AF_UNIX) return -EINVAL;
    gale_connect *c;
    int err = create(loop, timeout_ns, cb, ud, ud_free, &c);
    if (err < 0) return err;
    c->addrs[0] = *addr;
    c->naddrs = 1;
    return launch(c, out);
}

GALE_EXPORT void gale_connect_cancel(gale_connect *c) {
    if (c->cancelled || c->done) return;
    c->cancelled = 1;
    gale__handle_unlink(&c->h);
    if (c->gai) gale_getaddrinfo_cancel(c->gai);
    c->gai = NULL;
    if (c->conn_ev) event_del(c->conn_ev);
    if (c->timeout_ev) event_del(c->timeout_ev);
    if (c->ud_free) c->ud_free(c->ud);
    c->ud_free = NULL;
    release(c);
}
