/* c_echo_server.c - the plain libevent echo server a C developer would write: evconnlistener
 * + one bufferevent per connection; the read callback moves the input evbuffer to the output
 * with evbuffer_add_buffer (no copy: chains move); TCP_NODELAY; backpressure by disabling
 * EV_READ once the output queue reaches HIGH and re-enabling it from the write callback when
 * it drains to LOW (libevent fires the write callback at the write low watermark).
 * The marks are libcore's defaults (256 KiB / 64 KiB) so both servers queue alike.
 *
 *   c_echo_server [PORT]        (default 65432, 127.0.0.1 only; SIGINT/SIGTERM exit 0)
 *
 * Note: libevent 2.1's bufferevent reads through evbuffer_read, which reads at most 4096 bytes
 * per call (EVBUFFER_MAX_READ) and is called once per readiness; that is what this server is
 * (it is the baseline the target names), see bench/README.md. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIGH (256u * 1024u)
#define LOW (64u * 1024u)

static void read_cb(struct bufferevent *bev, void *arg) {
    (void)arg;
    struct evbuffer *out = bufferevent_get_output(bev);
    evbuffer_add_buffer(out, bufferevent_get_input(bev));
    if (evbuffer_get_length(out) >= HIGH) bufferevent_disable(bev, EV_READ);
}

static void write_cb(struct bufferevent *bev, void *arg) {
    (void)arg;
    /* Runs when the output drained to LOW (the write low watermark). */
    if (!(bufferevent_get_enabled(bev) & EV_READ)) bufferevent_enable(bev, EV_READ);
}

static void event_cb(struct bufferevent *bev, short what, void *arg) {
    (void)arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) bufferevent_free(bev);
}

static void accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg) {
    (void)sa; (void)socklen; (void)arg;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct bufferevent *bev =
        bufferevent_socket_new(evconnlistener_get_base(lev), fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) { evutil_closesocket(fd); return; }
    bufferevent_setcb(bev, read_cb, write_cb, event_cb, NULL);
    bufferevent_setwatermark(bev, EV_WRITE, LOW, 0);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void accept_error_cb(struct evconnlistener *lev, void *arg) {
    (void)lev; (void)arg;
    perror("accept");
}

static void on_signal(evutil_socket_t sig, short what, void *base) {
    (void)sig; (void)what;
    event_base_loopbreak(base);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 65432;
    signal(SIGPIPE, SIG_IGN);
    struct event_base *base = event_base_new();
    if (!base) { fprintf(stderr, "event_base_new failed\n"); return 1; }
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct evconnlistener *lev = evconnlistener_new_bind(
        base, accept_cb, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
        1024, (struct sockaddr *)&sin, sizeof sin);
    if (!lev) { perror("bind 127.0.0.1"); return 1; }
    evconnlistener_set_error_cb(lev, accept_error_cb);
    struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
    struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    fprintf(stderr, "c_echo_server (libevent %s, %s) listening on 127.0.0.1:%d\n",
            event_get_version(), event_base_get_method(base), port);
    event_base_dispatch(base);
    event_free(sigint);
    event_free(sigterm);
    evconnlistener_free(lev);
    event_base_free(base);
    return 0;
}
