/* bench.c - see udp_bench.h. */
#include "udp_bench.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int bench_set_rcvbuf(int fd, int bytes) {
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    int got = 0;
    socklen_t len = sizeof got;
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
    return got;
}

uint64_t bench_fill(int port, size_t payload, uint64_t n) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char *buf = calloc(1, payload ? payload : 1);
    struct iovec iov = {.iov_base = buf, .iov_len = payload};
    struct mmsghdr msgs[BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
        msgs[i].msg_hdr.msg_iov = &iov;
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &to;
        msgs[i].msg_hdr.msg_namelen = sizeof to;
    }
    uint64_t sent = 0;
    while (sent < n) {
        unsigned want = n - sent < BATCH ? (unsigned)(n - sent) : BATCH;
        int r = sendmmsg(fd, msgs, want, 0);
        if (r <= 0) break;
        sent += (uint64_t)r;
    }
    free(buf);
    close(fd);
    return sent;
}

uint64_t bench_recvfrom_loop(int fd, uint64_t n, uint64_t *last_ns) {
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    static char buf[65536];
    uint64_t count = 0;
    *last_ns = bench_now_ns();
    while (count < n) {
        struct sockaddr_storage from;
        socklen_t len = sizeof from;
        if (recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len) < 0) break;
        count++;
    }
    if (count) *last_ns = bench_now_ns();
    return count;
}
