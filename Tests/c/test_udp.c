/* test_udp.c - UDP sockets on the loop over loopback: both ways on IPv4 and IPv6, truncation,
 * ICMP errors on connected and unconnected sockets, options, backpressure, closing and detaching. */
#include <gale.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"
#include "loop_util.h"

/* A receiver that records what arrives and can answer or stop the loop after `want`. */
typedef struct {
    gale_loop *loop;
    int count, want;
    int echo;               /* send each datagram back to its sender */
    int close_in_callback;  /* close the socket from the first on_datagram */
    size_t last_len;
    unsigned last_flags;
    char last[2048];
    gale_addr last_from;
    int errors, last_err;
    gale_addr last_dest;
    int has_dest;
    int closed, freed;
} rx_state;

static void rx_datagram(gale_udp *u, const void *data, size_t len, const gale_addr *from, unsigned flags, void *ud) {
    rx_state *st = ud;
    st->count++;
    st->last_len = len;
    st->last_flags = flags;
    memcpy(st->last, data, len < sizeof st->last ? len : sizeof st->last);
    st->last_from = *from;
    if (st->echo) CHECK_EQ_INT(gale_udp_send(u, data, len, from), 0);
    if (st->close_in_callback) gale_udp_close(u);
    if (st->want && st->count >= st->want) gale_loop_stop(st->loop);
}
static void rx_error(gale_udp *u, int err, const gale_addr *dest, void *ud) {
    rx_state *st = ud;
    st->errors++;
    st->last_err = err;
    st->has_dest = dest != NULL;
    if (dest) st->last_dest = *dest;
    gale_loop_stop(st->loop);
}
static void rx_close(gale_udp *u, void *ud) { ((rx_state *)ud)->closed++; }
static void rx_free(void *ud) { ((rx_state *)ud)->freed++; }

static const gale_udp_callbacks rx_cbs = {.on_datagram = rx_datagram, .on_error = rx_error, .on_close = rx_close};

static gale_udp *open_on(gale_loop *loop, const char *ip, rx_state *st) {
    gale_addr a;
    CHECK_EQ_INT(gale_addr_from_ip(ip, 0, &a), 0);
    gale_udp *u = NULL;
    CHECK_EQ_INT(gale_udp_open(loop, &a, 0, &u), 0);
    if (u) gale_udp_start(u, &rx_cbs, st, rx_free);
    return u;
}

static gale_addr local(gale_udp *u) {
    gale_addr a;
    CHECK_EQ_INT(gale_udp_local_addr(u, &a), 0);
    return a;
}

static int port_of(gale_udp *u) {
    gale_addr a = local(u);
    return gale_addr_port(&a);
}

/* A loopback port with nobody on it: bound, then closed. */
static gale_addr closed_port(const char *ip) {
    gale_addr a;
    gale_addr_from_ip(ip, 0, &a);
    int fd = gale_socket_open(gale_addr_family(&a), SOCK_DGRAM, 0);
    gale_socket_bind(fd, &a);
    gale_socket_local_addr(fd, &a);
    gale_socket_close(fd);
    return a;
}

/* A loop, a started gale_udp on 127.0.0.1 reporting to st, its address, and a plain socket
 * to send to it from. */
typedef struct {
    gale_loop *loop;
    gale_udp *u;
    gale_addr to;
    int tx;
} fixture;

static void setup(fixture *f, rx_state *st) {
    CHECK_EQ_INT(gale_loop_new(&f->loop), 0);
    st->loop = f->loop;
    f->u = open_on(f->loop, "127.0.0.1", st);
    f->to = local(f->u);
    f->tx = gale_socket_open(AF_INET, SOCK_DGRAM, 0);
}

static void teardown(fixture *f) {
    gale_socket_close(f->tx);
    gale_loop_free(f->loop);
}

static void both_ways(const char *ip, int family) {
    gale_loop *loop;
    CHECK_EQ_INT(gale_loop_new(&loop), 0);
    rx_state server = {.loop = loop, .echo = 1}, client = {.loop = loop, .want = 3};
    gale_udp *s = open_on(loop, ip, &server), *c = open_on(loop, ip, &client);
    gale_addr sa = local(s), ca = local(c);
    CHECK_EQ_INT(gale_addr_family(&sa), family);
    CHECK(gale_addr_port(&sa) > 0); /* port 0 picked a free port, readable back */
    const char *msgs[] = {"Welcome to JavaTpoint", "", "third"};
    for (int i = 0; i < 3; i++) CHECK_EQ_INT(gale_udp_send(c, msgs[i], strlen(msgs[i]), &sa), 0);
    CHECK(run_for(loop, 5000));
    CHECK_EQ_INT(server.count, 3);
    CHECK_EQ_INT(client.count, 3);
    CHECK(gale_addr_equal(&server.last_from, &ca)); /* the sender's address came with it */
    CHECK(gale_addr_equal(&client.last_from, &sa));
    CHECK_SLICE(client.last, client.last_len, "third");
    CHECK_EQ_INT(client.last_flags, 0);
    CHECK_EQ_INT(gale_udp_received(s), 3);
    gale_udp_close(s);
    gale_udp_close(c);
    CHECK_EQ_INT(server.closed, 0); /* on_close comes from the loop, not inside close */
    gale_loop_free(loop);
    CHECK_EQ_INT(server.closed, 1);
    CHECK_EQ_INT(server.freed, 1);
    CHECK_EQ_INT(client.freed, 1);
}

TEST(udp_both_ways_ipv4) { both_ways("127.0.0.1", AF_INET); }
TEST(udp_both_ways_ipv6) { both_ways("::1", AF_INET6); }

TEST(dual_stack_socket_receives_ipv4) {
    gale_loop *loop;
    CHECK_EQ_INT(gale_loop_new(&loop), 0);
    rx_state st = {.loop = loop, .want = 1};
    gale_udp *u = open_on(loop, "::", &st);
    gale_addr to;
    gale_addr_from_ip("127.0.0.1", port_of(u), &to);
    int fd = gale_socket_open(AF_INET, SOCK_DGRAM, 0);
    CHECK_EQ_INT(gale_socket_send_to(fd, "v4", 2, 0, &to), 2);
    CHECK(run_for(loop, 5000));
    CHECK_EQ_INT(st.count, 1);
    char host[GALE_ADDR_STRLEN];
    gale_addr_host(&st.last_from, host, sizeof host);
    CHECK_EQ_STR(host, "::ffff:127.0.0.1"); /* a v4-mapped sender */
    gale_socket_close(fd);
    gale_loop_free(loop);
}

TEST(datagram_larger_than_the_read_size_is_reported_truncated) {
    fixture f;
    rx_state st = {.want = 1};
    setup(&f, &st);
    char big[1000];
    memset(big, 'x', sizeof big);

    gale_udp_set_read_size(f.u, 100);
    CHECK_EQ_INT(gale_socket_send_to(f.tx, big, sizeof big, 0, &f.to), (ssize_t)sizeof big);
    CHECK(run_for(f.loop, 5000));
    CHECK_EQ_INT(st.last_len, 100);
    CHECK(st.last_flags & GALE_UDP_TRUNCATED);

    st.want = 2; /* one that fits is whole and unflagged */
    CHECK_EQ_INT(gale_socket_send_to(f.tx, big, 100, 0, &f.to), 100);
    CHECK(run_for(f.loop, 5000));
    CHECK_EQ_INT(st.last_len, 100);
    CHECK_EQ_INT(st.last_flags, 0);
    CHECK_EQ_INT(gale_udp_truncated(f.u), 1);

    /* The largest IPv4 datagram fits the default read size whole. */
    gale_udp_set_read_size(f.u, 0);
    gale_udp_set_recv_buffer(f.u, 1 << 20);
    static char huge[65507];
    memset(huge, 'y', sizeof huge);
    st.want = 3;
    CHECK_EQ_INT(gale_socket_send_to(f.tx, huge, sizeof huge, 0, &f.to), (ssize_t)sizeof huge);
    CHECK(run_for(f.loop, 5000));
    CHECK_EQ_INT(st.last_len, sizeof huge);
    CHECK_EQ_INT(st.last_flags, 0);
    teardown(&f);
}

TEST(port_unreachable_on_connected_udp_is_an_error_and_the_socket_lives_on) {
    gale_loop *loop;
    CHECK_EQ_INT(gale_loop_new(&loop), 0);
    rx_state st = {.loop = loop}, peer = {.loop = loop, .echo = 1};
    gale_udp *u = open_on(loop, "127.0.0.1", &st);
    gale_udp *p = open_on(loop, "127.0.0.1", &peer);
    gale_addr nobody = closed_port("127.0.0.1");
    CHECK_EQ_INT(gale_udp_connect(u, &nobody), 0);
    gale_addr got;
    CHECK_EQ_INT(gale_udp_peer_addr(u, &got), 0);
    CHECK(gale_addr_equal(&got, &nobody));
    CHECK_EQ_INT(gale_udp_send(u, "anyone?", 7, NULL), 0);
    CHECK(run_for(loop, 5000));
    CHECK_EQ_INT(st.errors, 1);
    CHECK_EQ_INT(st.last_err, -ECONNREFUSED);
    CHECK(st.has_dest && gale_addr_equal(&st.last_dest, &nobody));
    CHECK_EQ_INT(gale_udp_errors(u), 1);

    /* Still open: connect elsewhere and talk. */
    gale_addr pa = local(p);
    CHECK_EQ_INT(gale_udp_connect(u, &pa), 0);
    st.want = 1;
    CHECK_EQ_INT(gale_udp_send(u, "hello", 5, NULL), 0);
    CHECK(run_for(loop, 5000));
    CHECK_EQ_INT(st.count, 1);
    CHECK_SLICE(st.last, st.last_len, "hello");
    /* Dissolve the association: sends need an address again. */
    gale_addr none;
    memset(&none, 0, sizeof none);
    CHECK_EQ_INT(gale_udp_connect(u, &none), 0);
    CHECK_EQ_INT(gale_udp_peer_addr(u, &got), -ENOTCONN);
    CHECK(gale_udp_send(u, "x", 1, NULL) < 0);
    gale_loop_free(loop);
}

TEST(unconnected_udp_reports_unreachable_destinations_only_with_recverr) {
    gale_loop *loop;
    CHECK_EQ_INT(gale_loop_new(&loop), 0);
    rx_state st = {.loop = loop}, peer = {.loop = loop, .want = 1};
    gale_udp *u = open_on(loop, "127.0.0.1", &st);
    gale_udp *p = open_on(loop, "127.0.0.1", &peer);
    gale_addr nobody = closed_port("127.0.0.1"), pa = local(p);

    /* As BSD sockets (and Python) do: an unconnected socket hears nothing of it... */
    CHECK_EQ_INT(gale_udp_send(u, "lost", 4, &nobody), 0);
    CHECK_EQ_INT(gale_udp_send(u, "found", 5, &pa), 0);
    CHECK(run_for(loop, 5000)); /* the peer stops the loop */
    run_for(loop, 100);         /* time for an error that should not come */
    CHECK_EQ_INT(st.errors, 0);
    CHECK_EQ_INT(peer.count, 1);

    /* ...unless it asks, and then it learns which destination it was. */
    CHECK_EQ_INT(gale_udp_set_recverr(u, 1), 0);
    CHECK_EQ_INT(gale_udp_send(u, "lost", 4, &nobody), 0);
    CHECK(run_for(loop, 5000));
    CHECK_EQ_INT(st.errors, 1);
    CHECK_EQ_INT(st.last_err, -ECONNREFUSED);
    CHECK(st.has_dest && gale_addr_equal(&st.last_dest, &nobody));
    double cpu0 = cpu_seconds();
    uint64_t wall0 = gale_now_ns();
    run_for(loop, 200); /* the error queue is drained: no repeat, no spin */
    double cpu = cpu_seconds() - cpu0, wall = (double)(gale_now_ns() - wall0) / 1e9;
    CHECK_EQ_INT(st.errors, 1);
    CHECK(cpu < idle_cpu_bound(0.1, wall)); /* a pending EPOLLERR would burn the whole window */
    peer.want = 2;
    CHECK_EQ_INT(gale_udp_send(u, "still works", 11, &pa), 0);
    CHECK(run_for(loop, 5000));
    CHECK_EQ_INT(peer.count, 2);
    gale_loop_free(loop);
}

TEST(many_datagrams_arrive_in_order) {
    fixture f;
    rx_state st = {.want = 200};
    setup(&f, &st);
    CHECK_EQ_INT(gale_udp_set_recv_buffer(f.u, 1 << 20), 0);
    CHECK(gale_udp_recv_buffer(f.u) >= 1 << 20); /* the kernel doubles what it grants */
    for (int i = 0; i < 200; i++) {
        char m[16];
        int n = snprintf(m, sizeof m, "%d", i);
        CHECK_EQ_INT(gale_socket_send_to(f.tx, m, (size_t)n, 0, &f.to), n);
    }
    CHECK(run_for(f.loop, 5000));
    CHECK_EQ_INT(st.count, 200);
    CHECK_SLICE(st.last, st.last_len, "199");
    teardown(&f);
}

TEST(close_inside_the_callback_stops_delivery) {
    fixture f;
    rx_state st = {.close_in_callback = 1};
    setup(&f, &st);
    for (int i = 0; i < 5; i++) gale_socket_send_to(f.tx, "x", 1, 0, &f.to);
    usleep(10000);
    run_for(f.loop, 100);
    CHECK_EQ_INT(st.count, 1);
    CHECK_EQ_INT(st.closed, 1);
    CHECK_EQ_INT(st.freed, 1);
    teardown(&f);
}

TEST(pause_holds_datagrams_in_the_kernel_until_resume) {
    fixture f;
    rx_state st = {.want = 2};
    setup(&f, &st);
    gale_udp_pause(f.u);
    gale_socket_send_to(f.tx, "a", 1, 0, &f.to);
    gale_socket_send_to(f.tx, "b", 1, 0, &f.to);
    run_for(f.loop, 50);
    CHECK_EQ_INT(st.count, 0);
    gale_udp_resume(f.u);
    CHECK(run_for(f.loop, 5000));
    CHECK_EQ_INT(st.count, 2);
    teardown(&f);
}

TEST(broadcast_and_multicast_options) {
    gale_loop *loop;
    CHECK_EQ_INT(gale_loop_new(&loop), 0);
    rx_state st = {.loop = loop, .want = 1};
    gale_addr any;
    gale_addr_from_ip("0.0.0.0", 0, &any);
    gale_udp *rx;
    CHECK_EQ_INT(gale_udp_open(loop, &any, GALE_UDP_REUSEADDR, &rx), 0);
    gale_udp_start(rx, &rx_cbs, &st, NULL);
    int v = 0;
    CHECK_EQ_INT(gale_udp_set_broadcast(rx, 1), 0);
    CHECK_EQ_INT(gale_socket_get_option(gale_udp_fd(rx), GALE_SO_BROADCAST, &v), 0);
    CHECK_EQ_INT(v, 1);
    CHECK_EQ_INT(gale_udp_join_multicast(rx, "239.255.42.99", "127.0.0.1"), 0);
    CHECK_EQ_INT(gale_udp_join_multicast(rx, "not-a-group", NULL), -EINVAL);

    gale_udp *tx;
    CHECK_EQ_INT(gale_udp_open(loop, &any, 0, &tx), 0);
    CHECK_EQ_INT(gale_udp_set_multicast_interface(tx, "127.0.0.1"), 0);
    /* Values other than the kernel's defaults (loop on, TTL 1), read back from the socket. */
    CHECK_EQ_INT(gale_udp_set_multicast_loop(tx, 0), 0);
    CHECK_EQ_INT(gale_socket_get_option_raw(gale_udp_fd(tx), IPPROTO_IP, IP_MULTICAST_LOOP, &v), 0);
    CHECK_EQ_INT(v, 0);
    CHECK_EQ_INT(gale_udp_set_multicast_ttl(tx, 5), 0);
    CHECK_EQ_INT(gale_socket_get_option_raw(gale_udp_fd(tx), IPPROTO_IP, IP_MULTICAST_TTL, &v), 0);
    CHECK_EQ_INT(v, 5);
    CHECK_EQ_INT(gale_udp_set_multicast_loop(tx, 1), 0); /* back on: rx is on this host */
    CHECK_EQ_INT(gale_socket_get_option_raw(gale_udp_fd(tx), IPPROTO_IP, IP_MULTICAST_LOOP, &v), 0);
    CHECK_EQ_INT(v, 1);
    gale_addr group;
    gale_addr_from_ip("239.255.42.99", port_of(rx), &group);
    CHECK_EQ_INT(gale_udp_send(tx, "to the group", 12, &group), 0);
    CHECK(run_for(loop, 5000));
    CHECK_EQ_INT(st.count, 1);
    CHECK_SLICE(st.last, st.last_len, "to the group");
    CHECK_EQ_INT(gale_udp_leave_multicast(rx, "239.255.42.99", "127.0.0.1"), 0);

    /* IPv6: join and leave the all-nodes group on the loopback interface by name. */
    gale_addr any6;
    gale_addr_from_ip("::", 0, &any6);
    gale_udp *rx6;
    CHECK_EQ_INT(gale_udp_open(loop, &any6, 0, &rx6), 0);
    CHECK_EQ_INT(gale_udp_join_multicast(rx6, "ff02::1:3", "lo"), 0);
    CHECK_EQ_INT(gale_udp_leave_multicast(rx6, "ff02::1:3", "lo"), 0);
    CHECK_EQ_INT(gale_udp_join_multicast(rx6, "ff02::1:3", "no-such-interface0"), -ENODEV);
    CHECK_EQ_INT(gale_udp_set_multicast_ttl(rx6, 2), 0);
    CHECK_EQ_INT(gale_socket_get_option_raw(gale_udp_fd(rx6), IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &v), 0);
    CHECK_EQ_INT(v, 2);
    CHECK_EQ_INT(gale_udp_set_multicast_loop(rx6, 0), 0);
    CHECK_EQ_INT(gale_socket_get_option_raw(gale_udp_fd(rx6), IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &v), 0);
    CHECK_EQ_INT(v, 0);
    gale_loop_free(loop);
}

TEST(adopt_and_detach_a_socket) {
    gale_loop *loop;
    CHECK_EQ_INT(gale_loop_new(&loop), 0);
    /* A blocking socket made with the socket layer goes onto the loop... */
    int fd = gale_socket_open(AF_INET, SOCK_DGRAM, 0);
    gale_addr a;
    gale_addr_from_ip("127.0.0.1", 0, &a);
    CHECK_EQ_INT(gale_socket_bind(fd, &a), 0);
    gale_socket_local_addr(fd, &a);
    gale_udp *u;
    CHECK_EQ_INT(gale_udp_new_fd(loop, fd, &u), 0);
    rx_state st = {.loop = loop, .want = 1};
    gale_udp_start(u, &rx_cbs, &st, rx_free);
    int tx = gale_socket_open(AF_INET, SOCK_DGRAM, 0);
    gale_socket_send_to(tx, "on the loop", 11, 0, &a);
    CHECK(run_for(loop, 5000));
    CHECK_EQ_INT(st.count, 1);

    /* ...and back: the descriptor survives the handle. */
    int back = gale_udp_detach(u);
    CHECK_EQ_INT(back, fd);
    CHECK_EQ_INT(gale_udp_detach(u), -EPIPE);
    run_for(loop, 10);
    CHECK_EQ_INT(st.closed, 1);
    CHECK_EQ_INT(st.freed, 1);
    CHECK_EQ_INT(gale_socket_set_blocking(back, 1), 0);
    gale_socket_send_to(tx, "off the loop", 12, 0, &a);
    char buf[64];
    gale_addr from;
    CHECK_EQ_INT(gale_socket_recv_from(back, buf, sizeof buf, 0, &from), 12);
    CHECK_SLICE(buf, 12, "off the loop");
    gale_socket_close(back);
    gale_socket_close(tx);

    /* Only datagram sockets are accepted, and a refused one is closed. */
    int stream = gale_socket_open(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ_INT(gale_udp_new_fd(loop, stream, &u), -EPROTOTYPE);
    CHECK(fcntl(stream, F_GETFD) < 0 && errno == EBADF);
    CHECK_EQ_INT(gale_udp_new_fd(loop, 12345, &u), -EBADF);
    gale_addr un;
    gale_addr_from_unix("/tmp/x", &un);
    CHECK_EQ_INT(gale_udp_open(loop, &un, 0, &u), -EINVAL);
    gale_loop_free(loop);
}

/* ---- backpressure -------------------------------------------------------------------------- */

typedef struct {
    gale_loop *loop;
    int writable;
} wr_state;

static void wr_writable(gale_udp *u, void *ud) {
    wr_state *w = ud;
    w->writable++;
    gale_loop_stop(w->loop);
}

static const gale_udp_callbacks wr_cbs = {.on_writable = wr_writable};

/* A Unix datagram pair: the sender gets -EAGAIN once the peer's queue is full (a reader that
 * does not read is all it takes, unlike UDP, which drops instead), and on_writable once it
 * has room again. */
TEST(full_socket_says_eagain_then_on_writable_once_drained) {
    gale_loop *loop;
    CHECK_EQ_INT(gale_loop_new(&loop), 0);
    int sv[2];
    CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
    gale_udp *u;
    CHECK_EQ_INT(gale_udp_new_fd(loop, sv[0], &u), 0);
    wr_state w = {.loop = loop};
    gale_udp_start(u, &wr_cbs, &w, NULL);
    CHECK_EQ_INT(gale_udp_set_recverr(u, 1), -EOPNOTSUPP); /* no ICMP on a Unix socket */

    char msg[512];
    memset(msg, 'q', sizeof msg);
    int r = 0, sent = 0;
    while (sent < 100000 && (r = gale_udp_send(u, msg, sizeof msg, NULL)) == 0) sent++;
    CHECK_EQ_INT(r, -EAGAIN);
    CHECK(sent > 0);
    run_for(loop, 50); /* still full: no room, no callback */
    CHECK_EQ_INT(w.writable, 0);

    char buf[sizeof msg];
    int drained = 0;
    while (recv(sv[1], buf, sizeof buf, MSG_DONTWAIT) == (ssize_t)sizeof msg) drained++;
    CHECK_EQ_INT(drained, sent);
    CHECK(run_for(loop, 5000));
    CHECK_EQ_INT(w.writable, 1);
    CHECK_EQ_INT(gale_udp_send(u, msg, sizeof msg, NULL), 0); /* room again */
    run_for(loop, 20); /* on_writable is one-shot: it does not repeat without a new -EAGAIN */
    CHECK_EQ_INT(w.writable, 1);
    close(sv[1]);
    gale_loop_free(loop);
}

TEST(sockets_left_open_are_closed_by_loop_free) {
    gale_loop *loop;
    CHECK_EQ_INT(gale_loop_new(&loop), 0);
    rx_state st = {.loop = loop};
    open_on(loop, "127.0.0.1", &st);
    open_on(loop, "::1", &st);
    gale_loop_free(loop);
    CHECK_EQ_INT(st.closed, 2);
    CHECK_EQ_INT(st.freed, 2);
}

int main(void) {
    RUN(udp_both_ways_ipv4);
    RUN(udp_both_ways_ipv6);
    RUN(dual_stack_socket_receives_ipv4);
    RUN(datagram_larger_than_the_read_size_is_reported_truncated);
    RUN(port_unreachable_on_connected_udp_is_an_error_and_the_socket_lives_on);
    RUN(unconnected_udp_reports_unreachable_destinations_only_with_recverr);
    RUN(many_datagrams_arrive_in_order);
    RUN(close_inside_the_callback_stops_delivery);
    RUN(pause_holds_datagrams_in_the_kernel_until_resume);
    RUN(broadcast_and_multicast_options);
    RUN(adopt_and_detach_a_socket);
    RUN(full_socket_says_eagain_then_on_writable_once_drained);
    RUN(sockets_left_open_are_closed_by_loop_free);
    return test_summary();
}
