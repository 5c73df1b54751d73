/* gale_resolve.h - name resolution on the loop without blocking it.
 *
 * getaddrinfo runs on a helper thread (gale_work.h), so results are exactly the system's:
 * /etc/hosts, nsswitch, RFC 6724 ordering, services by name or number.
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

GALE_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* GALE_RESOLVE_H */
