/* A C program that uses libcore the way a user's would: built outside the project with
 * `cc consumer.c $(pkg-config --cflags --libs core)` against an installed copy. It echoes a
 * message through a listener and a stream on loopback and exits 0 on success. */
#include <gale.h>

#include <stdio.h>
#include <string.h>

static const char msg[] = "hello from a libcore consumer";
static char got[sizeof msg];
static size_t ngot;

static void on_echo(gale_stream *s, const void *data, size_t len, void *ud) { gale_stream_write(s, data, len); }
static void on_echo_eof(gale_stream *s, void *ud) { gale_stream_close_after_flush(s, 0); }
static const gale_stream_callbacks echo = {.on_data = on_echo, .on_eof = on_echo_eof};

static void on_accept(gale_listener *l, int fd, const gale_addr *peer, void *ud) {
    gale_stream *s;
    if (gale_stream_new(ud, fd, &s) == 0) gale_stream_start(s, &echo, NULL, NULL);
}

static void on_reply(gale_stream *s, const void *data, size_t len, void *ud) {
    if (ngot + len <= sizeof got) memcpy(got + ngot, data, len);
    ngot += len;
}
static void on_reply_eof(gale_stream *s, void *ud) {
    gale_stream_close(s);
    gale_loop_stop(ud);
}
static const gale_stream_callbacks client = {.on_data = on_reply, .on_eof = on_reply_eof};

static void on_connected(gale_connect *req, gale_stream *s, int err, void *ud) {
    if (err) {
        fprintf(stderr, "connect: %s\n", gale_strerror(err));
        gale_loop_stop(ud);
        return;
    }
    gale_stream_start(s, &client, ud, NULL);
    gale_stream_write(s, msg, sizeof msg - 1);
    gale_stream_shutdown(s);
}

int main(void) {
    gale_loop *loop;
    gale_listener *l;
    if (gale_loop_new(&loop) < 0) return 1;
    int err = gale_listener_open(loop, "127.0.0.1", 0, GALE_LISTEN_BACKLOG_DEFAULT, 0, on_accept, loop, NULL, &l);
    if (err < 0) {
        fprintf(stderr, "listen: %s\n", gale_strerror(err));
        return 1;
    }
    gale_connect_tcp(loop, "127.0.0.1", gale_listener_port(l), 5000000000ull, on_connected, loop, NULL, NULL);
    gale_loop_run(loop);
    gale_loop_free(loop);
    int ok = ngot == sizeof msg - 1 && memcmp(got, msg, ngot) == 0;
    printf("%s: echoed %zu bytes\n", ok ? "ok" : "FAILED", ngot);
    return ok ? 0 : 1;
}
