/* gale_common.h - conventions shared by every libcore header.
 *
 * Errors: functions return 0 (or a count) on success and a negative number on failure:
 * -errno for system errors, or one of the GALE_E* codes below. gale_strerror() names both.
 * Callbacks get (pointer, length) slices that are valid only during the call.
 * Every stored user pointer (`ud`) comes with a gale_free_fn, called exactly once when the
 * object that holds it is finished with it (NULL means "nothing to free").
 */
#ifndef GALE_COMMON_H
#define GALE_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#if defined(__GNUC__) || defined(__clang__)
#define GALE_EXPORT __attribute__((visibility("default")))
#else
#define GALE_EXPORT
#endif

#if defined(__clang__)
#define GALE_NONNULL _Nonnull
#define GALE_NULLABLE _Nullable
#define GALE_ASSUME_NONNULL_BEGIN _Pragma("clang assume_nonnull begin")
#define GALE_ASSUME_NONNULL_END _Pragma("clang assume_nonnull end")
#else
#define GALE_NONNULL
#define GALE_NULLABLE
#define GALE_ASSUME_NONNULL_BEGIN
#define GALE_ASSUME_NONNULL_END
#endif

#ifdef __cplusplus
extern "C" {
#endif

GALE_ASSUME_NONNULL_BEGIN

/** Releases a user pointer handed to libcore. */
typedef void (*gale_free_fn)(void *GALE_NULLABLE ud);

/** A borrowed run of bytes. */
typedef struct gale_slice {
    const char *GALE_NULLABLE ptr;
    size_t len;
} gale_slice;

/* Error codes that are not errno values. All negative, far below any errno. */
enum {
    /** A resolver (getaddrinfo) failure: the code is GALE_EAI_BASE + EAI_xxx (EAI_xxx < 0 on
     *  glibc). gale_error_eai() recovers the EAI code. */
    GALE_EAI_BASE = -20000,
    GALE_EAI_LIMIT = -20999,
    /** Malformed protocol input (a bad HTTP message, say). */
    GALE_EPROTO_BAD = -21001,
    /** A received datagram was larger than the buffer and was cut. */
    GALE_ETRUNCATED = -21002,
};

/** A readable message for a libcore error (-errno or GALE_E*). Never NULL; thread-safe. */
GALE_EXPORT const char *gale_strerror(int err);

/** The getaddrinfo EAI_xxx code inside a libcore error, or 0 if err is not a resolver error. */
GALE_EXPORT int gale_error_eai(int err);

/** The libcore error for a getaddrinfo return code (EAI_SYSTEM maps to -errno). */
GALE_EXPORT int gale_error_from_eai(int eai);

/* ---- Addresses ------------------------------------------------------------------------- */

/** A socket address: IPv4, IPv6 or a Unix domain path. A plain value; copy it freely. */
typedef struct gale_addr {
    struct sockaddr_storage storage;
    socklen_t len;
} gale_addr;

/** Big enough for any gale_addr_format() result, NUL included. */
#define GALE_ADDR_STRLEN 128

/** Parse a numeric IPv4 or IPv6 address (no brackets, optional %scope) and a port.
 *  @return 0, or -EINVAL if ip is not numeric or port is outside 0..65535. */
GALE_EXPORT int gale_addr_from_ip(const char *ip, int port, gale_addr *out);

/** A Unix domain socket address. @return 0, or -ENAMETOOLONG if the path does not fit. */
GALE_EXPORT int gale_addr_from_unix(const char *path, gale_addr *out);

/** Copy a sockaddr of len bytes. @return 0, or -EINVAL if len is too large or the family is
 *  not AF_INET, AF_INET6 or AF_UNIX. */
GALE_EXPORT int gale_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, gale_addr *out);

/** AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC for an empty address. */
GALE_EXPORT int gale_addr_family(const gale_addr *a);

/** The port, or -1 for an address without one (Unix, empty). */
GALE_EXPORT int gale_addr_port(const gale_addr *a);

/** Set the port of an IPv4/IPv6 address. @return 0 or -EINVAL. */
GALE_EXPORT int gale_addr_set_port(gale_addr *a, int port);

/** The host part as text: "127.0.0.1", "::1", "fe80::1%eth0", or the Unix path.
 *  @return the length written (NUL excluded), or -ENOSPC / -EINVAL. */
GALE_EXPORT int gale_addr_host(const gale_addr *a, char *buf, size_t size);

/** "127.0.0.1:80", "[::1]:80", or the Unix path ("" for an unnamed Unix socket).
 *  @return the length written (NUL excluded), or -ENOSPC / -EINVAL. */
GALE_EXPORT int gale_addr_format(const gale_addr *a, char *buf, size_t size);

/** 1 if both addresses have the same family, host and port (or path), else 0. */
GALE_EXPORT int gale_addr_equal(const gale_addr *a, const gale_addr *b);

/** Monotonic clock in nanoseconds (CLOCK_MONOTONIC). Thread-safe. */
GALE_EXPORT uint64_t gale_now_ns(void);

GALE_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* GALE_COMMON_H */
