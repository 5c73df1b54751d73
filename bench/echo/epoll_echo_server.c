/* epoll_echo_server.c - the one-core ceiling for echo: raw non-blocking level-triggered epoll,
 * one thread, no library. Each connection has a 256 KiB buffer; it reads up to 64 KiB at a
 * time while the buffer has room, writes what it holds straight back, watches EPOLLOUT only
 * while bytes wait, and stops reading while the buffer is full (the same backpressure as the
 * others). Not a baseline for the targets: the number every server is measured against.
 *
 *   epoll_echo_server [PORT]    (default 65432, 127.0.0.1 only; SIGINT/SIGTERM exit 0) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define CAP (256u * 1024u)
#define READ_MAX (64u * 1024u)

typedef struct conn {
    int fd;
    unsigned events; /* what epoll watches now */
    size_t off, len; /* pending bytes are buf[off, len) */
    char buf[CAP];
} conn;

static int ep;
static volatile sig_atomic_t stop;

static void on_signal(int sig) { (void)sig; stop = 1; }

static void close_conn(conn *c) {
    close(c->fd); /* also removes it from the epoll set */
    free(c);
}

static void watch(conn *c) {
    unsigned want = (c->len < CAP ? EPOLLIN : 0) | (c->off < c->len ? EPOLLOUT : 0);
    if (want == c->events) return;
    struct epoll_event ev = {.events = want, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->events = want;
}

/* Write what is pending; 0 or -1 if the connection failed. */
static int flush(conn *c) {
    while (c->off < c->len) {
        ssize_t n = write(c->fd, c->buf + c->off, c->len - c->off);
        if (n > 0) { c->off += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        return -1;
    }
    if (c->off == c->len) c->off = c->len = 0;
    else if (c->off >= CAP / 2) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    return 0;
}

static void on_conn(conn *c, unsigned events) {
    if (events & EPOLLIN) {
        for (int i = 0; i < 4 && c->len < CAP; i++) {
            size_t room = CAP - c->len;
            ssize_t n = read(c->fd, c->buf + c->len, room < READ_MAX ? room : READ_MAX);
            if (n > 0) {
                c->len += (size_t)n;
                if (flush(c) < 0) { close_conn(c); return; }
                if ((size_t)n < READ_MAX) break;
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            close_conn(c); /* EOF or error: the load generator closes both ways at once */
            return;
        }
    } else if (events & (EPOLLERR | EPOLLHUP)) {
        close_conn(c);
        return;
    }
    if ((events & EPOLLOUT) && flush(c) < 0) { close_conn(c); return; }
    watch(c);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 65432;
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(lfd, 1024) < 0) {
        perror("bind/listen 127.0.0.1");
        return 1;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
    fprintf(stderr, "epoll_echo_server listening on 127.0.0.1:%d\n", port);
    struct epoll_event evs[256];
    while (!stop) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                for (int k = 0; k < 64; k++) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn *c = malloc(sizeof *c);
                    if (!c) { close(fd); continue; }
                    c->fd = fd;
                    c->off = c->len = 0;
                    c->events = EPOLLIN;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) close_conn(c);
                }
                continue;
            }
            on_conn(evs[i].data.ptr, evs[i].events);
        }
    }
    close(lfd);
    return 0;
}
