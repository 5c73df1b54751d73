/* error.c - gale_strerror and the mapping of resolver errors into libcore's error space. */
#include "internal.h"

#include <netdb.h>
#include <string.h>

GALE_EXPORT int gale_error_from_eai(int eai) {
    if (eai == 0) return 0;
#ifdef EAI_SYSTEM
    if (eai == EAI_SYSTEM) return errno ? -errno : -EIO;
#endif
    /* glibc's EAI codes are small negative numbers; BSDs use small positive ones. */
    int code = eai < 0 ? -eai : eai;
    if (code > -(GALE_EAI_LIMIT - GALE_EAI_BASE)) return -EINVAL;
    return GALE_EAI_BASE - code;
}

GALE_EXPORT int gale_error_eai(int err) {
    if (err > GALE_EAI_BASE - 1 || err < GALE_EAI_LIMIT) return 0;
    int code = GALE_EAI_BASE - err;
#if defined(EAI_NONAME) && EAI_NONAME < 0
    return -code;
#else
    return code;
#endif
}

GALE_EXPORT const char *gale_strerror(int err) {
    if (err == 0) return "success";
    if (err == GALE_EPROTO_BAD) return "malformed protocol input";
    if (err == GALE_ETRUNCATED) return "message truncated: larger than the receive buffer";
    int eai = gale_error_eai(err);
    if (eai) return gai_strerror(eai);
    if (err < 0 && err > -4096) {
        /* strerrordesc_np is thread-safe and never formats; fall back to a fixed table. */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
        const char *s = strerrordesc_np(-err);
        if (s) return s;
#else
        return strerror(-err);
#endif
    }
    return "unknown error";
}
