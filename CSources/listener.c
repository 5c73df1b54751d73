/* listener.c - gale_listener: listening sockets with an accept loop that backs off when the
 * process runs out of descriptors instead of spinning on a readable socket it cannot drain. */
#include "internal.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_SOCKETS 8
#define ACCEPTS_PER_WAKEUP 64 /* then let other events run */
#define BACKOFF_MIN_NS (10u * 1000000u)
#define BACKOFF_MAX_NS (1000u * 1000000u)

struct gale_listener {
    gale__handle h;
    gale_accept_cb cb;
    gale_listener_error_cb err_cb;
    void *ud;
    gale_free_fn ud_free;
    unsigned n;
    int fds[MAX_SOCKETS];
    struct event *evs[MAX_SOCKETS];
    gale_addr addrs[MAX_SOCKETS];
    char *unix_path; /* removed on close */
    struct event *backoff_ev;
    uint64_t backoff_ns;
    uint64_t accepted, backoffs;
    unsigned paused : 1, backing_off : 1, watching : 1, dead : 1;
    int in_cb;
};

static void destroy(gale_listener *l) {
    for (unsigned i = 0; i < l->n; i++) {
        if (l->evs[i]) event_free(l->evs[i]);
        gale__close_fd(l->fds[i]);
    }
    if (l->backoff_ev) event_free(l->backoff_ev);
    if (l->unix_path) {
        unlink(l->unix_path);
        free(l->unix_path);
    }
    if (l->ud_free) l->ud_free(l->ud);
    free(l);
}

static void watch(gale_listener *l, int on) {
    if (on == (int)l->watching) return;
    for (unsigned i = 0; i < l->n; i++) {
        if (on) event_add(l->evs[i], NULL);
        else event_del(l->evs[i]);
    }
    l->watching = on ? 1 : 0;
}

static void report(gale_listener *l, int err) {
    if (!l->err_cb) return;
    l->in_cb++;
    l->err_cb(l, err, l->ud);
    l->in_cb--;
}

static void on_backoff(evutil_socket_t fd, short what, void *arg) {
    gale_listener *l = arg;
    l->backing_off = 0;
    if (!l->paused) watch(l, 1); /* level-triggered: fires at once if connections wait */
}

static void back_off(gale_listener *l) {
    l->backoffs++;
    l->backing_off = 1;
    watch(l, 0);
    struct timeval tv = gale__tv(l->backoff_ns);
    event_add(l->backoff_ev, &tv);
    l->backoff_ns = l->backoff_ns * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : l->backoff_ns * 2;
}

static void on_accept(evutil_socket_t lfd, short what, void *arg) {
    gale_listener *l = arg;
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4((int)lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            switch (e) {
            case EAGAIN:
#if EWOULDBLOCK != EAGAIN
            case EWOULDBLOCK:
#endif
                return;
            case EINTR:
            case ECONNABORTED:
            case EPROTO: /* the connection died in the queue (accept(2): treat as retry) */
            case ENETDOWN: case ENOPROTOOPT: case EHOSTDOWN: case ENONET:
            case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH:
                continue;
            case EMFILE: case ENFILE: case ENOBUFS: case ENOMEM:
                back_off(l);
                report(l, -e);
                goto out;
            default:
                report(l, -e);
                goto out;
            }
        }
        l->accepted++;
        l->backoff_ns = BACKOFF_MIN_NS;
        gale_addr peer;
        if (gale_addr_from_sockaddr((struct sockaddr *)&ss, len, &peer) < 0) {
            memset(&peer, 0, sizeof peer);
            peer.storage.ss_family = ss.ss_family; /* an unnamed Unix peer */
            peer.len = len < (socklen_t)sizeof peer.storage ? len : 0;
        }
        l->in_cb++;
        l->cb(l, fd, &peer, l->ud);
        l->in_cb--;
        if (l->dead || l->paused || l->backing_off) break;
    }
out:
    if (l->dead && l->in_cb == 0) destroy(l);
}

static void force_close(gale__handle *h) { gale_listener_close((gale_listener *)h); }

static int alloc_listener(gale_accept_cb cb, void *ud, gale_free_fn ud_free, gale_listener **out) {
    gale_listener *l = calloc(1, sizeof *l);
    if (!l) return -ENOMEM;
    for (unsigned i = 0; i < MAX_SOCKETS; i++) l->fds[i] = -1;
    l->cb = cb;
    l->ud = ud;
    l->ud_free = ud_free;
    l->backoff_ns = BACKOFF_MIN_NS;
    *out = l;
    return 0;
}

/* Wire the sockets to the loop and start accepting. On error the caller frees l. */
static int start(gale_loop *loop, gale_listener *l) {
    struct event_base *base = gale_loop_base(loop);
    for (unsigned i = 0; i < l->n; i++) {
        l->evs[i] = event_new(base, l->fds[i], EV_READ | EV_PERSIST, on_accept, l);
        if (!l->evs[i]) return -ENOMEM;
        socklen_t len = sizeof l->addrs[i].storage;
        if (getsockname(l->fds[i], (struct sockaddr *)&l->addrs[i].storage, &len) < 0) return gale__neg_errno();
        l->addrs[i].len = len;
    }
    l->backoff_ev = evtimer_new(base, on_backoff, l);
    if (!l->backoff_ev) return -ENOMEM;
    gale__handle_link(loop, &l->h, force_close);
    watch(l, 1);
    return 0;
}

/* Undo a failed open without running the user's free function. */
static void abandon(gale_listener *l) {
    l->ud_free = NULL;
    free(l->unix_path);
    l->unix_path = NULL; /* not ours to remove: binding failed or another owner has it */
    destroy(l);
}

static int bind_one(const gale_addr *a, int backlog, unsigned flags, int v6only, int *out_fd) {
    int fd = socket(a->storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return gale__neg_errno();
    int one = 1;
    if (!(flags & GALE_LISTEN_NO_REUSEADDR) && a->storage.ss_family != AF_UNIX)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (flags & GALE_LISTEN_REUSEPORT) {
#ifdef SO_REUSEPORT
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
            int e = gale__neg_errno();
            gale__close_fd(fd);
            return e;
        }
#else
        gale__close_fd(fd);
        return -EOPNOTSUPP;
#endif
    }
    if (a->storage.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    if (bind(fd, (const struct sockaddr *)&a->storage, a->len) < 0 ||
        listen(fd, backlog < 0 ? 65535 : backlog) < 0) { /* the kernel caps it at somaxconn */
        int e = gale__neg_errno();
        gale__close_fd(fd);
        return e;
    }
    *out_fd = fd;
    return 0;
}

GALE_EXPORT int gale_listener_open(gale_loop *loop, const char *host, int port, int backlog, unsigned flags,
                                   gale_accept_cb cb, void *ud, gale_free_fn ud_free, gale_listener **out) {
    if (port < 0 || port > 65535) return -EINVAL;
    gale_addr addrs[MAX_SOCKETS];
    unsigned n = 0;
    int v6only = (flags & GALE_LISTEN_V6ONLY) ? 1 : 0;
    int wildcard = !host || !*host || strcmp(host, "*") == 0;
    if (wildcard) {
        gale_addr_from_ip("::", port, &addrs[n++]);
    } else if (gale_addr_from_ip(host, port, &addrs[0]) == 0) {
        n = 1;
    } else {
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE;
        int e = getaddrinfo(host, NULL, &hints, &res);
        if (e) return gale_error_from_eai(e);
        for (struct addrinfo *ai = res; ai && n < MAX_SOCKETS; ai = ai->ai_next) {
            gale_addr a;
            if (gale_addr_from_sockaddr(ai->ai_addr, ai->ai_addrlen, &a) < 0) continue;
            gale_addr_set_port(&a, port);
            int dup = 0;
            for (unsigned i = 0; i < n; i++) dup |= gale_addr_equal(&a, &addrs[i]);
            if (!dup) addrs[n++] = a;
        }
        freeaddrinfo(res);
        if (n == 0) return gale_error_from_eai(EAI_NONAME);
        if (n > 1) v6only = 1; /* both families bound separately, as Tornado does */
    }

    gale_listener *l;
    int err = alloc_listener(cb, ud, ud_free, &l);
    if (err < 0) return err;
    int bound_port = port;
    for (unsigned i = 0; i < n; i++) {
        gale_addr a = addrs[i];
        if (bound_port) gale_addr_set_port(&a, bound_port);
        int fd;
        err = bind_one(&a, backlog, flags, v6only, &fd);
        if (err == -EAFNOSUPPORT && wildcard) { /* no IPv6 here: fall back to IPv4 */
            gale_addr_from_ip("0.0.0.0", port, &a);
            err = bind_one(&a, backlog, flags, 0, &fd);
        }
        if (err < 0) {
            /* A name with several addresses may include one this host cannot use. */
            if (n > 1 && (err == -EADDRNOTAVAIL || err == -EAFNOSUPPORT)) continue;
            abandon(l);
            return err;
        }
        l->fds[l->n++] = fd;
        if (!bound_port) {
            gale_addr got;
            socklen_t len = sizeof got.storage;
            if (getsockname(fd, (struct sockaddr *)&got.storage, &len) == 0) {
                got.len = len;
                bound_port = gale_addr_port(&got);
            }
        }
    }
    if (l->n == 0) {
        abandon(l);
        return err < 0 ? err : -EADDRNOTAVAIL;
    }
    if ((err = start(loop, l)) < 0) {
        abandon(l);
        return err;
    }
    *out = l;
    return 0;
}

GALE_EXPORT int gale_listener_open_unix(gale_loop *loop, const char *path, int backlog, unsigned flags,
                                        gale_accept_cb cb, void *ud, gale_free_fn ud_free, gale_listener **out) {
    gale_addr a;
    int err = gale_addr_from_unix(path, &a);
    if (err < 0) return err;
    if (flags & GALE_LISTEN_UNLINK) {
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);
    }
    gale_listener *l;
    if ((err = alloc_listener(cb, ud, ud_free, &l)) < 0) return err;
    int fd;
    if ((err = bind_one(&a, backlog, flags, 0, &fd)) < 0) {
        abandon(l);
        return err;
    }
    l->fds[l->n++] = fd;
    if (!(l->unix_path = strdup(path)) || (err = start(loop, l)) < 0) {
        if (!l->unix_path) err = -ENOMEM;
        unlink(path); /* we created it */
        abandon(l);
        return err;
    }
    *out = l;
    return 0;
}

GALE_EXPORT int gale_listener_open_fd(gale_loop *loop, int fd, gale_accept_cb cb, void *ud,
                                      gale_free_fn ud_free, gale_listener **out) {
    int acc = 0;
    socklen_t len = sizeof acc;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) < 0 || !acc) {
        int e = acc ? gale__neg_errno() : -EINVAL;
        gale__close_fd(fd);
        return e;
    }
    int err = gale__set_nonblock_cloexec(fd);
    gale_listener *l;
    if (err < 0 || (err = alloc_listener(cb, ud, ud_free, &l)) < 0) {
        gale__close_fd(fd);
        return err;
    }
    l->fds[l->n++] = fd;
    if ((err = start(loop, l)) < 0) {
        abandon(l);
        return err;
    }
    *out = l;
    return 0;
}

GALE_EXPORT void gale_listener_set_error_cb(gale_listener *l, gale_listener_error_cb cb) { l->err_cb = cb; }

GALE_EXPORT void gale_listener_pause(gale_listener *l) {
    l->paused = 1;
    watch(l, 0);
}

GALE_EXPORT void gale_listener_resume(gale_listener *l) {
    l->paused = 0;
    if (!l->backing_off && !l->dead) watch(l, 1);
}

GALE_EXPORT int gale_listener_addr(const gale_listener *l, unsigned i, gale_addr *out) {
    if (i >= l->n) return -EINVAL;
    *out = l->addrs[i];
    return 0;
}

GALE_EXPORT unsigned gale_listener_count(const gale_listener *l) { return l->n; }

GALE_EXPORT int gale_listener_port(const gale_listener *l) { return l->n ? gale_addr_port(&l->addrs[0]) : -1; }

GALE_EXPORT int gale_listener_fd(const gale_listener *l, unsigned i) { return i < l->n ? l->fds[i] : -1; }

GALE_EXPORT uint64_t gale_listener_accepted(const gale_listener *l) { return l->accepted; }

GALE_EXPORT uint64_t gale_listener_backoffs(const gale_listener *l) { return l->backoffs; }

GALE_EXPORT void gale_listener_close(gale_listener *l) {
    if (!l || l->dead) return;
    l->dead = 1;
    gale__handle_unlink(&l->h);
    watch(l, 0);
    event_del(l->backoff_ev);
    if (l->in_cb == 0) destroy(l);
}
