/* resolve.c - gale_getaddrinfo and gale_getnameinfo: the system resolver on a helper thread;
 * gale_gethostname. */
#include "internal.h"

#include <unistd.h>

/* What both lookups share: the work item, the user's pointer, and cancellation. */
typedef struct lookup {
    gale_work *work;
    int err;
    int cancelled;
    void *ud;
    gale_free_fn ud_free;
    void (*report)(struct lookup *l); /* call the typed callback with the result */
    void (*destroy)(struct lookup *l); /* free what the lookup owns, and itself */
} lookup;

static void done(gale_work *w, int cancelled, void *arg) {
    lookup *l = arg;
    if (!cancelled && !l->cancelled) l->report(l);
}

static void release(void *arg) {
    lookup *l = arg;
    if (l->ud_free) l->ud_free(l->ud);
    l->destroy(l);
}

/* Queue l (fully set up) on the helper pool. On error l is destroyed without ud_free. */
static int launch(gale_loop *loop, lookup *l, gale_work_fn run) {
    int e = gale_work_queue(loop, run, done, l, release, &l->work);
    if (e < 0) {
        l->ud_free = NULL; /* the contract: on error the caller keeps ud */
        release(l);
    }
    return e;
}

static void cancel(lookup *l) {
    if (l->cancelled) return;
    l->cancelled = 1;
    if (l->ud_free) l->ud_free(l->ud);
    l->ud_free = NULL;
    gale_work_cancel(l->work);
}

/* ---- getaddrinfo ------------------------------------------------------------------------ */

struct gale_getaddrinfo {
    lookup l;
    char *host, *service;
    struct addrinfo hints;
    struct addrinfo *res;
    gale_getaddrinfo_cb cb;
};

static void gai_run(void *arg) {
    gale_getaddrinfo *r = arg;
    int e = getaddrinfo(r->host, r->service, &r->hints, &r->res);
    r->l.err = gale_error_from_eai(e);
    if (e) r->res = NULL;
}

static void gai_report(lookup *l) {
    gale_getaddrinfo *r = (gale_getaddrinfo *)l;
    r->cb(r, l->err, r->res, l->ud);
}

static void gai_destroy(lookup *l) {
    gale_getaddrinfo *r = (gale_getaddrinfo *)l;
    if (r->res) freeaddrinfo(r->res);
    free(r->host);
    free(r->service);
    free(r);
}

GALE_EXPORT int gale_getaddrinfo_start(gale_loop *loop, const char *host, const char *service,
                                       const struct addrinfo *hints, gale_getaddrinfo_cb cb, void *ud,
                                       gale_free_fn ud_free, gale_getaddrinfo **out) {
    if (!host && !service) return -EINVAL;
    gale_getaddrinfo *r = calloc(1, sizeof *r);
    if (!r) return -ENOMEM;
    if ((host && !(r->host = strdup(host))) || (service && !(r->service = strdup(service)))) {
        free(r->host);
        free(r);
        return -ENOMEM;
    }
    /* Explicit zero hints, as Python passes: glibc's NULL hints would add AI_ADDRCONFIG. */
    if (hints) {
        r->hints.ai_flags = hints->ai_flags;
        r->hints.ai_family = hints->ai_family;
        r->hints.ai_socktype = hints->ai_socktype;
        r->hints.ai_protocol = hints->ai_protocol;
    }
    r->cb = cb;
    r->l = (lookup){.ud = ud, .ud_free = ud_free, .report = gai_report, .destroy = gai_destroy};
    int e = launch(loop, &r->l, gai_run);
    if (e == 0 && out) *out = r;
    return e;
}

GALE_EXPORT void gale_getaddrinfo_cancel(gale_getaddrinfo *r) { cancel(&r->l); }

/* ---- getnameinfo ------------------------------------------------------------------------ */

struct gale_getnameinfo {
    lookup l;
    gale_addr addr;
    int flags;
    gale_getnameinfo_cb cb;
    char host[NI_MAXHOST];
    char service[NI_MAXSERV];
};

static void gni_run(void *arg) {
    gale_getnameinfo *r = arg;
    int e = getnameinfo((const struct sockaddr *)&r->addr.storage, r->addr.len, r->host, sizeof r->host,
                        r->service, sizeof r->service, r->flags);
    r->l.err = gale_error_from_eai(e);
}

static void gni_report(lookup *l) {
    gale_getnameinfo *r = (gale_getnameinfo *)l;
    int ok = l->err == 0;
    r->cb(r, l->err, ok ? r->host : NULL, ok ? r->service : NULL, l->ud);
}

static void gni_destroy(lookup *l) { free(l); }

GALE_EXPORT int gale_getnameinfo_start(gale_loop *loop, const gale_addr *addr, int flags, gale_getnameinfo_cb cb,
                                       void *ud, gale_free_fn ud_free, gale_getnameinfo **out) {
    int family = gale_addr_family(addr);
    if (family != AF_INET && family != AF_INET6) return -EINVAL;
    gale_getnameinfo *r = calloc(1, sizeof *r);
    if (!r) return -ENOMEM;
    r->addr = *addr;
    r->flags = flags;
    r->cb = cb;
    r->l = (lookup){.ud = ud, .ud_free = ud_free, .report = gni_report, .destroy = gni_destroy};
    int e = launch(loop, &r->l, gni_run);
    if (e == 0 && out) *out = r;
    return e;
}

GALE_EXPORT void gale_getnameinfo_cancel(gale_getnameinfo *r) { cancel(&r->l); }

/* ---- the host's name -------------------------------------------------------------------- */

GALE_EXPORT int gale_gethostname(char *buf, size_t size) {
    if (size == 0) return -ENAMETOOLONG;
    if (gethostname(buf, size) < 0) return errno == EINVAL ? -ENAMETOOLONG : gale__neg_errno();
    /* POSIX leaves a truncated name unterminated. */
    size_t n = strnlen(buf, size);
    if (n == size) return -ENAMETOOLONG;
    return (int)n;
}
