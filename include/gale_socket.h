/* gale_socket.h - the BSD socket calls the way Python's socket module makes them: blocking by
 * default, non-blocking or with a timeout on request, EINTR retried, every result 0/a count or
 * -errno (would-block is -EAGAIN, or -EINPROGRESS for connect; a timeout is -ETIMEDOUT).
 * Data buffers may be NULL when their length is 0.
 *
 * The handles are plain descriptors and the state is the kernel's: the blocking mode is
 * O_NONBLOCK, a timeout is SO_RCVTIMEO/SO_SNDTIMEO on a blocking socket. So a socket can be
 * handed to a loop (gale_stream_new, gale_udp_new_fd, gale_listener_open_fd) and back
 * (gale_udp_detach) at any time. Ownership: whoever holds the descriptor closes it.
 * Threading: any thread; these calls block the thread that makes them (never the loop's).
 */
#ifndef GALE_SOCKET_H
#define GALE_SOCKET_H

#include <poll.h>

#include "gale_common.h"

#ifdef __cplusplus
extern "C" {
#endif

GALE_ASSUME_NONNULL_BEGIN

/** The options of the tutorials' setsockopt/getsockopt calls. */
typedef enum gale_sockopt {
    GALE_SO_REUSEADDR = 1, /**< SOL_SOCKET SO_REUSEADDR (0/1) */
    GALE_SO_REUSEPORT,     /**< SOL_SOCKET SO_REUSEPORT (0/1) */
    GALE_SO_RCVBUF,        /**< SOL_SOCKET SO_RCVBUF (bytes; the kernel doubles what it is given) */
    GALE_SO_SNDBUF,        /**< SOL_SOCKET SO_SNDBUF (bytes; likewise) */
    GALE_SO_KEEPALIVE,     /**< SOL_SOCKET SO_KEEPALIVE (0/1) */
    GALE_SO_BROADCAST,     /**< SOL_SOCKET SO_BROADCAST (0/1) */
    GALE_TCP_NODELAY,      /**< IPPROTO_TCP TCP_NODELAY (0/1) */
    GALE_IPV6_V6ONLY,      /**< IPPROTO_IPV6 IPV6_V6ONLY (0/1) */
    GALE_SO_TYPE,          /**< SOL_SOCKET SO_TYPE (read only: SOCK_STREAM, SOCK_DGRAM, ...) */
    GALE_SO_ERROR,         /**< SOL_SOCKET SO_ERROR (read only; reading clears it) */
} gale_sockopt;

/** socket(): a blocking, close-on-exec socket. protocol 0 picks the default.
 *  @return the descriptor, or -errno (-EAFNOSUPPORT, -EPROTONOSUPPORT, -EMFILE, ...). */
GALE_EXPORT int gale_socket_open(int family, int type, int protocol);

/** close(). Never retried (Linux releases the descriptor even on EINTR). @return 0 or -errno. */
GALE_EXPORT int gale_socket_close(int fd);

/** bind() to an address (IPv4, IPv6 or a Unix path). @return 0 or -errno. */
GALE_EXPORT int gale_socket_bind(int fd, const gale_addr *addr);

/** listen(); backlog < 0 means SOMAXCONN. @return 0 or -errno. */
GALE_EXPORT int gale_socket_listen(int fd, int backlog);

/** accept(): a blocking, close-on-exec connection socket without a timeout (as Python's accept
 *  returns), and its peer's address in *peer if peer is not NULL.
 *  @return the descriptor, or -EAGAIN (non-blocking, none waiting), -ETIMEDOUT, -errno. */
GALE_EXPORT int gale_socket_accept(int fd, gale_addr *GALE_NULLABLE peer);

/** connect(). A blocking socket waits (up to its timeout); a non-blocking one returns
 *  -EINPROGRESS and finishes in the background (wait until writable, then read GALE_SO_ERROR).
 *  @return 0, -EINPROGRESS, -ETIMEDOUT, -ECONNREFUSED, ... */
GALE_EXPORT int gale_socket_connect(int fd, const gale_addr *addr);

/** send(): @return the bytes sent (a blocking socket sends everything unless its timeout
 *  elapses or a signal arrives; a non-blocking one sends what fits), -EAGAIN (non-blocking, no
 *  room), -ETIMEDOUT (nothing sent before the timeout), -EPIPE, ... Never raises SIGPIPE. */
GALE_EXPORT ssize_t gale_socket_send(int fd, const void *GALE_NULLABLE buf, size_t len, int flags);

/** sendall(): send until every byte is out. *sent (if not NULL) gets the count sent, also on
 *  error. @return len, or -errno (-EAGAIN on a non-blocking socket that filled up, -ETIMEDOUT). */
GALE_EXPORT ssize_t gale_socket_send_all(int fd, const void *GALE_NULLABLE buf, size_t len, int flags,
                                         size_t *GALE_NULLABLE sent);

/** recv(): @return the bytes received (0 at end of stream), -EAGAIN, -ETIMEDOUT, -errno. */
GALE_EXPORT ssize_t gale_socket_recv(int fd, void *GALE_NULLABLE buf, size_t len, int flags);

/** sendto(): one datagram to `to`. @return the bytes sent or -errno. */
GALE_EXPORT ssize_t gale_socket_send_to(int fd, const void *GALE_NULLABLE buf, size_t len, int flags, const gale_addr *to);

/** recvfrom(): one datagram and its sender (*from may be empty: family AF_UNSPEC for an unnamed
 *  Unix peer). A datagram longer than len is cut to len, as recvfrom(2) does; pass MSG_TRUNC in
 *  flags to get its real length back instead. @return the length, -EAGAIN, -ETIMEDOUT, -errno. */
GALE_EXPORT ssize_t gale_socket_recv_from(int fd, void *GALE_NULLABLE buf, size_t len, int flags, gale_addr *from);

/** shutdown(): how is SHUT_RD, SHUT_WR or SHUT_RDWR. @return 0 or -errno. */
GALE_EXPORT int gale_socket_shutdown(int fd, int how);

/** setblocking(): on (1) makes the socket blocking without a timeout, off (0) non-blocking.
 *  @return 0 or -errno. */
GALE_EXPORT int gale_socket_set_blocking(int fd, int on);

/** settimeout(): timeout_ns < 0: blocking, no timeout (settimeout(None)); 0: non-blocking
 *  (settimeout(0)); > 0: blocking, and a call that waits longer fails with -ETIMEDOUT (or, for
 *  send, returns the partial count). Resolution 1 µs. @return 0 or -errno. */
GALE_EXPORT int gale_socket_set_timeout(int fd, int64_t timeout_ns);

/** gettimeout(): *timeout_ns gets -1 (blocking), 0 (non-blocking) or the timeout.
 *  @return 0 or -errno. */
GALE_EXPORT int gale_socket_get_timeout(int fd, int64_t *timeout_ns);

/** setsockopt() / getsockopt() of one of the gale_sockopt options, as an int.
 *  @return 0 or -errno (-EINVAL for an unknown option, -ENOPROTOOPT where it does not apply). */
GALE_EXPORT int gale_socket_set_option(int fd, gale_sockopt opt, int value);
GALE_EXPORT int gale_socket_get_option(int fd, gale_sockopt opt, int *value);

/** setsockopt() / getsockopt() of any int-valued option (level, name as in <sys/socket.h>).
 *  @return 0 or -errno. */
GALE_EXPORT int gale_socket_set_option_raw(int fd, int level, int name, int value);
GALE_EXPORT int gale_socket_get_option_raw(int fd, int level, int name, int *value);

/** getsockname() / getpeername(). @return 0 or -errno (-ENOTCONN for an unconnected peer). */
GALE_EXPORT int gale_socket_local_addr(int fd, gale_addr *out);
GALE_EXPORT int gale_socket_peer_addr(int fd, gale_addr *out);

/** poll() (the select() of the tutorials) over n sockets: POLLIN/POLLOUT in events, results in
 *  revents (POLLERR/POLLHUP too). timeout_ns < 0 waits for ever, 0 checks and returns. A signal
 *  does not cut the wait short. @return the number of sockets ready, 0 on timeout, or -errno. */
GALE_EXPORT int gale_socket_poll(struct pollfd *fds, size_t n, int64_t timeout_ns);

GALE_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* GALE_SOCKET_H */
