/* gale_udp.h - UDP sockets on the loop: one callback per datagram, sends straight to the kernel.
 *
 * Receiving: each datagram is read with recvmsg into the loop's 64 KiB scratch buffer and handed
 * to on_datagram with its sender's address (valid during the call only; nothing is copied). A
 * datagram larger than the read size is cut to it and flagged GALE_UDP_TRUNCATED. Up to 64
 * datagrams are read per wakeup, then other events get their turn.
 * Errors: an ICMP error for a connected socket (port unreachable: -ECONNREFUSED) arrives as
 * on_error; the socket stays open and keeps receiving. With gale_udp_set_recverr, errors for
 * datagrams sent to any address are reported too, with the address they were sent to.
 * Sending: no queue. A datagram goes to the kernel at once or not at all; -EAGAIN means the
 * socket buffer is full, and on_writable follows once there is room again.
 *
 * Lifetime: gale_udp_close; on_close then runs once, from the loop, followed by ud_free(ud).
 * Ownership: the handle owns its socket (gale_udp_detach hands it back instead). Loop thread only.
 */
#ifndef GALE_UDP_H
#define GALE_UDP_H

#include "gale_loop.h"

#ifdef __cplusplus
extern "C" {
#endif

GALE_ASSUME_NONNULL_BEGIN

typedef struct gale_udp gale_udp;

/** Flags given to on_datagram. */
enum {
    /** The datagram was larger than the read size: len bytes were kept, the rest discarded. */
    GALE_UDP_TRUNCATED = 1 << 0,
};

/** Flags for gale_udp_open. */
enum {
    /** SO_REUSEADDR before binding. */
    GALE_UDP_REUSEADDR = 1 << 0,
    /** SO_REUSEPORT before binding: several sockets share the port. */
    GALE_UDP_REUSEPORT = 1 << 1,
    /** IPv6 sockets carry IPv6 only (IPV6_V6ONLY); by default "::" is dual-stack. */
    GALE_UDP_V6ONLY = 1 << 2,
};

/** What a UDP socket tells its owner. Any member may be NULL. The struct must outlive the
 *  socket (a static const table is the usual way). */
typedef struct gale_udp_callbacks {
    /** A datagram (len may be 0) from `from`. data and from are valid during the call only.
     *  flags: GALE_UDP_TRUNCATED. */
    void (*GALE_NULLABLE on_datagram)(gale_udp *u, const void *data, size_t len, const gale_addr *from,
                                      unsigned flags, void *GALE_NULLABLE ud);
    /** An error came back for an earlier send (-ECONNREFUSED, -EHOSTUNREACH, -EMSGSIZE, ...).
     *  dest is the address that datagram went to when the kernel says (else NULL). The socket
     *  stays open. */
    void (*GALE_NULLABLE on_error)(gale_udp *u, int err, const gale_addr *GALE_NULLABLE dest,
                                   void *GALE_NULLABLE ud);
    /** A send returned -EAGAIN earlier, and the socket has room again. */
    void (*GALE_NULLABLE on_writable)(gale_udp *u, void *GALE_NULLABLE ud);
    /** The last callback: the socket is closed. ud_free(ud) follows. */
    void (*GALE_NULLABLE on_close)(gale_udp *u, void *GALE_NULLABLE ud);
} gale_udp_callbacks;

/** Open a UDP socket of bind_addr's family and bind it (port 0 picks a free port: read it back
 *  with gale_udp_local_addr). flags: GALE_UDP_*. Nothing is received until gale_udp_start.
 *  @return 0 or -errno (-EADDRINUSE, -EADDRNOTAVAIL, -EINVAL for a Unix address, ...). */
GALE_EXPORT int gale_udp_open(gale_loop *loop, const gale_addr *bind_addr, unsigned flags,
                              gale_udp *GALE_NULLABLE *GALE_NONNULL out);

/** Adopt a datagram socket (bound or not, connected or not; made non-blocking). The handle
 *  owns fd from now on, also on error (it is closed). @return 0, -ENOTSOCK, -EPROTOTYPE if it
 *  is not a datagram socket, or -errno. */
GALE_EXPORT int gale_udp_new_fd(gale_loop *loop, int fd, gale_udp *GALE_NULLABLE *GALE_NONNULL out);

/** Set the callbacks and start receiving. ud is released with ud_free after on_close. Call once. */
GALE_EXPORT void gale_udp_start(gale_udp *u, const gale_udp_callbacks *cbs, void *GALE_NULLABLE ud,
                                gale_free_fn GALE_NULLABLE ud_free);

/** Send one datagram of len bytes (data may be NULL when len is 0) to `to` (NULL on a
 *  connected socket: to its peer).
 *  @return 0, -EAGAIN (no room: on_writable follows), -EMSGSIZE, -ECONNREFUSED (an earlier
 *  datagram on a connected socket was refused), -EPIPE if closing, or another -errno. */
GALE_EXPORT int gale_udp_send(gale_udp *u, const void *GALE_NULLABLE data, size_t len, const gale_addr *GALE_NULLABLE to);

/** Connect to peer: sends without an address go there, and only its datagrams are received.
 *  An address of family AF_UNSPEC dissolves the association. @return 0 or -errno. */
GALE_EXPORT int gale_udp_connect(gale_udp *u, const gale_addr *peer);

/** IP_RECVERR / IPV6_RECVERR on (1) or off (0, the default): report ICMP errors for datagrams
 *  sent to any address, not only the connected peer, with the address each went to. The kernel
 *  then also fails the next send with such an error (whatever its destination), so a server
 *  that answers many peers usually leaves this off. @return 0, -EOPNOTSUPP if the socket is
 *  not IPv4 or IPv6 (an adopted Unix datagram socket), or -errno. */
GALE_EXPORT int gale_udp_set_recverr(gale_udp *u, int on);

/** Stop receiving (datagrams wait in the kernel's buffer, which drops when full) / start again. */
GALE_EXPORT void gale_udp_pause(gale_udp *u);
GALE_EXPORT void gale_udp_resume(gale_udp *u);

/** Largest datagram kept whole (default and maximum 64 KiB); longer ones are truncated. */
GALE_EXPORT void gale_udp_set_read_size(gale_udp *u, size_t max);

/** SO_BROADCAST on (1) or off (0). @return 0 or -errno. */
GALE_EXPORT int gale_udp_set_broadcast(gale_udp *u, int on);

/** Join or leave a multicast group ("239.1.2.3", "ff02::1:3"). iface: for IPv4 the numeric
 *  address of the interface ("127.0.0.1"), for IPv6 an interface name or index ("lo", "1");
 *  NULL lets the kernel choose. @return 0 or -errno (-EINVAL for a group that is not numeric
 *  or not of the socket's family). */
GALE_EXPORT int gale_udp_join_multicast(gale_udp *u, const char *group, const char *GALE_NULLABLE iface);
GALE_EXPORT int gale_udp_leave_multicast(gale_udp *u, const char *group, const char *GALE_NULLABLE iface);

/** Whether multicast sent from this socket loops back to the host (default on), its TTL or hop
 *  limit (default 1), and the interface it leaves through (as for join; NULL: the default).
 *  @return 0 or -errno. */
GALE_EXPORT int gale_udp_set_multicast_loop(gale_udp *u, int on);
GALE_EXPORT int gale_udp_set_multicast_ttl(gale_udp *u, int ttl);
GALE_EXPORT int gale_udp_set_multicast_interface(gale_udp *u, const char *GALE_NULLABLE iface);

/** SO_RCVBUF / SO_SNDBUF: ask for a buffer size (the kernel doubles it for bookkeeping and caps
 *  it at net.core.rmem_max / wmem_max), or read the size in effect. @return 0 / the size, or -errno. */
GALE_EXPORT int gale_udp_set_recv_buffer(gale_udp *u, int bytes);
GALE_EXPORT int gale_udp_recv_buffer(const gale_udp *u);
GALE_EXPORT int gale_udp_set_send_buffer(gale_udp *u, int bytes);
GALE_EXPORT int gale_udp_send_buffer(const gale_udp *u);

/** Local address (the bound port), and the connected peer (-ENOTCONN if none). @return 0 or -errno. */
GALE_EXPORT int gale_udp_local_addr(const gale_udp *u, gale_addr *out);
GALE_EXPORT int gale_udp_peer_addr(const gale_udp *u, gale_addr *out);

/** Datagrams received, how many of them were truncated, and errors reported. */
GALE_EXPORT uint64_t gale_udp_received(const gale_udp *u);
GALE_EXPORT uint64_t gale_udp_truncated(const gale_udp *u);
GALE_EXPORT uint64_t gale_udp_errors(const gale_udp *u);

/** The socket (still owned by the handle), the loop, the user pointer. */
GALE_EXPORT int gale_udp_fd(const gale_udp *u);
GALE_EXPORT gale_loop *gale_udp_loop(const gale_udp *u);
GALE_EXPORT void *GALE_NULLABLE gale_udp_ud(const gale_udp *u);

/** Close: the socket is closed now; on_close follows from the loop. NULL-safe, idempotent. */
GALE_EXPORT void gale_udp_close(gale_udp *GALE_NULLABLE u);

/** Close the handle but keep the socket: it is returned (still non-blocking) and is the
 *  caller's. on_close and ud_free follow as for gale_udp_close. @return the descriptor, or
 *  -EPIPE if the handle is already closing. */
GALE_EXPORT int gale_udp_detach(gale_udp *u);

GALE_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* GALE_UDP_H */
