/* socket.c - gale_socket_*: the BSD calls with Python's blocking, non-blocking and timeout modes.
 *
 * Why timeouts are SO_RCVTIMEO/SO_SNDTIMEO rather than poll-then-call as CPython does: the
 * state then lives in the kernel, so a plain descriptor carries it and can move to a loop and
 * back without a side table. On a blocking socket the kernel reports an elapsed timeout as
 * EAGAIN (EINPROGRESS for connect); on a non-blocking one EAGAIN means "would block". We tell
 * them apart by O_NONBLOCK, read only on that path. */
#include "internal.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

static int is_nonblocking(int fd) {
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_NONBLOCK);
}

/* The error for a call that failed with errno: EAGAIN on a blocking socket is its timeout. */
static int call_error(int fd) {
    int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK) return is_nonblocking(fd) ? -EAGAIN : -ETIMEDOUT;
    return e > 0 ? -e : -EIO;
}

GALE_EXPORT int gale_socket_open(int family, int type, int protocol) {
    int fd = socket(family, type | SOCK_CLOEXEC, protocol);
    return fd < 0 ? gale__neg_errno() : fd;
}

GALE_EXPORT int gale_socket_close(int fd) {
    if (fd < 0) return -EBADF;
    return close(fd) < 0 && errno != EINTR ? gale__neg_errno() : 0;
}

GALE_EXPORT int gale_socket_bind(int fd, const gale_addr *addr) {
    return bind(fd, (const struct sockaddr *)&addr->storage, addr->len) < 0 ? gale__neg_errno() : 0;
}

GALE_EXPORT int gale_socket_listen(int fd, int backlog) {
    return listen(fd, backlog < 0 ? SOMAXCONN : backlog) < 0 ? gale__neg_errno() : 0;
}

static int clear_timeouts(int fd) {
    struct timeval zero = {0, 0};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &zero, sizeof zero) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof zero) < 0)
        return gale__neg_errno();
    return 0;
}

static int has_timeout(int fd, int name) {
    struct timeval tv;
    socklen_t len = sizeof tv;
    return getsockopt(fd, SOL_SOCKET, name, &tv, &len) == 0 && (tv.tv_sec || tv.tv_usec);
}

GALE_EXPORT int gale_socket_accept(int fd, gale_addr *peer) {
    gale_addr a;
    int cfd;
    do {
        memset(&a, 0, sizeof a);
        a.len = sizeof a.storage;
        cfd = accept4(fd, (struct sockaddr *)&a.storage, &a.len, SOCK_CLOEXEC);
    } while (cfd < 0 && errno == EINTR);
    if (cfd < 0) return call_error(fd);
    /* The kernel copies the listener's SO_RCVTIMEO/SO_SNDTIMEO to the new socket; Python's
     * accepted sockets start without a timeout, and so do ours. */
    if (has_timeout(cfd, SO_RCVTIMEO) || has_timeout(cfd, SO_SNDTIMEO)) clear_timeouts(cfd);
    if (peer) *peer = a;
    return cfd;
}

/* Wait for fd to be ready for events, within its send timeout (connect's, as the kernel uses). */
static int wait_ready(int fd, short events) {
    int64_t timeout = -1;
    gale_socket_get_timeout(fd, &timeout);
    struct pollfd p = {.fd = fd, .events = events};
    int r = gale_socket_poll(&p, 1, timeout);
    if (r < 0) return r;
    return r == 0 ? -ETIMEDOUT : 0;
}

GALE_EXPORT int gale_socket_connect(int fd, const gale_addr *addr) {
    if (connect(fd, (const struct sockaddr *)&addr->storage, addr->len) == 0) return 0;
    int e = errno;
    if (e == EINPROGRESS) return is_nonblocking(fd) ? -EINPROGRESS : -ETIMEDOUT;
    if (e != EINTR) return -e;
    /* A signal interrupted a blocking connect; it goes on in the background. Wait for it
     * to finish, as PEP 475 has Python do. */
    int r = wait_ready(fd, POLLOUT);
    if (r < 0) return r;
    int so;
    if ((r = gale_socket_get_option(fd, GALE_SO_ERROR, &so)) < 0) return r;
    return -so;
}

GALE_EXPORT ssize_t gale_socket_send(int fd, const void *buf, size_t len, int flags) {
    ssize_t n;
    do n = send(fd, buf, len, flags | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n < 0 ? call_error(fd) : n;
}

GALE_EXPORT ssize_t gale_socket_send_all(int fd, const void *buf, size_t len, int flags, size_t *sent) {
    size_t off = 0;
    ssize_t r = 0;
    while (off < len) {
        r = gale_socket_send(fd, (const char *)buf + off, len - off, flags);
        if (r < 0) break;
        off += (size_t)r;
    }
    if (sent) *sent = off;
    return r < 0 ? r : (ssize_t)len;
}

GALE_EXPORT ssize_t gale_socket_recv(int fd, void *buf, size_t len, int flags) {
    ssize_t n;
    do n = recv(fd, buf, len, flags);
    while (n < 0 && errno == EINTR);
    return n < 0 ? call_error(fd) : n;
}

GALE_EXPORT ssize_t gale_socket_send_to(int fd, const void *buf, size_t len, int flags, const gale_addr *to) {
    ssize_t n;
    do n = sendto(fd, buf, len, flags | MSG_NOSIGNAL, (const struct sockaddr *)&to->storage, to->len);
    while (n < 0 && errno == EINTR);
    return n < 0 ? call_error(fd) : n;
}

GALE_EXPORT ssize_t gale_socket_recv_from(int fd, void *buf, size_t len, int flags, gale_addr *from) {
    ssize_t n;
    do {
        memset(from, 0, sizeof *from);
        from->len = sizeof from->storage;
        n = recvfrom(fd, buf, len, flags, (struct sockaddr *)&from->storage, &from->len);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        from->len = 0;
        return call_error(fd);
    }
    if (from->len <= sizeof(sa_family_t)) from->len = 0; /* an unnamed Unix peer */
    return n;
}

GALE_EXPORT int gale_socket_shutdown(int fd, int how) {
    return shutdown(fd, how) < 0 ? gale__neg_errno() : 0;
}

static int set_nonblock(int fd, int on) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return gale__neg_errno();
    int want = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    if (want != fl && fcntl(fd, F_SETFL, want) < 0) return gale__neg_errno();
    return 0;
}

GALE_EXPORT int gale_socket_set_blocking(int fd, int on) { return gale_socket_set_timeout(fd, on ? -1 : 0); }

GALE_EXPORT int gale_socket_set_timeout(int fd, int64_t timeout_ns) {
    int r;
    if (timeout_ns <= 0) {
        if ((r = clear_timeouts(fd)) < 0) return r;
        return set_nonblock(fd, timeout_ns == 0);
    }
    struct timeval tv = gale__tv((uint64_t)timeout_ns); /* rounded up: never times out early */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
        return gale__neg_errno();
    return set_nonblock(fd, 0);
}

GALE_EXPORT int gale_socket_get_timeout(int fd, int64_t *timeout_ns) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return gale__neg_errno();
    if (fl & O_NONBLOCK) {
        *timeout_ns = 0;
        return 0;
    }
    struct timeval tv;
    socklen_t len = sizeof tv;
    if (getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) < 0) return gale__neg_errno();
    int64_t ns = (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000;
    *timeout_ns = ns > 0 ? ns : -1;
    return 0;
}

/* (level, name) of each gale_sockopt, by its value. */
static const struct {
    int level, name;
} options[] = {
    [GALE_SO_REUSEADDR] = {SOL_SOCKET, SO_REUSEADDR},
#ifdef SO_REUSEPORT
    [GALE_SO_REUSEPORT] = {SOL_SOCKET, SO_REUSEPORT},
#endif
    [GALE_SO_RCVBUF] = {SOL_SOCKET, SO_RCVBUF},
    [GALE_SO_SNDBUF] = {SOL_SOCKET, SO_SNDBUF},
    [GALE_SO_KEEPALIVE] = {SOL_SOCKET, SO_KEEPALIVE},
    [GALE_SO_BROADCAST] = {SOL_SOCKET, SO_BROADCAST},
    [GALE_TCP_NODELAY] = {IPPROTO_TCP, TCP_NODELAY},
    [GALE_IPV6_V6ONLY] = {IPPROTO_IPV6, IPV6_V6ONLY},
    [GALE_SO_TYPE] = {SOL_SOCKET, SO_TYPE},
    [GALE_SO_ERROR] = {SOL_SOCKET, SO_ERROR},
};

static int lookup(gale_sockopt opt, int *level, int *name) {
    if ((unsigned)opt >= sizeof options / sizeof options[0] || options[opt].level == 0) return -EINVAL;
    *level = options[opt].level;
    *name = options[opt].name;
    return 0;
}

GALE_EXPORT int gale_socket_set_option(int fd, gale_sockopt opt, int value) {
    int level, name;
    if (lookup(opt, &level, &name) < 0 || opt == GALE_SO_TYPE || opt == GALE_SO_ERROR) return -EINVAL;
    return gale_socket_set_option_raw(fd, level, name, value);
}

GALE_EXPORT int gale_socket_get_option(int fd, gale_sockopt opt, int *value) {
    int level, name;
    if (lookup(opt, &level, &name) < 0) return -EINVAL;
    return gale_socket_get_option_raw(fd, level, name, value);
}

GALE_EXPORT int gale_socket_set_option_raw(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof value) < 0 ? gale__neg_errno() : 0;
}

GALE_EXPORT int gale_socket_get_option_raw(int fd, int level, int name, int *value) {
    int v = 0;
    socklen_t len = sizeof v;
    if (getsockopt(fd, level, name, &v, &len) < 0) return gale__neg_errno();
    *value = v;
    return 0;
}

static int sock_name(int fd, gale_addr *out, int peer) {
    memset(out, 0, sizeof *out);
    socklen_t len = sizeof out->storage;
    int r = peer ? getpeername(fd, (struct sockaddr *)&out->storage, &len)
                 : getsockname(fd, (struct sockaddr *)&out->storage, &len);
    if (r < 0) return gale__neg_errno();
    out->len = len;
    return 0;
}

GALE_EXPORT int gale_socket_local_addr(int fd, gale_addr *out) { return sock_name(fd, out, 0); }

GALE_EXPORT int gale_socket_peer_addr(int fd, gale_addr *out) { return sock_name(fd, out, 1); }

GALE_EXPORT int gale_socket_poll(struct pollfd *fds, size_t n, int64_t timeout_ns) {
    uint64_t deadline = timeout_ns > 0 ? gale_now_ns() + (uint64_t)timeout_ns : 0;
    for (;;) {
        struct timespec ts, *tsp = NULL;
        if (timeout_ns >= 0) {
            uint64_t left = 0, now = gale_now_ns();
            if (timeout_ns > 0 && now < deadline) left = deadline - now;
            ts.tv_sec = (time_t)(left / 1000000000u);
            ts.tv_nsec = (long)(left % 1000000000u);
            tsp = &ts;
        }
        int r = ppoll(fds, (nfds_t)n, tsp, NULL);
        if (r >= 0) return r;
        if (errno != EINTR) return gale__neg_errno();
    }
}
