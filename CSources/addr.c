/* addr.c - gale_addr: parsing and formatting IPv4, IPv6 and Unix domain addresses. */
#include "internal.h"

#include <arpa/inet.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>

unsigned gale__iface_index(const char *name) {
    if (!name || !*name) return 0;
    if (*name >= '0' && *name <= '9') { /* a number; "-1" or "+1" are not */
        char *end;
        unsigned long n = strtoul(name, &end, 10);
        if (*end == '\0') return n <= UINT_MAX ? (unsigned)n : 0;
    }
    return if_nametoindex(name);
}

GALE_EXPORT int gale_addr_from_ip(const char *ip, int port, gale_addr *out) {
    if (!ip || port < 0 || port > 65535) return -EINVAL;
    gale_addr a;
    memset(&a, 0, sizeof a);
    struct sockaddr_in *in4 = (struct sockaddr_in *)&a.storage;
    if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        a.len = sizeof *in4;
        *out = a;
        return 0;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a.storage;
    char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    size_t n = strlen(ip);
    if (n >= sizeof host) return -EINVAL;
    memcpy(host, ip, n + 1);
    char *scope = strchr(host, '%');
    if (scope) *scope++ = '\0';
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1) return -EINVAL;
    if (scope) {
        unsigned id = gale__iface_index(scope);
        if (id == 0) return -EINVAL;
        in6->sin6_scope_id = id;
    }
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    a.len = sizeof *in6;
    *out = a;
    return 0;
}

GALE_EXPORT int gale_addr_from_unix(const char *path, gale_addr *out) {
    gale_addr a;
    memset(&a, 0, sizeof a);
    struct sockaddr_un *un = (struct sockaddr_un *)&a.storage;
    size_t n = strlen(path);
    if (n >= sizeof un->sun_path) return -ENAMETOOLONG;
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, n + 1);
    a.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    *out = a;
    return 0;
}

GALE_EXPORT int gale_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, gale_addr *out) {
    if (len > (socklen_t)sizeof out->storage || len < (socklen_t)sizeof(sa_family_t)) return -EINVAL;
    switch (sa->sa_family) {
    case AF_INET:
        if (len < (socklen_t)sizeof(struct sockaddr_in)) return -EINVAL;
        break;
    case AF_INET6:
        if (len < (socklen_t)sizeof(struct sockaddr_in6)) return -EINVAL;
        break;
    case AF_UNIX:
        break;
    default:
        return -EINVAL;
    }
    memset(out, 0, sizeof *out);
    memcpy(&out->storage, sa, len);
    out->len = len;
    return 0;
}

GALE_EXPORT int gale_addr_family(const gale_addr *a) {
    return a->len == 0 ? AF_UNSPEC : a->storage.ss_family;
}

GALE_EXPORT int gale_addr_port(const gale_addr *a) {
    switch (gale_addr_family(a)) {
    case AF_INET: return ntohs(((const struct sockaddr_in *)&a->storage)->sin_port);
    case AF_INET6: return ntohs(((const struct sockaddr_in6 *)&a->storage)->sin6_port);
    default: return -1;
    }
}

GALE_EXPORT int gale_addr_set_port(gale_addr *a, int port) {
    if (port < 0 || port > 65535) return -EINVAL;
    switch (gale_addr_family(a)) {
    case AF_INET: ((struct sockaddr_in *)&a->storage)->sin_port = htons((uint16_t)port); return 0;
    case AF_INET6: ((struct sockaddr_in6 *)&a->storage)->sin6_port = htons((uint16_t)port); return 0;
    default: return -EINVAL;
    }
}

/* Length of a Unix path inside its sockaddr (unnamed sockets have none; abstract ones start
 * with NUL and are shown with a leading '@', as ss(8) does). */
static size_t unix_path(const gale_addr *a, const char **path) {
    const struct sockaddr_un *un = (const struct sockaddr_un *)&a->storage;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    *path = un->sun_path;
    if (a->len <= off) return 0;
    size_t max = a->len - off;
    if (un->sun_path[0] == '\0') return max;
    return strnlen(un->sun_path, max);
}

GALE_EXPORT int gale_addr_host(const gale_addr *a, char *buf, size_t size) {
    if (size == 0) return -ENOSPC;
    switch (gale_addr_family(a)) {
    case AF_INET: {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)&a->storage;
        if (!inet_ntop(AF_INET, &in4->sin_addr, buf, (socklen_t)size)) return -ENOSPC;
        return (int)strlen(buf);
    }
    case AF_INET6: {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->storage;
        char tmp[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
        if (!inet_ntop(AF_INET6, &in6->sin6_addr, tmp, sizeof tmp)) return -EINVAL;
        if (in6->sin6_scope_id) {
            char ifname[IF_NAMESIZE];
            size_t n = strlen(tmp);
            if (if_indextoname(in6->sin6_scope_id, ifname))
                snprintf(tmp + n, sizeof tmp - n, "%%%s", ifname);
            else
                snprintf(tmp + n, sizeof tmp - n, "%%%u", (unsigned)in6->sin6_scope_id);
        }
        size_t n = strlen(tmp);
        if (n + 1 > size) return -ENOSPC;
        memcpy(buf, tmp, n + 1);
        return (int)n;
    }
    case AF_UNIX: {
        const char *path;
        size_t n = unix_path(a, &path);
        if (n + 1 > size) return -ENOSPC;
        memcpy(buf, path, n);
        if (n > 0 && path[0] == '\0') buf[0] = '@';
        buf[n] = '\0';
        return (int)n;
    }
    default:
        return -EINVAL;
    }
}

GALE_EXPORT int gale_addr_format(const gale_addr *a, char *buf, size_t size) {
    int fam = gale_addr_family(a);
    if (fam == AF_UNIX) return gale_addr_host(a, buf, size);
    if (fam != AF_INET && fam != AF_INET6) return -EINVAL;
    char host[GALE_ADDR_STRLEN];
    int n = gale_addr_host(a, host, sizeof host);
    if (n < 0) return n;
    int w = fam == AF_INET6 ? snprintf(buf, size, "[%s]:%d", host, gale_addr_port(a))
                            : snprintf(buf, size, "%s:%d", host, gale_addr_port(a));
    if (w < 0 || (size_t)w >= size) return -ENOSPC;
    return w;
}

GALE_EXPORT int gale_addr_equal(const gale_addr *a, const gale_addr *b) {
    int fam = gale_addr_family(a);
    if (fam != gale_addr_family(b)) return 0;
    switch (fam) {
    case AF_INET: {
        const struct sockaddr_in *x = (const struct sockaddr_in *)&a->storage;
        const struct sockaddr_in *y = (const struct sockaddr_in *)&b->storage;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&a->storage;
        const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)&b->storage;
        return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
    }
    case AF_UNIX: {
        const char *p, *q;
        size_t n = unix_path(a, &p), m = unix_path(b, &q);
        return n == m && memcmp(p, q, n) == 0;
    }
    default:
        return 1;
    }
}

GALE_EXPORT uint64_t gale_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
