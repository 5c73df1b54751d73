/* c_bulk_client.c - the C counterpart of `gale bulk-client`, on plain blocking sockets (see
 * c_sink_server.c for why): connect, send "Hello Python\n" repeated in the same 65,533-byte
 * chunks gale sends (whole lines in 64 KiB), BYTES in all, shut down the sending side, wait for
 * the server to close (everything has been read by then), and print
 *   Sent <n> bytes in <t> s (<rate> MiB/s)
 * timed from the connected socket to the server's close, as gale bulk-client does.
 * TCP_NODELAY is set because gale's streams set it.
 *
 *   c_bulk_client [PORT] [BYTES] [CHUNK]   (defaults 12345, 136314880 = 130 MiB, 65533)
 * CHUNK (whole lines, at most 1 MiB) changes the size of each write: bench/bulk.sh's `c-256k`
 * pair uses 262,132 bytes, the size of the writes gale's stream makes (see bench/README.md). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 12345;
    uint64_t bytes = argc > 2 ? strtoull(argv[2], NULL, 10) : 130ull << 20;
    static const char line[] = "Hello Python\n";
    static char chunk[1 << 20];
    size_t max = argc > 3 ? (size_t)strtoull(argv[3], NULL, 10) : 64 * 1024;
    if (max < sizeof line - 1 || max > sizeof chunk) {
        fprintf(stderr, "c_bulk_client: CHUNK must be between %zu and %zu\n", sizeof line - 1, sizeof chunk);
        return 2;
    }
    size_t len = 0;
    while (len + sizeof line - 1 <= max) {
        memcpy(chunk + len, line, sizeof line - 1);
        len += sizeof line - 1;
    }

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
        perror("connect 127.0.0.1");
        return 1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    double start = now_s();
    uint64_t sent = 0;
    while (sent < bytes) {
        size_t want = bytes - sent < len ? (size_t)(bytes - sent) : len;
        size_t off = 0;
        while (off < want) {
            ssize_t n = write(fd, chunk + off, want - off);
            if (n < 0) {
                if (errno == EINTR) continue;
                perror("write");
                return 1;
            }
            off += (size_t)n;
        }
        sent += want;
    }
    shutdown(fd, SHUT_WR);
    char sink[4096];
    ssize_t n;
    while ((n = read(fd, sink, sizeof sink)) != 0) {
        if (n < 0 && errno != EINTR) {
            perror("read");
            return 1;
        }
    }
    double t = now_s() - start;
    if (t < 1e-9) t = 1e-9;
    close(fd);
    printf("Sent %llu bytes in %.3f s (%.1f MiB/s)\n", (unsigned long long)sent, t, (double)sent / t / 1048576.0);
    return 0;
}
