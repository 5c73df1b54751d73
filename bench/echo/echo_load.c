/* echo_load.c - echo throughput load generator: N full-duplex connections on one thread
 * (non-blocking sockets, level-triggered epoll). Each connection writes BLOCK-byte blocks
 * (default 64 KiB: every write() call asks for the rest of the current block) as fast as the
 * socket takes them and reads the echo as it comes back, checking every byte against what was
 * sent. After WARMUP seconds it counts the bytes echoed for DURATION seconds; then it stops
 * sending and waits until every byte sent has come back (up to 10 s) before it reports.
 *
 *   echo_load [-p PORT] [-c CONNS] [-w WARMUP_S] [-d DURATION_S] [-b BLOCK] [-H HOST] [-P PID]
 *             defaults:  65432      4          2             10           65536  127.0.0.1
 *   -P PID: also report the CPU that process (the server) used during the window (srv_cpu=).
 *   -n BYTES: instead of a timed window, send exactly BYTES on each connection (no warm-up),
 *             wait until all of it has come back, and report that (for instruction counts:
 *             bench/echo_instructions.sh).
 *
 * Output: a human line, then one machine line
 *   result mib_s=<echoed MiB/s> bytes=<echoed in the window> seconds=<window>
 *          load_cpu=<% of one core this process used in the window> srv_cpu=<same for -P PID>
 *          conn_min_mib_s=.. conn_max_mib_s=.. verified=yes|no core_busy=0:<%>,1:<%>,...
 * core_busy is each CPU's busy share over the window from /proc/stat, softirq included: on
 * loopback much of the TCP work runs as softirq on the sending core and shows in no process's
 * CPU time, so a server core can be saturated while the server's own CPU % says 80.
 * other_cpu (with -P) is the CPU every other process on the machine used in the window, in %
 * of one core: more than a few % means the measurement shared the machine.
 * Exit 0 only if every connection stayed up and every byte came back intact and in order
 * (a broken server cannot look fast): 1 on a mismatch, an early close, or bytes missing.
 *
 * The byte stream of connection i is a fixed pseudo-random sequence of period P = 1,000,003
 * (a prime, so it never lines up with the block size), started at a different phase per
 * connection, so bytes swapped between connections, dropped, duplicated or reordered fail the
 * check. Checking is a memcmp per read: cheap next to the syscalls. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PERIOD 1000003u
#define RBUF (256u * 1024u)
#define MAX_BLOCK (1u << 20)

typedef struct conn {
    int fd, id;
    uint64_t sent, recvd, phase;
    uint64_t recvd_mark; /* recvd at the start of the window */
    unsigned events;
} conn;

static unsigned char *pattern; /* PERIOD + max(RBUF, MAX_BLOCK) bytes: any slice from < PERIOD fits */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* utime + stime of another process, in seconds (-1 if unknown). */
static double proc_cpu_s(int pid) {
    if (pid <= 0) return -1;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may contain spaces */
    if (!p) return -1;
    unsigned long long ut = 0, st = 0;
    /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Per-CPU busy and total ticks from /proc/stat (busy = everything but idle and iowait:
 * includes softirq, where loopback's receive-side TCP work is accounted, which a process's
 * own utime+stime does not show). Returns the number of CPUs read (at most max). */
#define MAX_CPUS 64
static unsigned long long proc_ticks_all; /* user+nice+system over all CPUs, last read */
static int cpu_ticks(unsigned long long busy[], unsigned long long total[], int max) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return 0;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < max) {
        unsigned long long u, ni, sy;
        if (strncmp(line, "cpu ", 4) == 0 && sscanf(line + 4, "%llu %llu %llu", &u, &ni, &sy) == 3) {
            proc_ticks_all = u + ni + sy;
            continue;
        }
        int id;
        unsigned long long v[10] = {0};
        if (sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &id, &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) < 5 || id != n)
            continue;
        unsigned long long t = 0;
        for (int i = 0; i < 8; i++) t += v[i]; /* user..steal; guest is already in user */
        total[n] = t;
        busy[n] = t - v[3] - v[4];
        n++;
    }
    fclose(f);
    return n;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static int connect_to(const char *host, const char *port) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int r = getaddrinfo(host, port, &hints, &res);
    if (r) {
        fprintf(stderr, "echo_load: %s:%s: %s\n", host, port, gai_strerror(r));
        exit(1);
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    if (connect(fd, res->ai_addr, res->ai_addrlen) < 0) die("connect");
    freeaddrinfo(res);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) die("fcntl");
    return fd;
}

static void set_events(int ep, conn *c, unsigned want) {
    if (want == c->events) return;
    struct epoll_event ev = {.events = want, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl");
    c->events = want;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *port = "65432";
    int nconns = 4, srv_pid = 0;
    uint64_t budget = 0;
    double warmup = 2, duration = 10;
    size_t block = 64 * 1024;
    int opt;
    while ((opt = getopt(argc, argv, "p:c:w:d:b:H:P:n:")) != -1) {
        switch (opt) {
        case 'p': port = optarg; break;
        case 'c': nconns = atoi(optarg); break;
        case 'w': warmup = atof(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'b': block = (size_t)atol(optarg); break;
        case 'H': host = optarg; break;
        case 'P': srv_pid = atoi(optarg); break;
        case 'n': budget = strtoull(optarg, NULL, 10); warmup = 0; break;
        default:
            fprintf(stderr, "usage: echo_load [-p PORT] [-c CONNS] [-w WARMUP_S] [-d DURATION_S] [-b BLOCK] [-H HOST] [-P PID] [-n BYTES]\n");
            return 2;
        }
    }
    if (nconns < 1 || block < 1 || block > MAX_BLOCK || duration <= 0 || warmup < 0) {
        fprintf(stderr, "echo_load: bad arguments\n");
        return 2;
    }

    size_t extra = RBUF > MAX_BLOCK ? RBUF : MAX_BLOCK;
    pattern = malloc(PERIOD + extra);
    if (!pattern) die("malloc");
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < PERIOD; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        pattern[i] = (unsigned char)(x >> 32);
    }
    for (size_t i = 0; i < extra; i++) pattern[PERIOD + i] = pattern[i]; /* slices never wrap */
    unsigned char *rbuf = malloc(RBUF);
    if (!rbuf) die("malloc");

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    conn *conns = calloc((size_t)nconns, sizeof *conns);
    for (int i = 0; i < nconns; i++) {
        conn *c = &conns[i];
        c->id = i;
        c->fd = connect_to(host, port);
        c->phase = (uint64_t)i * (PERIOD / (unsigned)nconns + 7919u) % PERIOD;
        c->events = EPOLLIN | EPOLLOUT;
        struct epoll_event ev = {.events = c->events, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
    }

    enum { WARMUP, MEASURE, DRAIN } phase = warmup > 0 ? WARMUP : MEASURE;
    double start = now_s(), t_mark = start, cpu_mark = cpu_s();
    double t_end = 0, cpu_end = 0, srv_mark = proc_cpu_s(srv_pid), srv_end = -1;
    unsigned long long busy0[MAX_CPUS], total0[MAX_CPUS], busy1[MAX_CPUS], total1[MAX_CPUS];
    int ncpu = cpu_ticks(busy0, total0, MAX_CPUS);
    unsigned long long procs0 = proc_ticks_all, procs1 = 0;
    uint64_t window_bytes = 0;
    double min_conn = 1e300, max_conn = 0;
    int failed = 0;
    struct epoll_event evs[64];

    for (;;) {
        double t = now_s();
        if (phase == WARMUP && t - start >= warmup) {
            phase = MEASURE;
            t_mark = t;
            cpu_mark = cpu_s();
            srv_mark = proc_cpu_s(srv_pid);
            ncpu = cpu_ticks(busy0, total0, MAX_CPUS);
            procs0 = proc_ticks_all;
            for (int i = 0; i < nconns; i++) conns[i].recvd_mark = conns[i].recvd;
        }
        int all_back = budget > 0;
        for (int i = 0; all_back && i < nconns; i++) all_back = conns[i].recvd == budget;
        if (phase == MEASURE && (budget ? all_back : t - t_mark >= duration)) {
            phase = DRAIN;
            t_end = t;
            cpu_end = cpu_s();
            srv_end = proc_cpu_s(srv_pid);
            if (cpu_ticks(busy1, total1, MAX_CPUS) < ncpu) ncpu = 0;
            procs1 = proc_ticks_all;
            for (int i = 0; i < nconns; i++) {
                uint64_t b = conns[i].recvd - conns[i].recvd_mark;
                double r = (double)b / (t_end - t_mark) / 1048576.0;
                if (r < min_conn) min_conn = r;
                if (r > max_conn) max_conn = r;
                window_bytes += b;
                set_events(ep, &conns[i], EPOLLIN);
            }
        }
        if (phase == DRAIN) {
            int done = 1;
            for (int i = 0; i < nconns; i++) done &= conns[i].recvd == conns[i].sent;
            if (done) break;
            if (t - t_end > 10) {
                for (int i = 0; i < nconns; i++)
                    if (conns[i].recvd != conns[i].sent)
                        fprintf(stderr, "echo_load: conn %d: sent %llu, only %llu came back within 10 s\n", i,
                                (unsigned long long)conns[i].sent, (unsigned long long)conns[i].recvd);
                failed = 1;
                break;
            }
        }

        int n = epoll_wait(ep, evs, 64, 100);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int k = 0; k < n; k++) {
            conn *c = evs[k].data.ptr;
            unsigned e = evs[k].events;
            if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                for (int it = 0; it < 8; it++) {
                    ssize_t r = read(c->fd, rbuf, RBUF);
                    if (r > 0) {
                        if (c->recvd + (uint64_t)r > c->sent) {
                            fprintf(stderr, "echo_load: conn %d: got more bytes back than it sent\n", c->id);
                            return 1;
                        }
                        size_t off = (size_t)((c->phase + c->recvd) % PERIOD);
                        if (memcmp(rbuf, pattern + off, (size_t)r) != 0) {
                            size_t j = 0;
                            while (rbuf[j] == pattern[off + j]) j++;
                            fprintf(stderr, "echo_load: conn %d: wrong byte at stream offset %llu\n", c->id,
                                    (unsigned long long)(c->recvd + j));
                            return 1;
                        }
                        c->recvd += (uint64_t)r;
                        if ((size_t)r < RBUF) break;
                        continue;
                    }
                    if (r < 0 && errno == EINTR) continue;
                    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                    fprintf(stderr, "echo_load: conn %d: %s after %llu bytes back\n", c->id,
                            r == 0 ? "server closed" : strerror(errno), (unsigned long long)c->recvd);
                    return 1;
                }
            }
            if ((e & EPOLLOUT) && phase != DRAIN) {
                for (int it = 0; it < 8; it++) {
                    size_t in_block = (size_t)(c->sent % block);
                    size_t off = (size_t)((c->phase + c->sent) % PERIOD);
                    size_t want = block - in_block;
                    if (budget && budget - c->sent < want) want = (size_t)(budget - c->sent);
                    if (want == 0) { /* this connection has sent its budget */
                        set_events(ep, c, EPOLLIN);
                        break;
                    }
                    ssize_t w = write(c->fd, pattern + off, want);
                    if (w > 0) {
                        c->sent += (uint64_t)w;
                        continue;
                    }
                    if (w < 0 && errno == EINTR) continue;
                    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                    fprintf(stderr, "echo_load: conn %d: write: %s\n", c->id, strerror(errno));
                    return 1;
                }
            }
        }
    }

    double secs = t_end - t_mark;
    double mib_s = (double)window_bytes / secs / 1048576.0;
    double load_cpu = 100.0 * (cpu_end - cpu_mark) / secs;
    char srv[32] = "-", other[32] = "-";
    if (srv_mark >= 0 && srv_end >= 0) {
        snprintf(srv, sizeof srv, "%.0f", 100.0 * (srv_end - srv_mark) / secs);
        /* Every process's CPU time on the machine minus the server's and ours: other work that
         * competed with the measurement (in % of one core; a few % is the system's own). */
        double all = (double)(procs1 - procs0) / (double)sysconf(_SC_CLK_TCK);
        double o = 100.0 * (all - (srv_end - srv_mark) - (cpu_end - cpu_mark)) / secs;
        snprintf(other, sizeof other, "%.0f", o < 0 ? 0 : o);
    }
    uint64_t total = 0;
    for (int i = 0; i < nconns; i++) total += conns[i].recvd;
    printf("%d conns, %zu-byte writes: %.1f MiB/s echoed over %.2f s (per connection %.1f-%.1f MiB/s), "
           "load CPU %.0f%%, server CPU %s%%; %llu bytes in total, %s\n",
           nconns, block, mib_s, secs, min_conn, max_conn, load_cpu, srv, (unsigned long long)total,
           failed ? "NOT all echoed" : "all echoed and verified");
    char cores[512] = "", *cp = cores;
    for (int i = 0; i < ncpu && cp < cores + sizeof cores - 16; i++) {
        unsigned long long t = total1[i] - total0[i];
        cp += sprintf(cp, "%s%d:%.0f", i ? "," : "", i, t ? 100.0 * (double)(busy1[i] - busy0[i]) / (double)t : 0.0);
    }
    if (!ncpu) strcpy(cores, "-");
    printf("cores busy (%%, incl. softirq): %s\n", cores);
    printf("result core_busy=%s other_cpu=%s mib_s=%.1f bytes=%llu seconds=%.3f load_cpu=%.0f srv_cpu=%s conn_min_mib_s=%.1f conn_max_mib_s=%.1f "
           "verified=%s\n",
           cores, other, mib_s, (unsigned long long)window_bytes, secs, load_cpu, srv, min_conn, max_conn, failed ? "no" : "yes");
    for (int i = 0; i < nconns; i++) close(conns[i].fd);
    return failed ? 1 : 0;
}
