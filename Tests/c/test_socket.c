/* test_socket.c - the BSD socket layer over loopback: every call of the tutorials in blocking,
 * non-blocking and timeout modes, TCP and UDP on IPv4 and IPv6, Unix domain sockets, options,
 * shutdown, poll; and the resolver's reverse lookup and gethostname. */
#include <gale.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "test.h"
#include "loop_util.h"

static const int64_t TIMEOUT = 100 * 1000000ll; /* 100 ms */

/* A listening TCP socket on an ephemeral loopback port; *addr gets its address. */
static int listener(const char *ip, int backlog, gale_addr *addr) {
    gale_addr a;
    CHECK_EQ_INT(gale_addr_from_ip(ip, 0, &a), 0);
    int fd = gale_socket_open(gale_addr_family(&a), SOCK_STREAM, 0);
    CHECK(fd >= 0);
    CHECK_EQ_INT(gale_socket_set_option(fd, GALE_SO_REUSEADDR, 1), 0);
    CHECK_EQ_INT(gale_socket_bind(fd, &a), 0);
    CHECK_EQ_INT(gale_socket_listen(fd, backlog), 0);
    CHECK_EQ_INT(gale_socket_local_addr(fd, addr), 0);
    CHECK(gale_addr_port(addr) > 0);
    return fd;
}

/* A connected pair: client and the server's accepted end. */
static void connected_pair(const char *ip, int *client, int *server) {
    gale_addr a, peer, c_local;
    int l = listener(ip, 8, &a);
    *client = gale_socket_open(gale_addr_family(&a), SOCK_STREAM, 0);
    CHECK_EQ_INT(gale_socket_connect(*client, &a), 0); /* completes in the backlog */
    *server = gale_socket_accept(l, &peer);
    CHECK(*server >= 0);
    CHECK_EQ_INT(gale_socket_local_addr(*client, &c_local), 0);
    CHECK(gale_addr_equal(&peer, &c_local)); /* accept returns the peer's address */
    gale_socket_close(l);
}

static void tcp_blocking(const char *ip) {
    int c, s;
    connected_pair(ip, &c, &s);
    gale_addr pa, sa;
    CHECK_EQ_INT(gale_socket_peer_addr(c, &pa), 0);
    CHECK_EQ_INT(gale_socket_local_addr(s, &sa), 0);
    CHECK(gale_addr_equal(&pa, &sa));
    int64_t t = 0;
    CHECK_EQ_INT(gale_socket_get_timeout(c, &t), 0);
    CHECK_EQ_INT(t, -1); /* blocking by default, like Python's sockets */

    static const char msg[] = "Hello, world";
    CHECK_EQ_INT(gale_socket_send_all(c, msg, sizeof msg - 1, 0, NULL), sizeof msg - 1);
    CHECK_EQ_INT(gale_socket_shutdown(c, SHUT_WR), 0); /* shutdown(1): done sending */
    CHECK_EQ_INT(gale_socket_send(c, "x", 1, 0), -EPIPE);
    char buf[64];
    size_t got = 0;
    ssize_t n;
    while ((n = gale_socket_recv(s, buf + got, sizeof buf - got, 0)) > 0) got += (size_t)n;
    CHECK_EQ_INT(n, 0); /* EOF: a receive of 0 bytes */
    CHECK_SLICE(buf, got, "Hello, world");
    /* The client can still receive after its shutdown(1). */
    CHECK_EQ_INT(gale_socket_send(s, "reply", 5, 0), 5);
    CHECK_EQ_INT(gale_socket_recv(c, buf, sizeof buf, 0), 5);
    CHECK_EQ_INT(gale_socket_close(s), 0);
    CHECK_EQ_INT(gale_socket_recv(c, buf, sizeof buf, 0), 0);
    CHECK_EQ_INT(gale_socket_close(c), 0);
    CHECK_EQ_INT(gale_socket_close(c), -EBADF);
}

TEST(tcp_blocking_ipv4) { tcp_blocking("127.0.0.1"); }
TEST(tcp_blocking_ipv6) { tcp_blocking("::1"); }

TEST(tcp_non_blocking_reports_would_block) {
    gale_addr a;
    int l = listener("127.0.0.1", 8, &a);
    CHECK_EQ_INT(gale_socket_set_blocking(l, 0), 0);
    int64_t t = -1;
    gale_socket_get_timeout(l, &t);
    CHECK_EQ_INT(t, 0);
    CHECK_EQ_INT(gale_socket_accept(l, NULL), -EAGAIN); /* nobody waiting */

    int c = gale_socket_open(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ_INT(gale_socket_set_blocking(c, 0), 0);
    int r = gale_socket_connect(c, &a);
    CHECK(r == 0 || r == -EINPROGRESS);
    struct pollfd p = {.fd = c, .events = POLLOUT};
    CHECK_EQ_INT(gale_socket_poll(&p, 1, 5000 * 1000000ll), 1);
    int so = -1;
    CHECK_EQ_INT(gale_socket_get_option(c, GALE_SO_ERROR, &so), 0);
    CHECK_EQ_INT(so, 0); /* connected */

    struct pollfd lp = {.fd = l, .events = POLLIN};
    CHECK_EQ_INT(gale_socket_poll(&lp, 1, 5000 * 1000000ll), 1);
    int s = gale_socket_accept(l, NULL);
    CHECK(s >= 0);
    gale_socket_get_timeout(s, &t);
    CHECK_EQ_INT(t, -1); /* accepted sockets are blocking, as in Python */
    char buf[16];
    CHECK_EQ_INT(gale_socket_recv(c, buf, sizeof buf, 0), -EAGAIN);

    /* The tutorial's non-blocking send of a big buffer: a partial count, then would-block. */
    gale_socket_set_option(c, GALE_SO_SNDBUF, 16384);
    size_t len = 64u << 20;
    char *big = calloc(1, len);
    ssize_t first = gale_socket_send(c, big, len, 0);
    CHECK(first > 0 && (size_t)first < len);
    ssize_t more = 0;
    int sends = 0;
    while (more >= 0 && sends++ < 100000) more = gale_socket_send(c, big, len, 0);
    CHECK_EQ_INT(more, -EAGAIN);
    size_t sent = 0;
    CHECK_EQ_INT(gale_socket_send_all(c, big, len, 0, &sent), -EAGAIN);
    CHECK(sent < len);
    free(big);
    gale_socket_close(c);
    gale_socket_close(s);
    gale_socket_close(l);
}

TEST(timeouts_fail_with_etimedout) {
    gale_addr a;
    int l = listener("127.0.0.1", 0, &a);
    CHECK_EQ_INT(gale_socket_set_timeout(l, TIMEOUT), 0);
    int64_t t = 0;
    CHECK_EQ_INT(gale_socket_get_timeout(l, &t), 0);
    CHECK_EQ_INT(t, TIMEOUT);
    CHECK_EQ_INT(gale_socket_accept(l, NULL), -ETIMEDOUT);

    /* A full backlog leaves later connects hanging: with a timeout they give up. */
    int clients[16], n = 0, timed_out = 0;
    for (; n < 16 && !timed_out; n++) {
        clients[n] = gale_socket_open(AF_INET, SOCK_STREAM, 0);
        gale_socket_set_timeout(clients[n], TIMEOUT);
        int r = gale_socket_connect(clients[n], &a);
        CHECK(r == 0 || r == -ETIMEDOUT);
        timed_out = r == -ETIMEDOUT;
    }
    CHECK(timed_out);
    int s = gale_socket_accept(l, NULL);
    CHECK(s >= 0);
    gale_socket_get_timeout(s, &t);
    CHECK_EQ_INT(t, -1); /* the listener's timeout is not inherited */
    CHECK_EQ_INT(gale_socket_set_timeout(s, TIMEOUT), 0);
    char buf[16];
    CHECK_EQ_INT(gale_socket_recv(s, buf, sizeof buf, 0), -ETIMEDOUT);

    /* A send that cannot finish in time returns what went out, then times out. */
    gale_socket_set_option(clients[0], GALE_SO_SNDBUF, 4096);
    size_t len = 64u << 20;
    char *big = calloc(1, len);
    ssize_t r = gale_socket_send(clients[0], big, len, 0);
    CHECK((r > 0 && (size_t)r < len) || r == -ETIMEDOUT);
    int tries = 0;
    while (r > 0 && tries++ < 1000) r = gale_socket_send(clients[0], big, len, 0);
    CHECK_EQ_INT(r, -ETIMEDOUT);
    free(big);

    /* Back to blocking without a timeout. */
    CHECK_EQ_INT(gale_socket_set_blocking(s, 1), 0);
    gale_socket_get_timeout(s, &t);
    CHECK_EQ_INT(t, -1);
    CHECK_EQ_INT(gale_socket_set_timeout(s, 0), 0);
    gale_socket_get_timeout(s, &t);
    CHECK_EQ_INT(t, 0);
    for (int i = 0; i < n; i++) gale_socket_close(clients[i]);
    gale_socket_close(s);
    gale_socket_close(l);
}

static void udp_roundtrip(const char *ip) {
    gale_addr a, b;
    gale_addr_from_ip(ip, 0, &a);
    int family = gale_addr_family(&a);
    int s = gale_socket_open(family, SOCK_DGRAM, 0), c = gale_socket_open(family, SOCK_DGRAM, 0);
    CHECK_EQ_INT(gale_socket_bind(s, &a), 0);
    gale_socket_local_addr(s, &a);
    CHECK_EQ_INT(gale_socket_send_to(c, "Welcome to JavaTpoint", 21, 0, &a), 21);
    char buf[64];
    gale_addr from;
    CHECK_EQ_INT(gale_socket_recv_from(s, buf, sizeof buf, 0, &from), 21);
    CHECK_SLICE(buf, 21, "Welcome to JavaTpoint");
    gale_socket_local_addr(c, &b);
    CHECK_EQ_INT(gale_addr_port(&from), gale_addr_port(&b));
    /* A datagram longer than the buffer is cut, as recvfrom does; MSG_TRUNC tells its size. */
    CHECK_EQ_INT(gale_socket_send_to(c, "0123456789", 10, 0, &a), 10);
    CHECK_EQ_INT(gale_socket_recv_from(s, buf, 4, 0, &from), 4);
    CHECK_EQ_INT(gale_socket_send_to(c, "0123456789", 10, 0, &a), 10);
    CHECK_EQ_INT(gale_socket_recv_from(s, buf, 4, MSG_TRUNC, &from), 10);
    /* Connected UDP: send and recv without addresses. */
    CHECK_EQ_INT(gale_socket_connect(c, &a), 0);
    CHECK_EQ_INT(gale_socket_send(c, "hi", 2, 0), 2);
    CHECK_EQ_INT(gale_socket_recv(s, buf, sizeof buf, 0), 2);
    CHECK_EQ_INT(gale_socket_set_timeout(s, TIMEOUT), 0);
    CHECK_EQ_INT(gale_socket_recv_from(s, buf, sizeof buf, 0, &from), -ETIMEDOUT);
    CHECK_EQ_INT(gale_addr_family(&from), AF_UNSPEC);
    CHECK_EQ_INT(gale_socket_set_blocking(s, 0), 0);
    CHECK_EQ_INT(gale_socket_recv_from(s, buf, sizeof buf, 0, &from), -EAGAIN);
    gale_socket_close(s);
    gale_socket_close(c);
}

TEST(udp_sendto_recvfrom_ipv4) { udp_roundtrip("127.0.0.1"); }
TEST(udp_sendto_recvfrom_ipv6) { udp_roundtrip("::1"); }

TEST(connected_udp_gets_connection_refused) {
    gale_addr a;
    gale_addr_from_ip("127.0.0.1", 0, &a);
    int gone = gale_socket_open(AF_INET, SOCK_DGRAM, 0);
    gale_socket_bind(gone, &a);
    gale_socket_local_addr(gone, &a);
    gale_socket_close(gone);
    int c = gale_socket_open(AF_INET, SOCK_DGRAM, 0);
    CHECK_EQ_INT(gale_socket_connect(c, &a), 0);
    CHECK_EQ_INT(gale_socket_send(c, "x", 1, 0), 1);
    gale_socket_set_timeout(c, 2000 * 1000000ll);
    char buf[4];
    CHECK_EQ_INT(gale_socket_recv(c, buf, sizeof buf, 0), -ECONNREFUSED);
    gale_socket_close(c);
}

TEST(every_option_sets_and_reads_back) {
    int t = gale_socket_open(AF_INET6, SOCK_STREAM, 0), u = gale_socket_open(AF_INET, SOCK_DGRAM, 0);
    int v = -1;
    const gale_sockopt flags[] = {GALE_SO_REUSEADDR, GALE_SO_REUSEPORT, GALE_SO_KEEPALIVE, GALE_TCP_NODELAY,
                                  GALE_IPV6_V6ONLY};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        CHECK_EQ_INT(gale_socket_set_option(t, flags[i], 1), 0);
        CHECK_EQ_INT(gale_socket_get_option(t, flags[i], &v), 0);
        CHECK_EQ_INT(v, 1);
        CHECK_EQ_INT(gale_socket_set_option(t, flags[i], 0), 0);
        CHECK_EQ_INT(gale_socket_get_option(t, flags[i], &v), 0);
        CHECK_EQ_INT(v, 0);
    }
    CHECK_EQ_INT(gale_socket_set_option(u, GALE_SO_BROADCAST, 1), 0);
    CHECK_EQ_INT(gale_socket_get_option(u, GALE_SO_BROADCAST, &v), 0);
    CHECK_EQ_INT(v, 1);
    CHECK_EQ_INT(gale_socket_set_option(u, GALE_SO_RCVBUF, 65536), 0);
    CHECK_EQ_INT(gale_socket_get_option(u, GALE_SO_RCVBUF, &v), 0);
    CHECK(v >= 65536);
    CHECK_EQ_INT(gale_socket_set_option(u, GALE_SO_SNDBUF, 32768), 0);
    CHECK_EQ_INT(gale_socket_get_option(u, GALE_SO_SNDBUF, &v), 0);
    CHECK(v >= 32768);
    CHECK_EQ_INT(gale_socket_get_option(u, GALE_SO_TYPE, &v), 0);
    CHECK_EQ_INT(v, SOCK_DGRAM);
    CHECK_EQ_INT(gale_socket_set_option(u, GALE_SO_TYPE, 1), -EINVAL);
    CHECK_EQ_INT(gale_socket_set_option(u, (gale_sockopt)999, 1), -EINVAL);
    CHECK(gale_socket_set_option(u, GALE_TCP_NODELAY, 1) < 0);      /* not a TCP socket */
    CHECK(gale_socket_set_option(u, GALE_IPV6_V6ONLY, 1) < 0);      /* not an IPv6 socket */
    CHECK_EQ_INT(gale_socket_set_option_raw(u, IPPROTO_IP, IP_TTL, 7), 0);
    CHECK_EQ_INT(gale_socket_get_option_raw(u, IPPROTO_IP, IP_TTL, &v), 0);
    CHECK_EQ_INT(v, 7);
    gale_socket_close(t);
    gale_socket_close(u);
}

TEST(poll_reports_which_sockets_are_ready) {
    int fds[3];
    gale_addr addrs[3];
    struct pollfd p[3];
    for (int i = 0; i < 3; i++) {
        gale_addr_from_ip("127.0.0.1", 0, &addrs[i]);
        fds[i] = gale_socket_open(AF_INET, SOCK_DGRAM, 0);
        gale_socket_bind(fds[i], &addrs[i]);
        gale_socket_local_addr(fds[i], &addrs[i]);
        p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
    }
    CHECK_EQ_INT(gale_socket_poll(p, 3, 0), 0); /* nothing yet: a timeout */
    CHECK_EQ_INT(gale_socket_poll(p, 3, TIMEOUT), 0);
    gale_socket_send_to(fds[0], "ping", 4, 0, &addrs[1]);
    CHECK_EQ_INT(gale_socket_poll(p, 3, -1), 1);
    CHECK_EQ_INT(p[0].revents, 0);
    CHECK(p[1].revents & POLLIN);
    CHECK_EQ_INT(p[2].revents, 0);
    p[0].events = POLLOUT; /* writable at once */
    CHECK_EQ_INT(gale_socket_poll(p, 3, 0), 2);
    for (int i = 0; i < 3; i++) gale_socket_close(fds[i]);
}

TEST(unix_domain_stream_and_datagram) {
    char path[64], dpath[64];
    snprintf(path, sizeof path, "/tmp/gale-sock-test-%d.sock", (int)getpid());
    snprintf(dpath, sizeof dpath, "/tmp/gale-sock-test-%d.dgram", (int)getpid());
    unlink(path);
    unlink(dpath);
    gale_addr a;
    CHECK_EQ_INT(gale_addr_from_unix(path, &a), 0);
    int l = gale_socket_open(AF_UNIX, SOCK_STREAM, 0);
    CHECK_EQ_INT(gale_socket_bind(l, &a), 0);
    CHECK_EQ_INT(gale_socket_listen(l, -1), 0);
    int c = gale_socket_open(AF_UNIX, SOCK_STREAM, 0);
    CHECK_EQ_INT(gale_socket_connect(c, &a), 0);
    gale_addr peer;
    int s = gale_socket_accept(l, &peer);
    CHECK(s >= 0);
    CHECK_EQ_INT(gale_addr_family(&peer), AF_UNIX);
    CHECK_EQ_INT(gale_socket_send_all(c, "unix", 4, 0, NULL), 4);
    char buf[16];
    CHECK_EQ_INT(gale_socket_recv(s, buf, sizeof buf, 0), 4);
    gale_addr got;
    gale_socket_local_addr(s, &got);
    CHECK(gale_addr_equal(&got, &a));
    gale_socket_close(c);
    gale_socket_close(s);
    gale_socket_close(l);
    unlink(path);

    gale_addr d;
    gale_addr_from_unix(dpath, &d);
    int rx = gale_socket_open(AF_UNIX, SOCK_DGRAM, 0), tx = gale_socket_open(AF_UNIX, SOCK_DGRAM, 0);
    CHECK_EQ_INT(gale_socket_bind(rx, &d), 0);
    CHECK_EQ_INT(gale_socket_send_to(tx, "dgram", 5, 0, &d), 5);
    gale_addr from;
    CHECK_EQ_INT(gale_socket_recv_from(rx, buf, sizeof buf, 0, &from), 5);
    CHECK_EQ_INT(gale_addr_family(&from), AF_UNSPEC); /* an unnamed sender */
    gale_socket_close(rx);
    gale_socket_close(tx);
    unlink(dpath);
}

TEST(errors_are_negative_errno) {
    gale_addr a;
    int l = listener("127.0.0.1", 1, &a);
    int other = gale_socket_open(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ_INT(gale_socket_bind(other, &a), -EADDRINUSE);
    gale_socket_close(other);
    gale_socket_close(l);
    int c = gale_socket_open(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ_INT(gale_socket_connect(c, &a), -ECONNREFUSED);
    gale_socket_close(c);
    CHECK_EQ_INT(gale_socket_open(12345, SOCK_STREAM, 0), -EAFNOSUPPORT);
    CHECK_EQ_INT(gale_socket_recv(-1, &a, 1, 0), -EBADF);
}

/* ---- resolver: reverse lookups and the host name ------------------------------------------ */

typedef struct {
    gale_loop *loop;
    int called, err;
    char host[NI_MAXHOST], service[NI_MAXSERV];
} gni_state;

static void on_gni(gale_getnameinfo *req, int err, const char *host, const char *service, void *ud) {
    gni_state *st = ud;
    st->called++;
    st->err = err;
    if (host) snprintf(st->host, sizeof st->host, "%s", host);
    if (service) snprintf(st->service, sizeof st->service, "%s", service);
    gale_loop_stop(st->loop);
}

static void never_gni(gale_getnameinfo *req, int err, const char *host, const char *service, void *ud) {
    CHECK(0 && "a cancelled lookup called back");
}

static int freed;
static void count_free(void *p) {
    free(p);
    freed++;
}

TEST(getnameinfo_on_the_loop) {
    gale_loop *loop;
    CHECK_EQ_INT(gale_loop_new(&loop), 0);
    gale_addr a;
    gale_addr_from_ip("127.0.0.1", 80, &a);
    gni_state st = {.loop = loop};
    CHECK_EQ_INT(gale_getnameinfo_start(loop, &a, 0, on_gni, &st, NULL, NULL), 0);
    CHECK_EQ_INT(st.called, 0); /* never inside the call */
    CHECK(run_for(loop, 10000));
    CHECK_EQ_INT(st.err, 0);
    /* Whatever the system says, as Python's socket.getnameinfo would. */
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    CHECK_EQ_INT(getnameinfo((struct sockaddr *)&a.storage, a.len, host, sizeof host, serv, sizeof serv, 0), 0);
    CHECK_EQ_STR(st.host, host);
    CHECK_EQ_STR(st.service, serv);

    gni_state num = {.loop = loop};
    gale_addr_from_ip("::1", 8080, &a);
    CHECK_EQ_INT(gale_getnameinfo_start(loop, &a, NI_NUMERICHOST | NI_NUMERICSERV, on_gni, &num, NULL, NULL), 0);
    CHECK(run_for(loop, 10000));
    CHECK_EQ_INT(num.err, 0);
    CHECK_EQ_STR(num.host, "::1");
    CHECK_EQ_STR(num.service, "8080");

    gale_addr un;
    gale_addr_from_unix("/tmp/x", &un);
    CHECK_EQ_INT(gale_getnameinfo_start(loop, &un, 0, on_gni, &num, NULL, NULL), -EINVAL);

    freed = 0;
    gale_getnameinfo *req;
    CHECK_EQ_INT(gale_getnameinfo_start(loop, &a, 0, never_gni, malloc(1), count_free, &req), 0);
    gale_getnameinfo_cancel(req);
    CHECK_EQ_INT(freed, 1);
    run_for(loop, 50);
    gale_getnameinfo_start(loop, &a, 0, never_gni, malloc(1), count_free, NULL);
    gale_loop_free(loop); /* left pending: released without calling back */
    wait_count(&freed, 2, 3000); /* released on the helper thread */
    CHECK_EQ_INT(freed, 2);
}

TEST(gethostname_matches_the_system) {
    char mine[256], sys[256];
    int n = gale_gethostname(mine, sizeof mine);
    CHECK(n > 0);
    gethostname(sys, sizeof sys);
    CHECK_EQ_STR(mine, sys);
    CHECK_EQ_INT(gale_gethostname(mine, (size_t)n), -ENAMETOOLONG);
    CHECK_EQ_INT(gale_gethostname(mine, 0), -ENAMETOOLONG);
}

int main(void) {
    RUN(tcp_blocking_ipv4);
    RUN(tcp_blocking_ipv6);
    RUN(tcp_non_blocking_reports_would_block);
    RUN(timeouts_fail_with_etimedout);
    RUN(udp_sendto_recvfrom_ipv4);
    RUN(udp_sendto_recvfrom_ipv6);
    RUN(connected_udp_gets_connection_refused);
    RUN(every_option_sets_and_reads_back);
    RUN(poll_reports_which_sockets_are_ready);
    RUN(unix_domain_stream_and_datagram);
    RUN(errors_are_negative_errno);
    RUN(getnameinfo_on_the_loop);
    RUN(gethostname_matches_the_system);
    return test_summary();
}
