/* c_sink_server.c - the C counterpart of `gale sink-server`, on plain blocking sockets: accept
 * a connection, read it to its end in 64 KiB reads, print
 *   All Data Received: <n> bytes in <t> s (<rate> MiB/s)
 * close, and accept the next. One connection at a time, as the tutorial's blocking server.
 *
 * Why plain sockets and not libevent: a single bulk connection needs no event loop; blocking
 * read() into one 64 KiB buffer is the least work a receiver can do per byte, so this pair is
 * the ceiling for "one TCP connection over loopback" and the ratio against it is conservative.
 * (A bufferevent receiver would also read only 4 KiB per call: libevent 2.1's EVBUFFER_MAX_READ.)
 *
 *   c_sink_server [PORT]        (default 12345, 127.0.0.1 only; SIGINT/SIGTERM exit 0) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
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

static void on_signal(int sig) { (void)sig; _exit(0); }

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 12345;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(lfd, 128) < 0) {
        perror("bind/listen 127.0.0.1");
        return 1;
    }
    fprintf(stderr, "c_sink_server listening on 127.0.0.1:%d\n", port);
    static char buf[64 * 1024];
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR) continue;
            perror("accept");
            return 1;
        }
        double start = now_s();
        uint64_t total = 0;
        for (;;) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n > 0) { total += (uint64_t)n; continue; }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) perror("read");
            break;
        }
        double t = now_s() - start;
        if (t < 1e-9) t = 1e-9;
        close(fd);
        printf("All Data Received: %llu bytes in %.3f s (%.1f MiB/s)\n", (unsigned long long)total, t,
               (double)total / t / 1048576.0);
        fflush(stdout);
    }
}
