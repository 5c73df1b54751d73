/* udp.c - gale_udp: datagrams straight from recvmsg into the loop's scratch buffer, one callback
 * each; sends go to the kernel directly (a datagram is never queued in user space).
 *
 * ICMP errors: for a connected socket the kernel keeps the last one in sk_err and reports it
 * from the next recvmsg (and marks the socket readable), so the read path turns it into
 * on_error and keeps reading. With IP_RECVERR every error is also queued on the socket's error
 * queue with the destination it concerns; that queue must be drained (MSG_ERRQUEUE) or epoll
 * keeps reporting EPOLLERR and the loop spins. */
#include "internal.h"

#include <linux/errqueue.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#define DATAGRAMS_PER_WAKEUP 64 /* then let other events run */

struct gale_udp {
    gale__handle h;
    const gale_udp_callbacks *cbs;
    void *ud;
    gale_free_fn ud_free;
    int fd;
    int family;
    char *buf; /* the loop's scratch buffer, which lives as long as the loop */
    size_t read_size;
    uint64_t received, truncated, errors;
    int in_cb;
    unsigned started : 1, paused : 1, closing : 1, watching : 1, want_writable : 1, recverr : 1;
    /* two struct events follow: read (persistent), write (one-shot, after -EAGAIN) */
};

static const gale_udp_callbacks no_callbacks;

static inline struct event *read_ev(gale_udp *u) { return (struct event *)(u + 1); }
static inline struct event *write_ev(gale_udp *u) {
    return (struct event *)((char *)(u + 1) + gale__event_size());
}

#define CALL GALE__CALL

static void watch(gale_udp *u, int on) {
    if (on == (int)u->watching) return;
    if (on) event_add(read_ev(u), NULL);
    else event_del(read_ev(u));
    u->watching = on ? 1 : 0;
}

/* ---- closing ---------------------------------------------------------------------------- */

static void finalize(void *arg) {
    gale_udp *u = arg;
    if (u->cbs->on_close) u->cbs->on_close(u, u->ud);
    if (u->ud_free) u->ud_free(u->ud);
    free(u);
}

/* Stop everything; the socket is closed unless keep_fd. */
static void shut(gale_udp *u, int keep_fd) {
    u->closing = 1;
    gale__handle_unlink(&u->h);
    event_del(read_ev(u));
    event_del(write_ev(u));
    if (!keep_fd) gale__close_fd(u->fd);
    u->fd = -1;
    if (gale__loop_release_later(u->h.loop, finalize, u) < 0) {
        /* No memory to defer: finalize now unless one of our callbacks is on the stack, in
         * which case leak rather than risk a use after free. */
        if (u->in_cb == 0) finalize(u);
    }
}

GALE_EXPORT void gale_udp_close(gale_udp *u) {
    if (!u || u->closing) return;
    shut(u, 0);
}

GALE_EXPORT int gale_udp_detach(gale_udp *u) {
    if (u->closing) return -EPIPE;
    int fd = u->fd;
    shut(u, 1);
    return fd;
}

/* ---- receiving -------------------------------------------------------------------------- */

static void report(gale_udp *u, int err, const gale_addr *dest) {
    u->errors++;
    CALL(u, on_error, u, err, dest, u->ud);
}

/* Report what the error queue holds (IP_RECVERR). @return how many errors it held. */
static int drain_error_queue(gale_udp *u) {
    int n = 0;
    for (int i = 0; i < DATAGRAMS_PER_WAKEUP && !u->closing; i++) {
        gale_addr dest;
        memset(&dest, 0, sizeof dest);
        union {
            char buf[CMSG_SPACE(sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in6))];
            struct cmsghdr align;
        } ctrl;
        struct msghdr msg = {.msg_name = &dest.storage, .msg_namelen = sizeof dest.storage,
                             .msg_control = ctrl.buf, .msg_controllen = sizeof ctrl.buf};
        if (recvmsg(u->fd, &msg, MSG_ERRQUEUE) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        int err = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
                (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
                struct sock_extended_err ee;
                memcpy(&ee, CMSG_DATA(c), sizeof ee);
                err = ee.ee_errno ? -(int)ee.ee_errno : -EIO;
            }
        }
        if (!err) continue; /* not an error report (a timestamp, say) */
        dest.len = msg.msg_namelen <= sizeof(sa_family_t) ? 0 : msg.msg_namelen;
        n++;
        report(u, err, dest.len ? &dest : NULL);
    }
    return n;
}

/* recvmsg failed with err: an error for an earlier send, or a real failure. */
static void receive_error(gale_udp *u, int err) {
    /* With IP_RECVERR the queue says which destination failed; its entries replace sk_err's. */
    if (u->recverr && drain_error_queue(u) > 0) return;
    gale_addr peer;
    int connected = gale_socket_peer_addr(u->fd, &peer) == 0;
    report(u, err, connected ? &peer : NULL);
}

static void on_readable(evutil_socket_t fd, short what, void *arg) {
    gale_udp *u = arg;
    char *buf = u->buf;
    int got = 0;
    for (int i = 0; i < DATAGRAMS_PER_WAKEUP && !u->closing && !u->paused; i++) {
        gale_addr from;
        struct iovec iov = {.iov_base = buf, .iov_len = u->read_size};
        struct msghdr msg = {.msg_name = &from.storage, .msg_namelen = sizeof from.storage,
                             .msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n = recvmsg((int)fd, &msg, 0);
        if (n >= 0) {
            got++;
            u->received++;
            unsigned flags = 0;
            if (msg.msg_flags & MSG_TRUNC) {
                flags |= GALE_UDP_TRUNCATED;
                u->truncated++;
            }
            from.len = msg.msg_namelen <= sizeof(sa_family_t) ? 0 : msg.msg_namelen;
            CALL(u, on_datagram, u, buf, (size_t)n, &from, flags, u->ud);
            continue;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            /* Woken with nothing to read: EPOLLERR for a queued error. */
            if (got == 0 && u->recverr) drain_error_queue(u);
            return;
        }
        /* Stop here: level-triggered readiness brings us back for what is still queued, and
         * an error that repeats cannot starve the loop. */
        receive_error(u, gale__neg_errno());
        return;
    }
}

static void on_writable(evutil_socket_t fd, short what, void *arg) {
    gale_udp *u = arg;
    u->want_writable = 0;
    CALL(u, on_writable, u, u->ud);
}

/* ---- creation --------------------------------------------------------------------------- */

static void force_close(gale__handle *h) { gale_udp_close((gale_udp *)h); }

/* Wrap a non-blocking datagram socket. On error fd is closed. */
static int create(gale_loop *loop, int fd, int family, gale_udp **out) {
    /* The scratch buffer is taken now, not per wakeup: failing then would return with the
     * datagram still queued, and the level-triggered read event would spin on it. */
    char *buf = gale__loop_scratch(loop);
    gale_udp *u = buf ? malloc(sizeof *u + 2 * gale__event_size()) : NULL;
    if (!u) {
        gale__close_fd(fd);
        return -ENOMEM;
    }
    memset(u, 0, sizeof *u);
    struct event_base *base = gale_loop_base(loop);
    if (event_assign(read_ev(u), base, fd, EV_READ | EV_PERSIST, on_readable, u) < 0 ||
        event_assign(write_ev(u), base, fd, EV_WRITE, on_writable, u) < 0) {
        free(u);
        gale__close_fd(fd);
        return -EINVAL;
    }
    u->fd = fd;
    u->family = family;
    u->buf = buf;
    u->cbs = &no_callbacks;
    u->read_size = GALE__SCRATCH_SIZE;
    gale__handle_link(loop, &u->h, force_close);
    *out = u;
    return 0;
}

GALE_EXPORT int gale_udp_open(gale_loop *loop, const gale_addr *bind_addr, unsigned flags, gale_udp **out) {
    int family = gale_addr_family(bind_addr);
    if (family != AF_INET && family != AF_INET6) return -EINVAL;
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return gale__neg_errno();
    int one = 1, err = 0;
    if ((flags & GALE_UDP_REUSEADDR) && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        err = gale__neg_errno();
#ifdef SO_REUSEPORT
    if (!err && (flags & GALE_UDP_REUSEPORT) && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        err = gale__neg_errno();
#else
    if (flags & GALE_UDP_REUSEPORT) err = -EOPNOTSUPP;
#endif
    if (!err && family == AF_INET6) {
        int v6only = (flags & GALE_UDP_V6ONLY) ? 1 : 0;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) < 0) err = gale__neg_errno();
    }
    if (!err && bind(fd, (const struct sockaddr *)&bind_addr->storage, bind_addr->len) < 0) err = gale__neg_errno();
    if (err) {
        gale__close_fd(fd);
        return err;
    }
    return create(loop, fd, family, out);
}

GALE_EXPORT int gale_udp_new_fd(gale_loop *loop, int fd, gale_udp **out) {
    int type = 0, family = 0, err;
    if ((err = gale_socket_get_option(fd, GALE_SO_TYPE, &type)) < 0 ||
        (err = gale_socket_get_option_raw(fd, SOL_SOCKET, SO_DOMAIN, &family)) < 0 ||
        (err = type == SOCK_DGRAM ? 0 : -EPROTOTYPE) < 0 || (err = gale__set_nonblock_cloexec(fd)) < 0) {
        gale__close_fd(fd);
        return err;
    }
    return create(loop, fd, family, out);
}

GALE_EXPORT void gale_udp_start(gale_udp *u, const gale_udp_callbacks *cbs, void *ud, gale_free_fn ud_free) {
    if (u->started || u->closing) return;
    u->started = 1;
    u->cbs = cbs;
    u->ud = ud;
    u->ud_free = ud_free;
    if (!u->paused) watch(u, 1);
}

/* ---- sending ---------------------------------------------------------------------------- */

GALE_EXPORT int gale_udp_send(gale_udp *u, const void *data, size_t len, const gale_addr *to) {
    if (u->closing) return -EPIPE;
    const struct sockaddr *sa = to ? (const struct sockaddr *)&to->storage : NULL;
    socklen_t salen = to ? to->len : 0;
    ssize_t n;
    do n = sendto(u->fd, data, len, MSG_NOSIGNAL, sa, salen);
    while (n < 0 && errno == EINTR);
    if (n >= 0) return 0;
    int err = gale__neg_errno();
    if (err == -EAGAIN || err == -EWOULDBLOCK) {
        err = -EAGAIN;
        if (!u->want_writable) {
            u->want_writable = 1;
            event_add(write_ev(u), NULL);
        }
    }
    return err;
}

GALE_EXPORT int gale_udp_connect(gale_udp *u, const gale_addr *peer) {
    if (u->closing) return -EPIPE;
    if (gale_addr_family(peer) == AF_UNSPEC) {
        struct sockaddr sa = {.sa_family = AF_UNSPEC};
        return connect(u->fd, &sa, sizeof sa) < 0 ? gale__neg_errno() : 0;
    }
    return connect(u->fd, (const struct sockaddr *)&peer->storage, peer->len) < 0 ? gale__neg_errno() : 0;
}

/* ---- receiving control ------------------------------------------------------------------ */

GALE_EXPORT void gale_udp_pause(gale_udp *u) {
    if (u->closing) return;
    u->paused = 1;
    watch(u, 0);
}

GALE_EXPORT void gale_udp_resume(gale_udp *u) {
    if (u->closing || !u->paused) return;
    u->paused = 0;
    if (u->started) watch(u, 1);
}

GALE_EXPORT void gale_udp_set_read_size(gale_udp *u, size_t max) {
    u->read_size = max == 0 || max > GALE__SCRATCH_SIZE ? GALE__SCRATCH_SIZE : max;
}

GALE_EXPORT int gale_udp_set_recverr(gale_udp *u, int on) {
    if (u->closing) return -EPIPE;
    if (u->family != AF_INET && u->family != AF_INET6) return -EOPNOTSUPP; /* no ICMP to report */
    on = on ? 1 : 0;
    int err = 0;
    if (u->family == AF_INET6) err = gale_socket_set_option_raw(u->fd, IPPROTO_IPV6, IPV6_RECVERR, on);
    /* IPv4 errors on a dual-stack socket (v4-mapped peers) come through IP_RECVERR. */
    if (!err) {
        int e = gale_socket_set_option_raw(u->fd, IPPROTO_IP, IP_RECVERR, on);
        if (u->family == AF_INET) err = e;
    }
    if (!err) u->recverr = on ? 1 : 0;
    return err;
}

/* ---- options ---------------------------------------------------------------------------- */

GALE_EXPORT int gale_udp_set_broadcast(gale_udp *u, int on) {
    return gale_socket_set_option(u->fd, GALE_SO_BROADCAST, on ? 1 : 0);
}

/* An interface given by name or number ("lo", "1"); 0 for NULL. -ENODEV if there is none. */
static int iface_index(const char *iface, unsigned *out) {
    *out = 0;
    if (!iface || !*iface) return 0;
    *out = gale__iface_index(iface);
    return *out ? 0 : -ENODEV;
}

/* IPv4 interface: a numeric address, or a name/number. */
static int iface4(const char *iface, struct ip_mreqn *m) {
    if (!iface || !*iface) return 0;
    if (inet_pton(AF_INET, iface, &m->imr_address) == 1) return 0;
    unsigned idx;
    int err = iface_index(iface, &idx);
    m->imr_ifindex = (int)idx;
    return err;
}

static int membership(gale_udp *u, const char *group, const char *iface, int join) {
    if (u->closing) return -EPIPE;
    struct ip_mreqn m4;
    memset(&m4, 0, sizeof m4);
    if (inet_pton(AF_INET, group, &m4.imr_multiaddr) == 1) {
        int err = iface4(iface, &m4);
        if (err < 0) return err;
        int r = setsockopt(u->fd, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &m4, sizeof m4);
        return r < 0 ? gale__neg_errno() : 0;
    }
    struct ipv6_mreq m6;
    memset(&m6, 0, sizeof m6);
    if (inet_pton(AF_INET6, group, &m6.ipv6mr_multiaddr) != 1) return -EINVAL;
    unsigned idx;
    int err = iface_index(iface, &idx);
    if (err < 0) return err;
    m6.ipv6mr_interface = idx;
    int r = setsockopt(u->fd, IPPROTO_IPV6, join ? IPV6_ADD_MEMBERSHIP : IPV6_DROP_MEMBERSHIP, &m6, sizeof m6);
    return r < 0 ? gale__neg_errno() : 0;
}

GALE_EXPORT int gale_udp_join_multicast(gale_udp *u, const char *group, const char *iface) {
    return membership(u, group, iface, 1);
}

GALE_EXPORT int gale_udp_leave_multicast(gale_udp *u, const char *group, const char *iface) {
    return membership(u, group, iface, 0);
}

GALE_EXPORT int gale_udp_set_multicast_loop(gale_udp *u, int on) {
    on = on ? 1 : 0;
    return u->family == AF_INET6 ? gale_socket_set_option_raw(u->fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, on)
                                 : gale_socket_set_option_raw(u->fd, IPPROTO_IP, IP_MULTICAST_LOOP, on);
}

GALE_EXPORT int gale_udp_set_multicast_ttl(gale_udp *u, int ttl) {
    return u->family == AF_INET6 ? gale_socket_set_option_raw(u->fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, ttl)
                                 : gale_socket_set_option_raw(u->fd, IPPROTO_IP, IP_MULTICAST_TTL, ttl);
}

GALE_EXPORT int gale_udp_set_multicast_interface(gale_udp *u, const char *iface) {
    if (u->family == AF_INET6) {
        unsigned idx;
        int err = iface_index(iface, &idx);
        return err < 0 ? err : gale_socket_set_option_raw(u->fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, (int)idx);
    }
    struct ip_mreqn m;
    memset(&m, 0, sizeof m);
    int err = iface4(iface, &m);
    if (err < 0) return err;
    return setsockopt(u->fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m) < 0 ? gale__neg_errno() : 0;
}

/* The buffer sizes: what we read back is what the kernel applied (twice the request). */
GALE_EXPORT int gale_udp_set_recv_buffer(gale_udp *u, int bytes) {
    return gale_socket_set_option(u->fd, GALE_SO_RCVBUF, bytes);
}

GALE_EXPORT int gale_udp_set_send_buffer(gale_udp *u, int bytes) {
    return gale_socket_set_option(u->fd, GALE_SO_SNDBUF, bytes);
}

static int get_int(const gale_udp *u, gale_sockopt opt) {
    int v = 0, err = gale_socket_get_option(u->fd, opt, &v);
    return err < 0 ? err : v;
}

GALE_EXPORT int gale_udp_recv_buffer(const gale_udp *u) { return get_int(u, GALE_SO_RCVBUF); }

GALE_EXPORT int gale_udp_send_buffer(const gale_udp *u) { return get_int(u, GALE_SO_SNDBUF); }

/* ---- accessors -------------------------------------------------------------------------- */

GALE_EXPORT int gale_udp_local_addr(const gale_udp *u, gale_addr *out) { return gale_socket_local_addr(u->fd, out); }

GALE_EXPORT int gale_udp_peer_addr(const gale_udp *u, gale_addr *out) { return gale_socket_peer_addr(u->fd, out); }

GALE_EXPORT uint64_t gale_udp_received(const gale_udp *u) { return u->received; }

GALE_EXPORT uint64_t gale_udp_truncated(const gale_udp *u) { return u->truncated; }

GALE_EXPORT uint64_t gale_udp_errors(const gale_udp *u) { return u->errors; }

GALE_EXPORT int gale_udp_fd(const gale_udp *u) { return u->fd; }

GALE_EXPORT gale_loop *gale_udp_loop(const gale_udp *u) { return u->h.loop; }

GALE_EXPORT void *gale_udp_ud(const gale_udp *u) { return u->ud; }
