/* gale_resolve.h - name resolution on the loop without blocking it, and the host's name.
 *
 * getaddrinfo and getnameinfo run on a helper thread (gale_work.h), so results are exactly the
 * system's: /etc/hosts, nsswitch, RFC 6724 ordering, services by name or number. Callbacks run
 * on the loop thread; start and cancel calls are loop-thread only. gale_gethostname is any thread.
 */
#ifndef GALE_RESOLVE_H
#define GALE_RESOLVE_H

#include <netdb.h>

#include "gale_work.h"

#ifdef __cplusplus
extern "C" {
#endif

GALE_ASSUME_NONNULL_BEGIN

typedef struct gale_getaddrinfo gale_getaddrinfo;

/** The outcome: err 0 and res the list (valid during the call only; copy what you keep), or
 *  a resolver error (gale_error_eai() gives the EAI_xxx code) and res NULL. */
typedef void (*gale_getaddrinfo_cb)(gale_getaddrinfo *req, int err,
                                    const struct addrinfo *GALE_NULLABLE res, void *GALE_NULLABLE ud);

/** Resolve host and/or service (either may be NULL, not both) with hints (NULL: any family,
 *  any socket type, AI_ADDRCONFIG unset, as Python's socket.getaddrinfo). cb runs once on
 *  the loop, never inside this call; ud_free(ud) after it. out may be NULL.
 *  @return 0 or -errno (cb never runs, ud_free is not called). Loop thread. */
GALE_EXPORT int gale_getaddrinfo_start(gale_loop *loop, const char *GALE_NULLABLE host,
                                       const char *GALE_NULLABLE service,
                                       const struct addrinfo *GALE_NULLABLE hints,
                                       gale_getaddrinfo_cb cb, void *GALE_NULLABLE ud,
                                       gale_free_fn GALE_NULLABLE ud_free,
                                       gale_getaddrinfo *GALE_NULLABLE *GALE_NULLABLE out);

/** Abandon a pending lookup: cb will not run; ud_free(ud) runs now. Only before cb ran. */
GALE_EXPORT void gale_getaddrinfo_cancel(gale_getaddrinfo *req);

typedef struct gale_getnameinfo gale_getnameinfo;

/** The outcome of a reverse lookup: err 0 with host (a name, or the numeric address when there
 *  is no name and NI_NAMEREQD was not given) and service (a name such as "http", or the port
 *  number), valid during the call only; or a resolver error and both NULL. */
typedef void (*gale_getnameinfo_cb)(gale_getnameinfo *req, int err, const char *GALE_NULLABLE host,
                                    const char *GALE_NULLABLE service, void *GALE_NULLABLE ud);

/** Reverse lookup of addr (IPv4 or IPv6 and its port) with getnameinfo flags (NI_NAMEREQD,
 *  NI_NUMERICHOST, NI_NUMERICSERV, NI_DGRAM, ...). Same contract as gale_getaddrinfo_start:
 *  cb runs once on the loop, never inside this call, then ud_free(ud).
 *  @return 0 or -errno (-EINVAL for an address that is not IPv4/IPv6). Loop thread. */
GALE_EXPORT int gale_getnameinfo_start(gale_loop *loop, const gale_addr *addr, int flags,
                                       gale_getnameinfo_cb cb, void *GALE_NULLABLE ud,
                                       gale_free_fn GALE_NULLABLE ud_free,
                                       gale_getnameinfo *GALE_NULLABLE *GALE_NULLABLE out);

/** Abandon a pending reverse lookup: cb will not run; ud_free(ud) runs now. Only before cb ran. */
GALE_EXPORT void gale_getnameinfo_cancel(gale_getnameinfo *req);

/** The host's name (gethostname). @return its length, or -ENAMETOOLONG if buf is too small
 *  (size 256 always suffices), or -errno. Any thread. */
GALE_EXPORT int gale_gethostname(char *buf, size_t size);

GALE_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* GALE_RESOLVE_H */
