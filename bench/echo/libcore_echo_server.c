/* libcore_echo_server.c - the same echo server on libcore's C API (gale_listener +
 * gale_stream), as in README.md's C example: on_data writes a copy of the slice and pauses
 * reading when the write returns 1 (queue at the 256 KiB high-water mark); on_writable (the
 * queue drained to 64 KiB) resumes reading. Separates what the C core costs from what the
 * Swift layer above it costs.
 *
 *   libcore_echo_server [PORT]  (default 65432, 127.0.0.1 only; SIGINT/SIGTERM exit 0) */
#include <gale.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static void on_data(gale_stream *s, const void *data, size_t len, void *ud) {
    (void)ud;
    if (gale_stream_write(s, data, len) == 1) gale_stream_pause_reading(s);
}

static void on_writable(gale_stream *s, void *ud) {
    (void)ud;
    gale_stream_resume_reading(s);
}

static void on_eof(gale_stream *s, void *ud) {
    (void)ud;
    gale_stream_close_after_flush(s, 0);
}

static void on_error(gale_stream *s, int err, void *ud) {
    (void)err; (void)ud;
    gale_stream_close(s);
}

static const gale_stream_callbacks echo = {
    .on_data = on_data, .on_eof = on_eof, .on_writable = on_writable, .on_error = on_error};

static void on_accept(gale_listener *l, int fd, const gale_addr *peer, void *loop) {
    (void)l; (void)peer;
    gale_stream *s;
    if (gale_stream_new(loop, fd, &s) == 0) gale_stream_start(s, &echo, NULL, NULL);
}

static void on_signal(gale_signal *sig, int signum, void *loop) {
    (void)sig; (void)signum;
    gale_loop_stop(loop);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 65432;
    gale_loop *loop;
    gale_listener *l;
    gale_signal *si, *st;
    int r = gale_loop_new(&loop);
    if (r < 0) { fprintf(stderr, "gale_loop_new: %s\n", gale_strerror(r)); return 1; }
    r = gale_listener_open(loop, "127.0.0.1", port, GALE_LISTEN_BACKLOG_DEFAULT, 0, on_accept, loop, NULL, &l);
    if (r < 0) { fprintf(stderr, "listen 127.0.0.1:%d: %s\n", port, gale_strerror(r)); return 1; }
    gale_signal_start(loop, SIGINT, on_signal, loop, NULL, &si);
    gale_signal_start(loop, SIGTERM, on_signal, loop, NULL, &st);
    fprintf(stderr, "libcore_echo_server listening on 127.0.0.1:%d\n", port);
    r = gale_loop_run(loop);
    gale_loop_free(loop); /* closes the listener, the signals and open streams */
    return r < 0 ? 1 : 0;
}
