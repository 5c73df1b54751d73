/* gale_listener.h - accepting TCP (IPv4/IPv6) and Unix domain stream connections.
 *
 * A listener owns one or more listening sockets (a host name may resolve to several
 * addresses, as in Tornado's bind_sockets) and hands each accepted connection to its callback
 * as a non-blocking, close-on-exec file descriptor that the callback now owns (wrap it with
 * gale_stream_new, or close it). Loop thread only.
 *
 * When accept() fails for lack of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM),
 * the listener stops watching its sockets and retries after a back-off (10 ms doubling to
 * 1 s), so an exhausted process neither spins nor drops what is waiting in the backlog.
 */
#ifndef GALE_LISTENER_H
#define GALE_LISTENER_H

#include "gale_loop.h"

#ifdef __cplusplus
extern "C" {
#endif

GALE_ASSUME_NONNULL_BEGIN

typedef struct gale_listener gale_listener;

/** A new connection: fd is the caller's to keep or close; peer is valid during the call. */
typedef void (*gale_accept_cb)(gale_listener *l, int fd, const gale_addr *peer,
                               void *GALE_NULLABLE ud);

/** Something went wrong accepting (err is -errno). With EMFILE and friends the listener is
 *  backing off and will retry by itself; this is for logging. */
typedef void (*gale_listener_error_cb)(gale_listener *l, int err, void *GALE_NULLABLE ud);

enum {
    /** SO_REUSEPORT: several listeners (processes or loops) share the port; the kernel
     *  spreads connections among them. */
    GALE_LISTEN_REUSEPORT = 1 << 0,
    /** IPv6 sockets accept IPv6 only (IPV6_V6ONLY). By default "::" is dual-stack. */
    GALE_LISTEN_V6ONLY = 1 << 1,
    /** Do not set SO_REUSEADDR (it is set by default, as Tornado and most servers do). */
    GALE_LISTEN_NO_REUSEADDR = 1 << 2,
    /** Unix sockets: remove a stale socket file at the path before binding. */
    GALE_LISTEN_UNLINK = 1 << 3,
};

/** Default backlog: SOMAXCONN (the kernel caps it at net.core.somaxconn). */
#define GALE_LISTEN_BACKLOG_DEFAULT (-1)

/** Listen on host:port over TCP.
 *  host: NULL, "" or "*" for every address (dual-stack "::", or "0.0.0.0" without IPv6);
 *  a numeric IPv4/IPv6 address; or a name such as "localhost", resolved now (blocking, as
 *  Tornado does when binding) and bound on every address it has. port 0 picks a free port
 *  (read it back with gale_listener_port); with several addresses they all get that port.
 *  backlog: GALE_LISTEN_BACKLOG_DEFAULT or a number. flags: GALE_LISTEN_*.
 *  ud is released with ud_free when the listener is closed.
 *  @return 0 or -errno (-EADDRINUSE, -EACCES, ...) or a resolver error (GALE_EAI_BASE...);
 *  on error *out is untouched, nothing is kept, and neither cb nor ud_free is called. */
GALE_EXPORT int gale_listener_open(gale_loop *loop, const char *GALE_NULLABLE host, int port,
                                   int backlog, unsigned flags, gale_accept_cb cb,
                                   void *GALE_NULLABLE ud, gale_free_fn GALE_NULLABLE ud_free,
                                   gale_listener *GALE_NULLABLE *GALE_NONNULL out);

/** Listen on a Unix domain socket path (GALE_LISTEN_UNLINK removes an old socket file first;
 *  the file is removed again when the listener closes). Same contract as gale_listener_open. */
GALE_EXPORT int gale_listener_open_unix(gale_loop *loop, const char *path, int backlog,
                                        unsigned flags, gale_accept_cb cb,
                                        void *GALE_NULLABLE ud, gale_free_fn GALE_NULLABLE ud_free,
                                        gale_listener *GALE_NULLABLE *GALE_NONNULL out);

/** Adopt an already listening socket (systemd socket activation, a socket inherited across
 *  exec). The listener owns fd from now on, also on error (it is closed). */
GALE_EXPORT int gale_listener_open_fd(gale_loop *loop, int fd, gale_accept_cb cb,
                                      void *GALE_NULLABLE ud, gale_free_fn GALE_NULLABLE ud_free,
                                      gale_listener *GALE_NULLABLE *GALE_NONNULL out);

/** Report accept errors to cb (NULL to stop). */
GALE_EXPORT void gale_listener_set_error_cb(gale_listener *l, gale_listener_error_cb GALE_NULLABLE cb);

/** Stop or resume accepting (connections wait in the kernel's backlog meanwhile). */
GALE_EXPORT void gale_listener_pause(gale_listener *l);
GALE_EXPORT void gale_listener_resume(gale_listener *l);

/** The address of the i-th socket (i < gale_listener_count). @return 0 or -EINVAL. */
GALE_EXPORT int gale_listener_addr(const gale_listener *l, unsigned i, gale_addr *out);

/** How many sockets the listener has. */
GALE_EXPORT unsigned gale_listener_count(const gale_listener *l);

/** The bound port (the same on every socket), or -1 for a Unix listener. */
GALE_EXPORT int gale_listener_port(const gale_listener *l);

/** The i-th listening descriptor, still owned by the listener; -1 if i is out of range. */
GALE_EXPORT int gale_listener_fd(const gale_listener *l, unsigned i);

/** Connections accepted so far, and accept() failures that triggered a back-off. */
GALE_EXPORT uint64_t gale_listener_accepted(const gale_listener *l);
GALE_EXPORT uint64_t gale_listener_backoffs(const gale_listener *l);

/** Close the sockets and free the listener; ud_free(ud) runs. Connections already accepted
 *  are not affected. Safe inside its own callback. NULL-safe. */
GALE_EXPORT void gale_listener_close(gale_listener *GALE_NULLABLE l);

GALE_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* GALE_LISTENER_H */
