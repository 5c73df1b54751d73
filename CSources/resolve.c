/* resolve.c - gale_getaddrinfo: the system resolver on a helper thread. */
#include "internal.h"

struct gale_getaddrinfo {
    gale_work *work;
    char *host, *service;
    struct addrinfo hints;
    struct addrinfo *res;
    int err;
    int cancelled;
    gale_getaddrinfo_cb cb;
    void *ud;
    gale_free_fn ud_free;
};

static void run(void *arg) {
    gale_getaddrinfo *r = arg;
    int e = getaddrinfo(r->host, r->service, &r->hints, &r->res);
    r->err = gale_error_from_eai(e);
    if (e) r->res = NULL;
}

static void done(gale_work *w, int cancelled, void *arg) {
    gale_getaddrinfo *r = arg;
    if (!cancelled && !r->cancelled) r->cb(r, r->err, r->res, r->ud);
}

static void release(void *arg) {
    gale_getaddrinfo *r = arg;
    if (r->res) freeaddrinfo(r->res);
    if (r->ud_free) r->ud_free(r->ud);
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
    r->ud = ud;
    r->ud_free = ud_free;
    int e = gale_work_queue(loop, run, done, r, release, &r->work);
    if (e < 0) {
        r->ud_free = NULL; /* the contract: on error the caller keeps ud */
        release(r);
        return e;
    }
    if (out) *out = r;
    return 0;
}

GALE_EXPORT void gale_getaddrinfo_cancel(gale_getaddrinfo *r) {
    if (r->cancelled) return;
    r->cancelled = 1;
    if (r->ud_free) r->ud_free(r->ud);
    r->ud_free = NULL;
    gale_work_cancel(r->work);
}
