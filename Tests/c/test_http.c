/* test_http.c - the HTTP/1.1 server engine (gale_http.h) end to end over real sockets.
 *
 * The server runs on the main thread's loop with C handlers; each test's client is a plain
 * blocking socket program on a second thread (socket timeouts bound every read and write).
 * When the client is done it posts gale_loop_stop; run_for bounds the loop in any case, and
 * checks that need the server's state after the client finished run on the main thread after
 * the join. A client that must wait for the server (a connection counted, a timer fired)
 * asks the loop through gale_loop_post (on_loop), never by sleeping and hoping.
 *
 * Loopback only, port 0, plus AF_UNIX SOCK_SEQPACKET socket pairs handed over with
 * gale_http_server_adopt where a test must see the server's individual write() calls. */
#include <gale.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "loop_util.h"

static int under_valgrind(void) { return getenv("GALE_UNDER_VALGRIND") != NULL; }
/* How long a client waits for something that should come (only bounds a failure). */
static int wait_ms(void) { return under_valgrind() ? 30000 : 5000; }

static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 + 3); }

/* ==== the server side ==================================================================== */

typedef struct hs hs;

/* What a request's ud is, so on_abort and on_writable know what to do with it. */
enum { UD_LATER = 1, UD_UPLOAD, UD_FLOOD, UD_TICKER };

typedef struct {
    char method[16], target[128], path[128], query[64], custom[32], head_first[8], peer[64];
    int version, count, keep_alive, find_missing, header_oob, peer_port, peer_family, body_len, head_ends_crlf;
    int first_name_ok;
} inspect_rec;

struct hs {
    gale_loop *loop;
    gale_http_server *srv;
    int port;
    /* A test's own handler, tried first; returns 1 if it took the request. */
    int (*custom)(hs *h, gale_http_request *req);
    void (*client)(hs *h);
    void *arg;
    /* What the handlers saw (loop thread). */
    int requests;
    int aborts, abort_err, abort_end_rc;
    int eofs, eof_later; /* on_peer_eof calls, and how many of them were for a /later request */
    int later_fired, later_rc[8];
    int rc[64]; /* return codes recorded by handlers, see each handler */
    int nrc;
    int done_calls, done_conns, free_in_done;
    int writables;
    int depth, max_depth; /* on_request nesting, for handlers that track it */
    /* the /flood producer's progress and bursts (bytes accepted per fill, up to a 1) */
    size_t fl_written, fl_first_burst, fl_max_burst;
    int fl_bursts, fl_writables;
    inspect_rec insp[4];
    int ninsp;
    /* Answers for the client thread (on_loop). */
    atomic_int seen;
};

static void rec(hs *h, int rc) {
    if (h->nrc < 64) h->rc[h->nrc++] = rc;
}

static int slice_is(gale_slice s, const char *lit) { return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0; }

/* The number after key= in the query, or dflt. */
static long qnum(const gale_http_request *req, const char *key, long dflt) {
    gale_slice q = gale_http_request_query(req);
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl + 1 <= q.len; i++) {
        if ((i == 0 || q.ptr[i - 1] == '&') && memcmp(q.ptr + i, key, kl) == 0 && q.ptr[i + kl] == '=') {
            long v = 0;
            for (size_t j = i + kl + 1; j < q.len && q.ptr[j] >= '0' && q.ptr[j] <= '9'; j++) v = v * 10 + (q.ptr[j] - '0');
            return v;
        }
    }
    return dflt;
}

static void end_str(gale_http_request *req, const char *s) { gale_http_response_end(req, s, strlen(s)); }

/* ---- /later: answered from a timer ---------------------------------------------------- */

typedef struct {
    int kind;
    hs *h;
    gale_http_request *req;
    char body[64];
} later;

static void later_fire(gale_timer *t, void *ud) {
    later *l = ud;
    hs *h = l->h;
    int rc = gale_http_response_end(l->req, l->body, strlen(l->body));
    if (h->later_fired < 8) h->later_rc[h->later_fired] = rc;
    h->later_fired++;
    gale_timer_free(t); /* frees l */
}

static void start_later(hs *h, gale_http_request *req, long ms, const char *body) {
    later *l = calloc(1, sizeof *l);
    l->kind = UD_LATER;
    l->h = h;
    l->req = req;
    snprintf(l->body, sizeof l->body, "%s", body);
    gale_http_request_set_ud(req, l, NULL); /* the timer owns l */
    gale_timer *t;
    CHECK_EQ_INT(gale_timer_new(h->loop, later_fire, l, free, &t), 0);
    gale_timer_start(t, (uint64_t)ms * MS, 0);
}

/* ---- /upload: a streamed request body, paused and resumed ----------------------------- */

typedef struct {
    int kind;
    hs *h;
    gale_http_request *req;
    gale_timer *resume;
    size_t got, next_pause;
    int bad, paused, pauses, while_paused;
} upload;

static void upload_free(void *ud) {
    upload *u = ud;
    gale_timer_free(u->resume);
    free(u);
}

static void upload_resume(gale_timer *t, void *ud) {
    upload *u = ud;
    u->paused = 0;
    gale_http_request_resume_body(u->req);
}

/* ---- /flood: a streamed response that honours backpressure ---------------------------- */

typedef struct {
    int kind;
    hs *h;
    gale_http_request *req;
    size_t total, chunk, written;
    int ended;
    char *buf;
} flood;

static void flood_free(void *ud) {
    flood *f = ud;
    free(f->buf);
    free(f);
}

static void flood_fill(flood *f) {
    size_t burst = 0;
    while (f->written < f->total) {
        size_t n = f->total - f->written < f->chunk ? f->total - f->written : f->chunk;
        for (size_t i = 0; i < n; i++) f->buf[i] = (char)pattern(f->written + i);
        int r = gale_http_response_write(f->req, f->buf, n);
        CHECK(r == 0 || r == 1);
        if (r < 0) break;
        f->written += n;
        burst += n;
        if (r == 1) break;
    }
    hs *h = f->h;
    if (h->fl_bursts++ == 0) h->fl_first_burst = burst;
    if (burst > h->fl_max_burst) h->fl_max_burst = burst;
    h->fl_written = f->written;
    if (f->written == f->total && !f->ended) {
        f->ended = 1;
        /* ends (and frees f through the request's ud) */
        int rc = gale_http_response_end(f->req, NULL, 0);
        rec(h, rc);
    }
}

/* ---- /tick: a never-ending stream (server-sent events style) -------------------------- */

typedef struct {
    int kind;
    hs *h;
    gale_http_request *req;
    gale_timer *t;
    int ticks;
} ticker;

static void ticker_free(void *ud) {
    ticker *k = ud;
    gale_timer_free(k->t);
    free(k);
}

static void ticker_fire(gale_timer *t, void *ud) {
    ticker *k = ud;
    char line[32];
    int n = snprintf(line, sizeof line, "tick %d\n", k->ticks++);
    if (gale_http_response_write(k->req, line, (size_t)n) < 0) gale_timer_stop(t);
}

/* ---- the callbacks -------------------------------------------------------------------- */

static int on_head(gale_http_request *req, void *ud) {
    gale_slice p = gale_http_request_path(req);
    if (p.len >= 7 && memcmp(p.ptr, "/upload", 7) == 0) return GALE_HTTP_BODY_STREAM;
    return GALE_HTTP_BODY_BUFFER;
}

static void inspect(hs *h, gale_http_request *req) {
    if (h->ninsp >= 4) return;
    inspect_rec *r = &h->insp[h->ninsp++];
    gale_slice s;
#define COPY(dst, sl) snprintf(dst, sizeof dst, "%.*s", (int)(sl).len, (sl).ptr)
    s = gale_http_request_method(req);
    COPY(r->method, s);
    s = gale_http_request_target(req);
    COPY(r->target, s);
    s = gale_http_request_path(req);
    COPY(r->path, s);
    s = gale_http_request_query(req);
    COPY(r->query, s);
    r->version = gale_http_request_version(req);
    r->count = (int)gale_http_request_header_count(req);
    /* The parsed head a binding reads in one call says the same as the accessors. */
    const gale_http_head *ph = gale_http_request_parsed(req);
    const char *hb = gale_http_request_head(req).ptr;
    gale_slice m = gale_http_request_method(req), p2 = gale_http_request_path(req);
    CHECK(hb + ph->method_off == m.ptr && ph->method_len == m.len);
    CHECK(hb + ph->path_off == p2.ptr && ph->path_len == p2.len);
    CHECK_EQ_INT(ph->num_fields, (uint32_t)r->count);
    CHECK_EQ_INT(ph->version_major * 10 + ph->version_minor, r->version);
    gale_slice name, value;
    if (gale_http_request_header(req, 0, &name, &value) == 0) r->first_name_ok = slice_is(name, "Host");
    r->header_oob = gale_http_request_header(req, (uint32_t)r->count, &name, &value);
    if (gale_http_request_find_header(req, "X-CUSTOM", 8, &value) == 1) COPY(r->custom, value);
    r->find_missing = gale_http_request_find_header(req, "x-absent", 8, &value);
    r->keep_alive = gale_http_request_keep_alive(req);
    const gale_addr *peer = gale_http_request_peer(req);
    r->peer_port = gale_addr_port(peer);
    r->peer_family = gale_addr_family(peer);
    gale_addr_format(peer, r->peer, sizeof r->peer);
    gale_slice head = gale_http_request_head(req);
    snprintf(r->head_first, sizeof r->head_first, "%.*s", head.len < 4 ? (int)head.len : 4, head.ptr);
    r->head_ends_crlf = head.len >= 4 && memcmp(head.ptr + head.len - 4, "\r\n\r\n", 4) == 0;
    r->body_len = (int)gale_http_request_body(req).len;
#undef COPY
}

static void on_request(gale_http_request *req, void *ud) {
    hs *h = ud;
    h->requests++;
    CHECK(gale_loop_in_loop_thread(h->loop));
    if (h->custom && h->custom(h, req)) return;
    gale_slice p = gale_http_request_path(req);
    char target[160];
    gale_slice t = gale_http_request_target(req);
    snprintf(target, sizeof target, "%.*s", (int)t.len, t.ptr);

    if (slice_is(p, "/hello")) {
        CHECK_EQ_INT(gale_http_response_header(req, "Content-Type", 12, "text/plain", 10), 0);
        CHECK_EQ_INT(gale_http_response_header(req, "X-Target", 8, target, strlen(target)), 0);
        end_str(req, "hello world");
    } else if (slice_is(p, "/later")) {
        char body[64];
        snprintf(body, sizeof body, "later %ld", qnum(req, "tag", 0));
        CHECK_EQ_INT(gale_http_response_header(req, "X-Target", 8, target, strlen(target)), 0);
        start_later(h, req, qnum(req, "ms", 50), body);
    } else if (slice_is(p, "/read-after-end")) {
        /* The head and the fields stay in place until on_request returns, even once the
         * response has ended in it (what a binding answering inline relies on). */
        gale_slice head = gale_http_request_head(req);
        uint32_t nf = 0;
        const gale_http_field *f = gale_http_request_fields(req, &nf);
        char before[256];
        size_t n = head.len < sizeof before ? head.len : sizeof before;
        memcpy(before, head.ptr, n);
        gale_http_field first = nf ? f[0] : (gale_http_field){0};
        end_str(req, "ended");
        CHECK(memcmp(head.ptr, before, n) == 0);
        CHECK(nf > 0 && memcmp(&f[0], &first, sizeof first) == 0);
        CHECK(nf > 0 && f[0].name_len == 4 && strncasecmp(head.ptr + f[0].name_off, "Host", 4) == 0);
    } else if (slice_is(p, "/later-bad")) {
        /* a head begun now and ended from a timer with a body that breaks its Content-Length */
        CHECK_EQ_INT(gale_http_response_header(req, "Content-Length", 14, "99", 2), 0);
        start_later(h, req, qnum(req, "ms", 50), "short");
    } else if (slice_is(p, "/never")) {
        /* answered by on_abort only */
    } else if (slice_is(p, "/echo")) {
        gale_slice b = gale_http_request_body(req);
        gale_http_response_end(req, b.ptr, b.len);
    } else if (slice_is(p, "/stream")) {
        /* three chunks: "part1 " held then flushed with the head, "part2 ", and "end" */
        CHECK_EQ_INT(gale_http_response_write(req, "part1 ", 6), 0);
        CHECK_EQ_INT(gale_http_response_head_sent(req), 0);
        CHECK_EQ_INT(gale_http_response_flush(req), 0);
        CHECK_EQ_INT(gale_http_response_head_sent(req), 1);
        CHECK_EQ_INT(gale_http_response_header(req, "X-Late", 6, "1", 1), -EALREADY);
        CHECK_EQ_INT(gale_http_response_start(req, 500, NULL), -EALREADY);
        CHECK_EQ_INT(gale_http_response_status(req), 200);
        CHECK_EQ_INT(gale_http_response_write(req, "part2 ", 6), 0);
        rec(h, gale_http_response_end(req, "end", 3));
    } else if (slice_is(p, "/head-cl")) {
        /* what a HEAD handler does: announce the length, send nothing */
        CHECK_EQ_INT(gale_http_response_header(req, "Content-Length", 14, "1234", 4), 0);
        rec(h, gale_http_response_end(req, NULL, 0));
    } else if (slice_is(p, "/len-ok")) {
        CHECK_EQ_INT(gale_http_response_header(req, "Content-Length", 14, "5", 1), 0);
        rec(h, gale_http_response_end(req, "hello", 5));
    } else if (slice_is(p, "/len-short")) {
        CHECK_EQ_INT(gale_http_response_header(req, "Content-Length", 14, "10", 2), 0);
        rec(h, gale_http_response_end(req, "hello", 5));
    } else if (slice_is(p, "/len-short-stream")) {
        CHECK_EQ_INT(gale_http_response_header(req, "Content-Length", 14, "10", 2), 0);
        CHECK_EQ_INT(gale_http_response_flush(req), 0);
        CHECK_EQ_INT(gale_http_response_write(req, "hello", 5), 0);
        rec(h, gale_http_response_end(req, NULL, 0));
    } else if (slice_is(p, "/len-over-stream")) {
        CHECK_EQ_INT(gale_http_response_header(req, "Content-Length", 14, "5", 1), 0);
        CHECK_EQ_INT(gale_http_response_flush(req), 0);
        rec(h, gale_http_response_write(req, "hel", 3));
        rec(h, gale_http_response_write(req, "lo world", 8)); /* past the declared length */
        rec(h, gale_http_response_write(req, "lo", 2));
        rec(h, gale_http_response_end(req, NULL, 0));
    } else if (slice_is(p, "/len-over-end")) {
        CHECK_EQ_INT(gale_http_response_header(req, "Content-Length", 14, "5", 1), 0);
        CHECK_EQ_INT(gale_http_response_flush(req), 0);
        CHECK_EQ_INT(gale_http_response_write(req, "hel", 3), 0);
        rec(h, gale_http_response_end(req, "lo world", 8)); /* refused: the connection closes */
    } else if (slice_is(p, "/inject")) {
        /* status and reason */
        rec(h, gale_http_response_start(req, 199, NULL));
        rec(h, gale_http_response_start(req, 100, NULL));
        rec(h, gale_http_response_start(req, 1000, NULL));
        rec(h, gale_http_response_start(req, 200, "OK\r\nX-Evil: 1"));
        rec(h, gale_http_response_start(req, 201, NULL));
        rec(h, gale_http_response_start(req, 202, NULL)); /* -EALREADY */
        /* values */
        rec(h, gale_http_response_header(req, "X-A", 3, "a\r\nX-Evil: 1", 13));
        rec(h, gale_http_response_header(req, "X-A", 3, "a\nX-Evil: 1", 12));
        rec(h, gale_http_response_header(req, "X-A", 3, "a\rb", 3));
        rec(h, gale_http_response_header(req, "X-A", 3, "a\0b", 3));
        /* names */
        rec(h, gale_http_response_header(req, "X A", 3, "v", 1));
        rec(h, gale_http_response_header(req, "X:A", 3, "v", 1));
        rec(h, gale_http_response_header(req, "", 0, "v", 1));
        rec(h, gale_http_response_header(req, "X-\r\nA", 5, "v", 1));
        /* framing is the server's */
        rec(h, gale_http_response_header(req, "Transfer-Encoding", 17, "chunked", 7));
        rec(h, gale_http_response_header(req, "transfer-encoding", 17, "identity", 8));
        rec(h, gale_http_response_header(req, "Content-Length", 14, "12x", 3));
        rec(h, gale_http_response_header(req, "Content-Length", 14, "", 0));
        /* fine */
        rec(h, gale_http_response_header(req, "X-Fine", 6, "a b\tc", 5));
        rec(h, gale_http_response_end(req, "ok", 2));
    } else if (slice_is(p, "/checked")) {
        /* A binding's call: no second scan, but framing and Connection are still the server's. */
        CHECK_EQ_INT(gale_http_response_header_checked(req, "Content-Type", 12, "text/plain", 10), 0);
        CHECK_EQ_INT(gale_http_response_header_checked(req, "Content-Length", 14, "7", 1), 0);
        CHECK_EQ_INT(gale_http_response_header_checked(req, "X-Checked", 9, "yes", 3), 0);
        CHECK_EQ_INT(gale_http_response_header_checked(req, "Connection", 10, "close", 5), 0);
        CHECK_EQ_INT(gale_http_request_keep_alive(req), 0);
        CHECK_EQ_INT(gale_http_response_end(req, "checked", 7), 0);
    } else if (slice_is(p, "/status")) {
        int code = (int)qnum(req, "code", 200);
        CHECK_EQ_INT(gale_http_response_start(req, code, NULL), 0);
        rec(h, gale_http_response_write(req, "x", 1));
        rec(h, gale_http_response_end(req, NULL, 0));
    } else if (slice_is(p, "/big")) {
        size_t n = (size_t)qnum(req, "n", 1024);
        char *b = malloc(n);
        for (size_t i = 0; i < n; i++) b[i] = (char)pattern(i);
        gale_http_response_end(req, b, n);
        free(b);
    } else if (slice_is(p, "/flood")) {
        flood *f = calloc(1, sizeof *f);
        f->kind = UD_FLOOD;
        f->h = h;
        f->req = req;
        f->total = (size_t)qnum(req, "total", 1 << 20);
        f->chunk = (size_t)qnum(req, "chunk", 8192);
        f->buf = malloc(f->chunk);
        gale_http_request_set_ud(req, f, flood_free);
        CHECK_EQ_INT(gale_http_response_flush(req), 0);
        flood_fill(f);
    } else if (slice_is(p, "/tick")) {
        ticker *k = calloc(1, sizeof *k);
        k->kind = UD_TICKER;
        k->h = h;
        k->req = req;
        gale_http_request_set_ud(req, k, ticker_free);
        CHECK_EQ_INT(gale_http_response_flush(req), 0);
        gale_timer_new(h->loop, ticker_fire, k, NULL, &k->t);
        gale_timer_start(k->t, 10 * MS, 10 * MS);
    } else if (slice_is(p, "/upload")) {
        upload *u = calloc(1, sizeof *u);
        u->kind = UD_UPLOAD;
        u->h = h;
        u->req = req;
        u->next_pause = 64 * 1024;
        gale_timer_new(h->loop, upload_resume, u, NULL, &u->resume);
        gale_http_request_set_ud(req, u, upload_free);
    } else if (slice_is(p, "/upload-refused")) {
        /* answered before the body is read: the connection cannot be reused */
        gale_http_response_start(req, 403, NULL);
        rec(h, gale_http_request_keep_alive(req));
        end_str(req, "no");
    } else if (slice_is(p, "/bye")) {
        CHECK_EQ_INT(gale_http_response_header(req, "Connection", 10, "close", 5), 0);
        CHECK_EQ_INT(gale_http_request_keep_alive(req), 0);
        end_str(req, "bye");
    } else if (slice_is(p, "/upload-stall")) {
        /* waits for a body that never completes; on_abort ends it */
    } else if (p.len >= 8 && memcmp(p.ptr, "/inspect", 8) == 0) {
        inspect(h, req);
        end_str(req, "inspected");
    } else {
        gale_http_response_start(req, 404, NULL);
        end_str(req, "not found");
    }
}

static void on_body(gale_http_request *req, const void *data, size_t len, void *ud) {
    upload *u = gale_http_request_ud(req);
    if (!u || u->kind != UD_UPLOAD) return;
    if (u->paused) u->while_paused++;
    const unsigned char *d = data;
    for (size_t i = 0; i < len; i++)
        if (d[i] != pattern(u->got + i)) u->bad++;
    u->got += len;
    if (u->got >= u->next_pause) {
        u->next_pause += 256 * 1024;
        u->paused = 1;
        u->pauses++;
        gale_http_request_pause_body(req);
        gale_timer_start(u->resume, 20 * MS, 0);
    }
}

static void on_body_end(gale_http_request *req, void *ud) {
    upload *u = gale_http_request_ud(req);
    if (!u || u->kind != UD_UPLOAD) return;
    char body[96];
    snprintf(body, sizeof body, "got=%zu bad=%d pauses=%d while_paused=%d", u->got, u->bad, u->pauses,
             u->while_paused);
    end_str(req, body);
}

static void on_writable(gale_http_request *req, void *ud) {
    hs *h = ud;
    h->writables++;
    flood *f = gale_http_request_ud(req);
    if (f && f->kind == UD_FLOOD) {
        h->fl_writables++;
        flood_fill(f);
    }
}

static void on_abort(gale_http_request *req, int err, void *ud) {
    hs *h = ud;
    h->aborts++;
    h->abort_err = err;
    CHECK(gale_http_request_aborted(req));
    int *kind = gale_http_request_ud(req);
    if (kind && *kind == UD_LATER) return; /* its timer ends it */
    /* Stop producing, but still end the request to release it. */
    h->abort_end_rc = gale_http_response_end(req, NULL, 0);
}

static void on_peer_eof(gale_http_request *req, void *ud) {
    hs *h = ud;
    h->eofs++;
    CHECK(!gale_http_request_aborted(req)); /* only told: the answer may still go out */
    int *kind = gale_http_request_ud(req);
    if (kind && *kind == UD_LATER) h->eof_later++;
}

static const gale_http_callbacks cbs = {
    .on_head = on_head,
    .on_request = on_request,
    .on_body = on_body,
    .on_body_end = on_body_end,
    .on_writable = on_writable,
    .on_abort = on_abort,
    .on_peer_eof = on_peer_eof,
};

static void hs_start(hs *h, const gale_http_config *cfg) {
    CHECK_EQ_INT(gale_loop_new(&h->loop), 0);
    CHECK_EQ_INT(gale_http_server_new(h->loop, cfg, &cbs, h, NULL, &h->srv), 0);
    gale_listener *l = NULL;
    CHECK_EQ_INT(gale_http_server_listen(h->srv, "127.0.0.1", 0, GALE_LISTEN_BACKLOG_DEFAULT, 0, &l), 0);
    h->port = l ? gale_listener_port(l) : -1;
    CHECK(h->port > 0);
}

static void stop_loop(void *ud) { gale_loop_stop(ud); }

static void *client_main(void *arg) {
    hs *h = arg;
    h->client(h);
    gale_loop_post(h->loop, stop_loop, h->loop, NULL);
    return NULL;
}

/* Serve while fn runs as a blocking client on another thread, for at most ms. */
static void hs_run_client(hs *h, void (*fn)(hs *h), unsigned ms) {
    if (under_valgrind()) ms *= 6;
    h->client = fn;
    pthread_t t;
    pthread_create(&t, NULL, client_main, h);
    CHECK(run_for(h->loop, ms));
    pthread_join(t, NULL);
}

static void hs_finish(hs *h) {
    gale_http_server_free(h->srv);
    gale_loop_free(h->loop);
}

/* A loopback TCP connection whose server side is handed to the server with
 * gale_http_server_adopt, with small socket buffers where asked (0: the defaults), so that
 * what the server queues stays in its own queue instead of disappearing into an autotuned
 * kernel buffer. @return the client's descriptor (put it in h->arg). Loop thread. */
static int adopt_tcp(hs *h, int server_sndbuf, int client_rcvbuf) {
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    CHECK_EQ_INT(bind(lfd, (struct sockaddr *)&sin, sizeof sin), 0);
    CHECK_EQ_INT(listen(lfd, 1), 0);
    getsockname(lfd, (struct sockaddr *)&sin, &len);
    int cfd = socket(AF_INET, SOCK_STREAM, 0);
    if (client_rcvbuf) setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &client_rcvbuf, sizeof client_rcvbuf);
    CHECK_EQ_INT(connect(cfd, (struct sockaddr *)&sin, sizeof sin), 0);
    int sfd = accept(lfd, NULL, NULL);
    close(lfd);
    if (server_sndbuf) setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &server_sndbuf, sizeof server_sndbuf);
    CHECK_EQ_INT(gale_http_server_adopt(h->srv, sfd), 0);
    return cfd;
}

/* ---- asking the loop from the client thread ------------------------------------------- */

typedef struct {
    hs *h;
    void (*fn)(hs *h, void *arg);
    void *arg;
    atomic_int state; /* 0 queued, 1 done, 2 abandoned by the waiter */
} call_box;

static void box_run(void *ud) {
    call_box *b = ud;
    b->fn(b->h, b->arg);
    int expect = 0;
    if (!atomic_compare_exchange_strong(&b->state, &expect, 1)) free(b); /* the waiter gave up */
}
static void box_drop(void *ud) {
    call_box *b = ud;
    int expect = 0;
    if (!atomic_compare_exchange_strong(&b->state, &expect, 1)) free(b);
}

/* Run fn(h, arg) on the loop thread and wait for it. @return 1 if it ran. */
static int on_loop(hs *h, void (*fn)(hs *h, void *arg), void *arg) {
    call_box *b = calloc(1, sizeof *b);
    b->h = h;
    b->fn = fn;
    b->arg = arg;
    if (gale_loop_post(h->loop, box_run, b, box_drop) < 0) {
        free(b);
        return 0;
    }
    for (int i = 0; i < wait_ms(); i++) {
        if (atomic_load(&b->state) == 1) {
            free(b);
            return 1;
        }
        usleep(1000);
    }
    int expect = 0;
    if (!atomic_compare_exchange_strong(&b->state, &expect, 2)) free(b); /* it ran just now */
    return 0;
}

static void probe_conns(hs *h, void *arg) { atomic_store(&h->seen, h->srv ? (int)gale_http_server_connections(h->srv) : -1); }
static void probe_requests(hs *h, void *arg) { atomic_store(&h->seen, h->requests); }
static void probe_later(hs *h, void *arg) { atomic_store(&h->seen, h->later_fired); }
static void probe_aborts(hs *h, void *arg) { atomic_store(&h->seen, h->aborts); }
static void probe_done(hs *h, void *arg) { atomic_store(&h->seen, h->done_calls); }

/* Wait until probe reports want. @return 1 if it did in time. */
static int wait_for(hs *h, void (*probe)(hs *h, void *arg), int want) {
    uint64_t end = gale_now_ns() + (uint64_t)wait_ms() * MS;
    while (gale_now_ns() < end) {
        if (on_loop(h, probe, NULL) && atomic_load(&h->seen) == want) return 1;
        usleep(2000);
    }
    return 0;
}

/* ==== the client side ==================================================================== */

typedef struct {
    int fd;
    char *buf; /* unconsumed input: buf[0..len) */
    size_t len, cap;
} cl;

static void set_timeouts(int fd, int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static void cl_init_fd(cl *c, int fd) {
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->cap = 64 * 1024;
    c->buf = malloc(c->cap);
    set_timeouts(fd, wait_ms());
}

/* Connect to the server; rcvbuf > 0 sets a small receive buffer first (no autotuning). */
static int cl_open_rcvbuf(cl *c, int port, int rcvbuf) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cl_init_fd(c, fd);
    if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0 ? 0 : -errno;
}

static int cl_open(cl *c, int port) { return cl_open_rcvbuf(c, port, 0); }

static void cl_close(cl *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
}

/* Close with a reset (SO_LINGER 0): an abortive disconnect. */
static void cl_reset(cl *c) {
    struct linger lg = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    cl_close(c);
}

static int cl_send(cl *c, const void *data, size_t len) {
    const char *p = data;
    while (len) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int cl_sends(cl *c, const char *s) { return cl_send(c, s, strlen(s)); }

/* Read more: > 0 bytes, 0 at EOF, < 0 on error or timeout. */
static ssize_t cl_fill(cl *c) {
    if (c->len == c->cap) {
        c->cap *= 2;
        c->buf = realloc(c->buf, c->cap);
    }
    ssize_t n;
    do n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0) c->len += (size_t)n;
    return n;
}

static void cl_consume(cl *c, size_t n) {
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

static int cl_need(cl *c, size_t n) {
    while (c->len < n)
        if (cl_fill(c) <= 0) return -1;
    return 0;
}

/* One CRLF-terminated line (without the CRLF) into out. */
static int cl_line(cl *c, char *out, size_t size) {
    for (;;) {
        char *e = memmem(c->buf, c->len, "\r\n", 2);
        if (e) {
            size_t n = (size_t)(e - c->buf);
            if (n >= size) return -1;
            memcpy(out, c->buf, n);
            out[n] = 0;
            cl_consume(c, n + 2);
            return 0;
        }
        if (cl_fill(c) <= 0) return -1;
    }
}

/* 1 if the server closed the connection (EOF or reset) with nothing more to read. */
static int cl_eof(cl *c) {
    if (c->len) return 0;
    char b[64];
    ssize_t n;
    do n = recv(c->fd, b, sizeof b, 0);
    while (n < 0 && errno == EINTR);
    return n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE));
}

typedef struct {
    int status, minor;
    char head[16384]; /* the raw head, NUL-terminated */
    size_t head_len;
    char *body;
    size_t body_len;
    int chunked, until_close, chunks;
} resp;

typedef void (*body_sink)(void *ctx, const char *p, size_t n);

static void resp_free(resp *r) {
    free(r->body);
    r->body = NULL;
}

static void store_body(void *ctx, const char *p, size_t n) {
    resp *r = ctx;
    r->body = realloc(r->body, r->body_len + n + 1);
    memcpy(r->body + r->body_len, p, n);
    r->body_len += n;
    r->body[r->body_len] = 0;
}

/* The value of header name (case-insensitive) into out; @return how many such fields. */
static int hdr(const resp *r, const char *name, char *out, size_t size) {
    int found = 0;
    size_t nl = strlen(name);
    const char *line = strstr(r->head, "\r\n");
    while (line && line[2] != '\r') {
        line += 2;
        const char *e = strstr(line, "\r\n");
        if (!e) break;
        if ((size_t)(e - line) > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            if (found++ == 0 && out) {
                const char *v = line + nl + 1;
                while (*v == ' ' || *v == '\t') v++;
                size_t n = (size_t)(e - v);
                if (n >= size) n = size - 1;
                memcpy(out, v, n);
                out[n] = 0;
            }
        }
        line = e;
    }
    return found;
}

static int hdr_is(const resp *r, const char *name, const char *value) {
    char v[512];
    return hdr(r, name, v, sizeof v) == 1 && strcmp(v, value) == 0;
}

/* Read one response. no_body: the answer to HEAD. The body goes to sink (NULL: r->body). */
static int cl_read_resp_sink(cl *c, resp *r, int no_body, body_sink sink, void *ctx) {
    memset(r, 0, sizeof *r);
    if (!sink) {
        sink = store_body;
        ctx = r;
        r->body = calloc(1, 1);
    }
    for (;;) {
        char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (e) {
            size_t n = (size_t)(e + 4 - c->buf);
            if (n >= sizeof r->head) return -1;
            memcpy(r->head, c->buf, n);
            r->head[n] = 0;
            r->head_len = n;
            cl_consume(c, n);
            break;
        }
        if (c->len > sizeof r->head || cl_fill(c) <= 0) return -1;
    }
    if (sscanf(r->head, "HTTP/1.%d %d", &r->minor, &r->status) != 2 || memcmp(r->head, "HTTP/1.", 7) != 0) return -1;
    if (no_body || r->status < 200 || r->status == 204 || r->status == 304) return 0;
    char v[64];
    if (hdr(r, "Transfer-Encoding", v, sizeof v)) {
        if (strcmp(v, "chunked") != 0) return -1;
        r->chunked = 1;
        for (;;) {
            char line[256];
            if (cl_line(c, line, sizeof line) < 0) return -1;
            char *end;
            unsigned long long n = strtoull(line, &end, 16);
            if (end == line) return -1;
            if (n == 0) { /* trailers until the empty line */
                do
                    if (cl_line(c, line, sizeof line) < 0) return -1;
                while (line[0]);
                return 0;
            }
            r->chunks++;
            while (n) {
                if (c->len == 0 && cl_fill(c) <= 0) return -1;
                size_t k = c->len < n ? c->len : (size_t)n;
                sink(ctx, c->buf, k);
                cl_consume(c, k);
                n -= k;
            }
            if (cl_need(c, 2) < 0 || memcmp(c->buf, "\r\n", 2) != 0) return -1;
            cl_consume(c, 2);
        }
    }
    if (hdr(r, "Content-Length", v, sizeof v)) {
        unsigned long long n = strtoull(v, NULL, 10);
        while (n) {
            if (c->len == 0 && cl_fill(c) <= 0) return -1;
            size_t k = c->len < n ? c->len : (size_t)n;
            sink(ctx, c->buf, k);
            cl_consume(c, k);
            n -= k;
        }
        return 0;
    }
    r->until_close = 1;
    for (;;) {
        if (c->len) {
            sink(ctx, c->buf, c->len);
            c->len = 0;
        }
        ssize_t n = cl_fill(c);
        if (n == 0) return 0;
        if (n < 0) return -1;
    }
}

static int cl_read_resp(cl *c, resp *r, int no_body) { return cl_read_resp_sink(c, r, no_body, NULL, NULL); }

/* Send a request and read its answer. */
static int cl_roundtrip(cl *c, const char *request, resp *r) {
    if (cl_sends(c, request) < 0) return -1;
    return cl_read_resp(c, r, strncmp(request, "HEAD ", 5) == 0);
}

/* The Date header is an IMF-fixdate (RFC 9110 5.6.7, RFC 1123 form, GMT) close to now:
 * parsed, formatted back and compared, so the weekday must match the date. */
static void check_date(const resp *r) {
    char v[128];
    CHECK_EQ_INT(hdr(r, "Date", v, sizeof v), 1);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    char *end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    CHECK(end && *end == 0);
    if (!end) return;
    time_t t = timegm(&tm);
    struct tm back;
    gmtime_r(&t, &back);
    char again[64];
    strftime(again, sizeof again, "%a, %d %b %Y %H:%M:%S GMT", &back);
    CHECK_EQ_STR(v, again);
    CHECK_EQ_INT(strlen(v), 29);
    CHECK(labs((long)(t - time(NULL))) <= 5);
}

static const char *GET_HELLO = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";

/* A fresh connection gets a normal answer: the server is still serving. */
static void check_still_serving(hs *h) {
    cl c;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    resp r;
    CHECK_EQ_INT(cl_roundtrip(&c, GET_HELLO, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "hello world");
    resp_free(&r);
    cl_close(&c);
}

/* ==== 1. GET with keep-alive ============================================================= */

static void client_keep_alive(hs *h) {
    cl c;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    for (int i = 0; i < 2; i++) {
        resp r;
        CHECK_EQ_INT(cl_roundtrip(&c, i ? "GET /hello?x=1 HTTP/1.1\r\nHost: t\r\n\r\n" : GET_HELLO, &r), 0);
        CHECK(strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17) == 0);
        check_date(&r);
        CHECK(hdr_is(&r, "Server", "Gale"));
        CHECK(hdr_is(&r, "Content-Length", "11"));
        CHECK(hdr_is(&r, "Content-Type", "text/plain"));
        CHECK(hdr_is(&r, "X-Target", i ? "/hello?x=1" : "/hello"));
        CHECK_EQ_INT(hdr(&r, "Connection", NULL, 0), 0); /* HTTP/1.1 keeps it open implicitly */
        CHECK_EQ_INT(hdr(&r, "Transfer-Encoding", NULL, 0), 0);
        CHECK_EQ_STR(r.body, "hello world");
        resp_free(&r);
    }
    CHECK(wait_for(h, probe_conns, 1)); /* both went over the one connection */
    cl_close(&c);
    CHECK(wait_for(h, probe_conns, 0)); /* and the client's close is noticed */
}

TEST(get_keep_alive_two_requests_on_one_connection) {
    hs h = {0};
    hs_start(&h, NULL);
    hs_run_client(&h, client_keep_alive, 10000);
    CHECK_EQ_INT(h.requests, 2);
    CHECK_EQ_INT(gale_http_server_requests(h.srv), 2);
    CHECK_EQ_INT(gale_http_server_connections(h.srv), 0);
    hs_finish(&h);
}

static void client_server_name(hs *h) {
    cl c;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    resp r;
    CHECK_EQ_INT(cl_roundtrip(&c, GET_HELLO, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    if (h->arg) CHECK(hdr_is(&r, "Server", h->arg));
    else CHECK_EQ_INT(hdr(&r, "Server", NULL, 0), 0);
    resp_free(&r);
    cl_close(&c);
}

TEST(server_name_configurable_or_absent) {
    gale_http_config cfg = {0};
    cfg.server_name = "Test/1.0";
    hs h = {0};
    h.arg = "Test/1.0";
    hs_start(&h, &cfg);
    hs_run_client(&h, client_server_name, 10000);
    hs_finish(&h);

    cfg.server_name = "";
    hs h2 = {0};
    hs_start(&h2, &cfg);
    hs_run_client(&h2, client_server_name, 10000);
    hs_finish(&h2);

    /* A name that would inject header lines into every response, or one too long: refused. */
    gale_loop *loop;
    CHECK_EQ_INT(gale_loop_new(&loop), 0);
    gale_http_server *srv = NULL;
    cfg.server_name = "Gale\r\nX-Evil: 1";
    CHECK_EQ_INT(gale_http_server_new(loop, &cfg, &cbs, NULL, NULL, &srv), -EINVAL);
    cfg.server_name = "Gale\n";
    CHECK_EQ_INT(gale_http_server_new(loop, &cfg, &cbs, NULL, NULL, &srv), -EINVAL);
    char longname[200];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    cfg.server_name = longname;
    CHECK_EQ_INT(gale_http_server_new(loop, &cfg, &cbs, NULL, NULL, &srv), -EINVAL);
    CHECK(srv == NULL);
    gale_loop_free(loop);
}

/* ==== 2. pipelining ====================================================================== */

static void client_pipeline(hs *h) {
    cl c;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    /* Five requests in one send: the second and fourth are answered later from timers (the
     * second after the fourth's timer would have fired), the rest at once. */
    const char *batch = "GET /hello?n=1 HTTP/1.1\r\nHost: t\r\n\r\n"
                        "GET /later?ms=80&tag=2 HTTP/1.1\r\nHost: t\r\n\r\n"
                        "GET /hello?n=3 HTTP/1.1\r\nHost: t\r\n\r\n"
                        "GET /later?ms=5&tag=4 HTTP/1.1\r\nHost: t\r\n\r\n"
                        "GET /hello?n=5 HTTP/1.1\r\nHost: t\r\n\r\n";
    CHECK_EQ_INT(cl_sends(&c, batch), 0);
    const char *targets[5] = {"/hello?n=1", "/later?ms=80&tag=2", "/hello?n=3", "/later?ms=5&tag=4", "/hello?n=5"};
    const char *bodies[5] = {"hello world", "later 2", "hello world", "later 4", "hello world"};
    for (int i = 0; i < 5; i++) {
        resp r;
        CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
        CHECK_EQ_INT(r.status, 200);
        CHECK(hdr_is(&r, "X-Target", targets[i]));
        CHECK_EQ_STR(r.body, bodies[i]);
        resp_free(&r);
    }
    /* The connection is still good afterwards. */
    resp r;
    CHECK_EQ_INT(cl_roundtrip(&c, GET_HELLO, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    resp_free(&r);
    cl_close(&c);
}

TEST(pipelined_requests_answered_complete_and_in_order) {
    hs h = {0};
    hs_start(&h, NULL);
    hs_run_client(&h, client_pipeline, 10000);
    CHECK_EQ_INT(h.requests, 6);
    CHECK_EQ_INT(h.later_fired, 2);
    CHECK_EQ_INT(h.later_rc[0], 0);
    CHECK_EQ_INT(h.later_rc[1], 0);
    hs_finish(&h);
}

/* A head begun in one loop turn and finished in a later one is built in place behind what is
 * queued: nothing of it goes out before it is complete, and a response that fails before its
 * head went drops the head, so the client never sees half of one. */
static void client_head_across_turns(hs *h) {
    cl c;
    resp r;
    char b[64];
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_sends(&c, "GET /later?ms=300&tag=7 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    usleep(100 * 1000); /* the status line and X-Target are in the server's output by now */
    ssize_t n = recv(c.fd, b, sizeof b, MSG_DONTWAIT);
    CHECK(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(hdr_is(&r, "X-Target", "/later?ms=300&tag=7"));
    CHECK_EQ_STR(r.body, "later 7");
    resp_free(&r);
    cl_close(&c);
    /* A head read after its response ended inside on_request, with a request pipelined behind. */
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_sends(&c, "GET /read-after-end HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
    CHECK_EQ_STR(r.body, "ended");
    resp_free(&r);
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
    CHECK_EQ_STR(r.body, "hello world");
    resp_free(&r);
    cl_close(&c);
    /* The answer before it goes out whole; the failed one leaves nothing but the close. */
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_sends(&c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /later-bad HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
    CHECK_EQ_STR(r.body, "hello world");
    resp_free(&r);
    CHECK(cl_eof(&c));
    cl_close(&c);
}

TEST(a_head_built_across_loop_turns_goes_out_whole_or_not_at_all) {
    hs h = {0};
    hs_start(&h, NULL);
    hs_run_client(&h, client_head_across_turns, 10000);
    CHECK_EQ_INT(h.later_fired, 2);
    CHECK_EQ_INT(h.later_rc[0], 0);
    CHECK_EQ_INT(h.later_rc[1], -EINVAL);
    hs_finish(&h);
}

/* How many complete "HTTP/1.1 " responses a record holds (bodies here never contain it). */
static int count_responses(const char *p, size_t n) {
    int k = 0;
    for (size_t i = 0; i + 9 <= n; i++)
        if (memcmp(p + i, "HTTP/1.1 ", 9) == 0) k++;
    return k;
}

/* Method for "the server made one write": the connection is an AF_UNIX SOCK_SEQPACKET pair
 * handed to the server with gale_http_server_adopt. On a SEQPACKET socket every write() is
 * one record and every recv() returns exactly one record, so the number of records received
 * is the number of write() calls the server made - no strace, no timing. */
static void client_one_write(hs *h) {
    cl c;
    cl_init_fd(&c, (int)(intptr_t)h->arg);
    char rec_buf[65536];
    /* Three requests in one record, all answered at once: one write with all three. */
    const char *three = "GET /hello?n=1 HTTP/1.1\r\nHost: t\r\n\r\n"
                        "GET /hello?n=2 HTTP/1.1\r\nHost: t\r\n\r\n"
                        "GET /hello?n=3 HTTP/1.1\r\nHost: t\r\n\r\n";
    CHECK_EQ_INT(cl_sends(&c, three), 0);
    ssize_t n = recv(c.fd, rec_buf, sizeof rec_buf, 0);
    CHECK(n > 0);
    if (n > 0) {
        CHECK_EQ_INT(count_responses(rec_buf, (size_t)n), 3);
        /* and they are complete: the record ends with the third body */
        CHECK(n >= 11 && memcmp(rec_buf + n - 11, "hello world", 11) == 0);
    }
    /* At once, later, at once: the first answer goes out alone; the late one and the one
     * behind it leave together once the timer ends the second. */
    const char *mixed = "GET /hello?n=4 HTTP/1.1\r\nHost: t\r\n\r\n"
                        "GET /later?ms=30&tag=5 HTTP/1.1\r\nHost: t\r\n\r\n"
                        "GET /hello?n=6 HTTP/1.1\r\nHost: t\r\n\r\n";
    CHECK_EQ_INT(cl_sends(&c, mixed), 0);
    n = recv(c.fd, rec_buf, sizeof rec_buf, 0);
    CHECK(n > 0 && count_responses(rec_buf, (size_t)n) == 1);
    n = recv(c.fd, rec_buf, sizeof rec_buf, 0);
    CHECK(n > 0 && count_responses(rec_buf, (size_t)n) == 2);
    if (n > 0) CHECK(memmem(rec_buf, (size_t)n, "later 5", 7) != NULL);
    cl_close(&c);
}

TEST(responses_to_a_pipelined_batch_leave_in_one_write) {
    hs h = {0};
    hs_start(&h, NULL);
    int sv[2];
    CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    CHECK_EQ_INT(gale_http_server_adopt(h.srv, sv[0]), 0);
    h.arg = (void *)(intptr_t)sv[1];
    hs_run_client(&h, client_one_write, 10000);
    CHECK_EQ_INT(h.requests, 6);
    hs_finish(&h);
}

/* ==== 3. half-close after pipelining ===================================================== */

static void client_half_close(hs *h) {
    cl c;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    const char *batch = "GET /hello?n=1 HTTP/1.1\r\nHost: t\r\n\r\n"
                        "GET /later?ms=50&tag=2 HTTP/1.1\r\nHost: t\r\n\r\n"
                        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde"
                        "GET /hello?n=4 HTTP/1.1\r\nHost: t\r\n\r\n";
    CHECK_EQ_INT(cl_sends(&c, batch), 0);
    CHECK_EQ_INT(shutdown(c.fd, SHUT_WR), 0);
    const char *bodies[4] = {"hello world", "later 2", "abcde", "hello world"};
    for (int i = 0; i < 4; i++) {
        resp r;
        CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
        CHECK_EQ_INT(r.status, 200);
        CHECK_EQ_STR(r.body, bodies[i]);
        resp_free(&r);
    }
    CHECK(cl_eof(&c)); /* then the server closes */
    cl_close(&c);
    CHECK(wait_for(h, probe_conns, 0));
}

TEST(half_closed_client_gets_every_answer_then_close) {
    hs h = {0};
    hs_start(&h, NULL);
    hs_run_client(&h, client_half_close, 10000);
    CHECK_EQ_INT(h.requests, 4);
    CHECK_EQ_INT(h.aborts, 0);
    /* The EOF came with requests queued behind the one in flight (/later), and those behind
     * it are answered inline: none was ever in flight with nothing queued, so no report. */
    CHECK_EQ_INT(h.eofs, 0);
    hs_finish(&h);
}

/* The client's EOF during a request answered later: reported once, while the request is in
 * flight, and the answer still reaches a client that only half-closed. A client that closes
 * at once is reported too. */
static void client_eof_in_flight(hs *h) {
    cl c;
    resp r;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_sends(&c, "GET /later?ms=200&tag=7 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    CHECK_EQ_INT(shutdown(c.fd, SHUT_WR), 0);
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "later 7");
    resp_free(&r);
    CHECK(cl_eof(&c));
    cl_close(&c);
    CHECK(wait_for(h, probe_conns, 0));

    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_sends(&c, "GET /later?ms=200&tag=8 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    CHECK(wait_for(h, probe_requests, 2));
    cl_close(&c);
    CHECK(wait_for(h, probe_later, 2));
    CHECK(wait_for(h, probe_conns, 0));
}

TEST(client_eof_during_a_request_is_reported_once) {
    hs h = {0};
    hs_start(&h, NULL);
    hs_run_client(&h, client_eof_in_flight, 10000);
    CHECK_EQ_INT(h.requests, 2);
    CHECK_EQ_INT(h.eofs, 2);
    CHECK_EQ_INT(h.eof_later, 2);
    CHECK_EQ_INT(h.later_rc[0], 0);
    hs_finish(&h);
}

/* ==== 4. HTTP/1.0 ======================================================================== */

static void client_http10(hs *h) {
    cl c;
    resp r;
    /* Without keep-alive: Connection: close, and the socket is closed after. */
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_roundtrip(&c, "GET /hello HTTP/1.0\r\n\r\n", &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(hdr_is(&r, "Connection", "close"));
    CHECK(hdr_is(&r, "Content-Length", "11"));
    CHECK_EQ_STR(r.body, "hello world");
    resp_free(&r);
    CHECK(cl_eof(&c));
    cl_close(&c);

    /* With keep-alive: kept, and the header echoed. */
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(cl_roundtrip(&c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r), 0);
        CHECK_EQ_INT(r.status, 200);
        CHECK(hdr_is(&r, "Connection", "keep-alive"));
        CHECK(hdr_is(&r, "Content-Length", "11"));
        CHECK_EQ_STR(r.body, "hello world");
        resp_free(&r);
    }
    /* A streamed response has no length for 1.0: it runs until the server closes. */
    CHECK_EQ_INT(cl_roundtrip(&c, "GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(r.until_close);
    CHECK_EQ_INT(hdr(&r, "Content-Length", NULL, 0), 0);
    CHECK_EQ_INT(hdr(&r, "Transfer-Encoding", NULL, 0), 0);
    CHECK(hdr_is(&r, "Connection", "close"));
    CHECK_EQ_STR(r.body, "part1 part2 end");
    resp_free(&r);
    cl_close(&c);
}

TEST(http10_close_keep_alive_and_streamed_until_close) {
    hs h = {0};
    hs_start(&h, NULL);
    hs_run_client(&h, client_http10, 10000);
    CHECK_EQ_INT(h.requests, 4);
    hs_finish(&h);
}

/* ==== 5. HEAD ============================================================================ */

static void client_head(hs *h) {
    cl c;
    resp r;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_roundtrip(&c, "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(hdr_is(&r, "Content-Length", "11")); /* what GET would send */
    resp_free(&r);
    /* No body followed: the next answer on the connection parses from its first byte. */
    CHECK_EQ_INT(cl_roundtrip(&c, GET_HELLO, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "hello world");
    resp_free(&r);
    /* A streamed (flushed) answer to HEAD has no body either: no chunks, no last chunk. */
    CHECK_EQ_INT(cl_roundtrip(&c, "HEAD /stream HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    CHECK_EQ_INT(r.status, 200);
    resp_free(&r);
    CHECK_EQ_INT(cl_roundtrip(&c, GET_HELLO, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "hello world");
    resp_free(&r);
    /* A HEAD handler that announces a length and sends nothing (as Tornado allows). */
    CHECK_EQ_INT(cl_roundtrip(&c, "HEAD /head-cl HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(hdr_is(&r, "Content-Length", "1234"));
    CHECK_EQ_INT(hdr(&r, "Connection", NULL, 0), 0);
    resp_free(&r);
    CHECK_EQ_INT(cl_roundtrip(&c, GET_HELLO, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    resp_free(&r);
    /* Nothing stray behind the last answer. */
    struct pollfd pfd = {c.fd, POLLIN, 0};
    CHECK_EQ_INT(poll(&pfd, 1, 50), 0);
    cl_close(&c);
}

TEST(head_announces_length_sends_no_body_and_keeps_the_connection) {
    hs h = {0};
    hs_start(&h, NULL);
    hs_run_client(&h, client_head, 10000);
    CHECK_EQ_INT(h.requests, 6);
    /* /stream's end and /head-cl's end */
    CHECK_EQ_INT(h.nrc, 2);
    CHECK_EQ_INT(h.rc[0], 0);
    CHECK_EQ_INT(h.rc[1], 0);
    hs_finish(&h);
}

/* ==== 6. request bodies ================================================================== */

static void client_bodies(hs *h) {
    cl c;
    resp r;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    /* Content-Length, buffered */
    CHECK_EQ_INT(cl_roundtrip(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world", &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "hello world");
    resp_free(&r);
    /* chunked, buffered: several chunks, extensions, a trailer */
    CHECK_EQ_INT(cl_roundtrip(&c,
                              "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "5;name=value\r\nhello\r\n"
                              "1 ; quoted=\"a b\"\r\n \r\n"
                              "A\r\nworld, and\r\n"
                              "0\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n",
                              &r),
                 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "hello world, and");
    resp_free(&r);
    /* the chunked body arriving piece by piece */
    const char *pieces[] = {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3", "\r\nab",
                            "c\r", "\n2\r\nde\r\n0", "\r\n", "\r\n"};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        CHECK_EQ_INT(cl_sends(&c, pieces[i]), 0);
        usleep(5000);
    }
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
    CHECK_EQ_STR(r.body, "abcde");
    resp_free(&r);
    /* Expect: 100-continue: the interim answer first, then the body, then the answer. */
    CHECK_EQ_INT(cl_sends(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_need(&c, 25), 0);
    CHECK(c.len >= 25 && memcmp(c.buf, "HTTP/1.1 100 Continue\r\n\r\n", 25) == 0);
    cl_consume(&c, 25);
    CHECK_EQ_INT(cl_sends(&c, "data"), 0);
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "data");
    resp_free(&r);
    /* A body of exactly max_body_size is fine. */
    char big[1100];
    int n = snprintf(big, sizeof big, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n");
    memset(big + n, 'z', 1000);
    CHECK_EQ_INT(cl_send(&c, big, (size_t)n + 1000), 0);
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.body_len, 1000);
    resp_free(&r);
    cl_close(&c);

    /* Past max_body_size with Expect: 413 at once, no 100 Continue, and the connection closes. */
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_sends(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 1001\r\n\r\n"),
                 0);
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
    CHECK_EQ_INT(r.status, 413);
    CHECK(hdr_is(&r, "Connection", "close"));
    resp_free(&r);
    CHECK(cl_eof(&c));
    cl_close(&c);

    /* A chunked body past the limit: 413 too (after the 100 Continue, which came first). */
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_sends(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"), 0);
    char chunk[600];
    n = snprintf(chunk, sizeof chunk, "200\r\n");
    memset(chunk + n, 'q', 512);
    memcpy(chunk + n + 512, "\r\n", 2);
    for (int i = 0; i < 2; i++) CHECK_EQ_INT(cl_send(&c, chunk, (size_t)n + 514), 0);
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
    CHECK_EQ_INT(r.status, 413);
    resp_free(&r);
    CHECK(cl_eof(&c));
    cl_close(&c);
    check_still_serving(h);
}

TEST(request_bodies_length_chunked_continue_and_limit) {
    gale_http_config cfg = {0};
    cfg.max_body_size = 1000;
    hs h = {0};
    hs_start(&h, &cfg);
    hs_run_client(&h, client_bodies, 10000);
    CHECK_EQ_INT(h.requests, 6); /* the two 413s never reached the owner */
    hs_finish(&h);
}

#define UPLOAD_BYTES (1024 * 1024)

static void client_upload(hs *h) {
    cl c;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    char head[128];
    snprintf(head, sizeof head, "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n", UPLOAD_BYTES);
    CHECK_EQ_INT(cl_sends(&c, head), 0);
    unsigned char *body = malloc(UPLOAD_BYTES);
    for (size_t i = 0; i < UPLOAD_BYTES; i++) body[i] = pattern(i);
    CHECK_EQ_INT(cl_send(&c, body, UPLOAD_BYTES), 0); /* blocks while the server pauses */
    free(body);
    resp r;
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "got=1048576 bad=0 pauses=4 while_paused=0");
    resp_free(&r);
    /* and the same connection serves a chunked streamed upload after it */
    CHECK_EQ_INT(cl_sends(&c, "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"), 0);
    char chunk[70000];
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        size_t n = 30000;
        int k = snprintf(chunk, sizeof chunk, "%zx;i=%d\r\n", n, i);
        for (size_t j = 0; j < n; j++) chunk[k + j] = (char)pattern(off + j);
        memcpy(chunk + k + n, "\r\n", 2);
        CHECK_EQ_INT(cl_send(&c, chunk, (size_t)k + n + 2), 0);
        off += n;
    }
    CHECK_EQ_INT(cl_sends(&c, "0\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "got=90000 bad=0 pauses=1 while_paused=0");
    resp_free(&r);
    cl_close(&c);
}

/* A request pipelined right behind a streamed upload (answered from on_body_end) is served
 * without waiting for more input. */
static void client_upload_pipelined(hs *h) {
    cl c;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    char batch[512];
    int n = snprintf(batch, sizeof batch, "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n");
    for (int i = 0; i < 5; i++) batch[n++] = (char)pattern((size_t)i);
    n += snprintf(batch + n, sizeof batch - (size_t)n, "%s", GET_HELLO);
    CHECK_EQ_INT(cl_send(&c, batch, (size_t)n), 0);
    resp r;
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
    CHECK_EQ_STR(r.body, "got=5 bad=0 pauses=0 while_paused=0");
    resp_free(&r);
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
    CHECK_EQ_STR(r.body, "hello world");
    resp_free(&r);
    cl_close(&c);
}

TEST(request_pipelined_behind_a_streamed_upload) {
    hs h = {0};
    hs_start(&h, NULL);
    hs_run_client(&h, client_upload_pipelined, 10000);
    CHECK_EQ_INT(h.requests, 2);
    hs_finish(&h);
}

/* A streamed body cut short by the client's EOF can never complete: the request is aborted
 * at once, not after the body timeout (60 s here). */
static void client_truncated_upload(hs *h) {
    cl c;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_sends(&c, "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n"), 0);
    char part[10];
    for (int i = 0; i < 10; i++) part[i] = (char)pattern((size_t)i);
    CHECK_EQ_INT(cl_send(&c, part, sizeof part), 0);
    CHECK(wait_for(h, probe_requests, 1));
    shutdown(c.fd, SHUT_WR);
    uint64_t t0 = gale_now_ns();
    CHECK(wait_for(h, probe_aborts, 1));
    CHECK(gale_now_ns() - t0 < 3000 * MS);
    CHECK(cl_eof(&c));
    cl_close(&c);
    /* The same with a chunked body that stops between chunks. */
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_sends(&c, "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n"), 0);
    CHECK_EQ_INT(cl_send(&c, part, 3), 0);
    CHECK_EQ_INT(cl_sends(&c, "\r\n"), 0);
    CHECK(wait_for(h, probe_requests, 2));
    cl_close(&c);
    CHECK(wait_for(h, probe_aborts, 2));
    CHECK(wait_for(h, probe_conns, 0));
}

TEST(streamed_body_cut_short_by_eof_aborts_at_once) {
    hs h = {0};
    hs_start(&h, NULL);
    hs_run_client(&h, client_truncated_upload, 20000);
    CHECK_EQ_INT(h.aborts, 2);
    CHECK_EQ_INT(h.abort_err, -ECONNRESET);
    CHECK_EQ_INT(h.abort_end_rc, -EPIPE);
    hs_finish(&h);
}

TEST(streamed_upload_1mib_with_pause_and_resume) {
    hs h = {0};
    hs_start(&h, NULL);
    hs_run_client(&h, client_upload, 20000);
    CHECK_EQ_INT(h.requests, 2);
    hs_finish(&h);
}

/* An answer given before a streamed body was read: Connection: close, and the server reads
 * and drops the rest of the body while the client is still sending it, so the client gets
 * the answer (no reset under it) and then the close. */
static void client_early_answer(hs *h) {
    cl c;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_sends(&c, "POST /upload-refused HTTP/1.1\r\nHost: t\r\nContent-Length: 300000\r\n\r\n"), 0);
    resp r;
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
    CHECK_EQ_INT(r.status, 403);
    CHECK(hdr_is(&r, "Connection", "close"));
    CHECK_EQ_STR(r.body, "no");
    resp_free(&r);
    char *junk = calloc(1, 300000);
    CHECK_EQ_INT(cl_send(&c, junk, 300000), 0); /* the server drains it while it lingers */
    free(junk);
    CHECK(cl_eof(&c));
    cl_close(&c);
    /* A handler that says Connection: close itself: so it is, and the rest is not served. */
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_sends(&c, "GET /bye HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(hdr_is(&r, "Connection", "close"));
    CHECK_EQ_STR(r.body, "bye");
    resp_free(&r);
    CHECK(cl_eof(&c));
    cl_close(&c);
}

TEST(early_answer_and_connection_close_end_the_connection) {
    hs h = {0};
    hs_start(&h, NULL);
    hs_run_client(&h, client_early_answer, 10000);
    CHECK_EQ_INT(h.requests, 2);
    CHECK_EQ_INT(h.nrc, 1);
    CHECK_EQ_INT(h.rc[0], 0); /* keep_alive, asked while the body was still unread */
    hs_finish(&h);
}

/* A Connection header a handler sets is read as a list of whole tokens, in any case. */
static int conn_token_handler(hs *h, gale_http_request *req) {
    gale_slice p = gale_http_request_path(req);
    const char *v;
    if (slice_is(p, "/x-closed")) v = "x-closed";
    else if (slice_is(p, "/x-list")) v = "x-closed,  Keep-Alive";
    else if (slice_is(p, "/bye-list")) v = "keep-alive, CLOSE";
    else return 0;
    CHECK_EQ_INT(gale_http_response_header(req, "Connection", 10, v, strlen(v)), 0);
    rec(h, gale_http_request_keep_alive(req));
    end_str(req, v);
    return 1;
}

static void client_conn_tokens(hs *h) {
    cl c;
    resp r;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    const char *keep[2] = {"GET /x-closed HTTP/1.1\r\nHost: t\r\n\r\n", "GET /x-list HTTP/1.1\r\nHost: t\r\n\r\n"};
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(cl_roundtrip(&c, keep[i], &r), 0);
        CHECK_EQ_INT(r.status, 200);
        CHECK_EQ_INT(hdr(&r, "Connection", NULL, 0), 0); /* still open */
        resp_free(&r);
    }
    CHECK_EQ_INT(cl_sends(&c, "GET /bye-list HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(hdr_is(&r, "Connection", "close"));
    CHECK_EQ_STR(r.body, "keep-alive, CLOSE");
    resp_free(&r);
    CHECK(cl_eof(&c));
    cl_close(&c);
}

TEST(handler_connection_header_matches_whole_tokens) {
    hs h = {0};
    h.custom = conn_token_handler;
    hs_start(&h, NULL);
    hs_run_client(&h, client_conn_tokens, 10000);
    CHECK_EQ_INT(h.requests, 3);
    CHECK_EQ_INT(h.nrc, 3);
    CHECK_EQ_INT(h.rc[0], 1); /* x-closed */
    CHECK_EQ_INT(h.rc[1], 1); /* x-closed, Keep-Alive */
    CHECK_EQ_INT(h.rc[2], 0); /* keep-alive, CLOSE */
    hs_finish(&h);
}

/* More pipelined requests than max_pipelined behind one that is answered late: the server
 * stops reading at the limit, and every request is still answered, in order. */
#define DEEP 3000

static void client_deep_pipeline(hs *h) {
    cl c;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    size_t cap = 64 + DEEP * 48, n = 0;
    char *batch = malloc(cap);
    n += (size_t)sprintf(batch + n, "GET /later?ms=100&tag=0 HTTP/1.1\r\nHost: t\r\n\r\n");
    for (int i = 1; i < DEEP; i++) n += (size_t)sprintf(batch + n, "GET /hello?%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
    CHECK(n > 64 * 1024); /* more than max_pipelined */
    CHECK_EQ_INT(cl_send(&c, batch, n), 0);
    free(batch);
    int in_order = 1, ok = 0;
    for (int i = 0; i < DEEP; i++) {
        resp r;
        if (cl_read_resp(&c, &r, 0) != 0) break;
        char want[32];
        if (i == 0) snprintf(want, sizeof want, "/later?ms=100&tag=0");
        else snprintf(want, sizeof want, "/hello?%d", i);
        if (!hdr_is(&r, "X-Target", want)) in_order = 0;
        if (r.status == 200) ok++;
        resp_free(&r);
    }
    CHECK_EQ_INT(ok, DEEP);
    CHECK(in_order);
    cl_close(&c);
}

TEST(deep_pipeline_past_max_pipelined_is_answered_in_order) {
    hs h = {0};
    hs_start(&h, NULL);
    hs_run_client(&h, client_deep_pipeline, 20000);
    CHECK_EQ_INT(h.requests, DEEP);
    hs_finish(&h);
}

/* A first request answered from the deferred run that follows on_request, then many that
 * are answered inline: each answer hands over the next buffered request (pump), which must
 * not nest once per request - a client could otherwise drive the stack as deep as it likes. */
#define INLINE_DEEP 2000

static void answer_deferred(void *ud) { end_str(ud, "first"); }

static int depth_handler(hs *h, gale_http_request *req) {
    gale_slice p = gale_http_request_path(req);
    if (!slice_is(p, "/first") && !slice_is(p, "/d")) return 0;
    if (++h->depth > h->max_depth) h->max_depth = h->depth;
    if (slice_is(p, "/first")) {
        CHECK_EQ_INT(gale_loop_defer(h->loop, answer_deferred, req), 0);
    } else {
        gale_slice t = gale_http_request_target(req);
        gale_http_response_end(req, t.ptr, t.len);
    }
    h->depth--;
    return 1;
}

static void client_inline_pipeline(hs *h) {
    cl c;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    size_t cap = 64 + INLINE_DEEP * 48, n = 0;
    char *batch = malloc(cap);
    n += (size_t)sprintf(batch + n, "GET /first HTTP/1.1\r\nHost: t\r\n\r\n");
    for (int i = 1; i < INLINE_DEEP; i++) n += (size_t)sprintf(batch + n, "GET /d?%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
    CHECK_EQ_INT(cl_send(&c, batch, n), 0);
    free(batch);
    int in_order = 1, ok = 0;
    for (int i = 0; i < INLINE_DEEP; i++) {
        resp r;
        if (cl_read_resp(&c, &r, 0) != 0) break;
        char want[32];
        if (i == 0) snprintf(want, sizeof want, "first");
        else snprintf(want, sizeof want, "/d?%d", i);
        if (strcmp(r.body, want) != 0) in_order = 0;
        if (r.status == 200) ok++;
        resp_free(&r);
    }
    CHECK_EQ_INT(ok, INLINE_DEEP);
    CHECK(in_order);
    cl_close(&c);
}

TEST(inline_answers_to_a_pipelined_batch_do_not_nest) {
    gale_http_config cfg = {0};
    cfg.max_pipelined = 256 * 1024; /* the whole batch may be buffered at once */
    hs h = {0};
    h.custom = depth_handler;
    hs_start(&h, &cfg);
    hs_run_client(&h, client_inline_pipeline, 20000);
    CHECK_EQ_INT(h.requests, INLINE_DEEP);
    CHECK(h.max_depth >= 1);
    CHECK(h.max_depth <= 2);
    hs_finish(&h);
}

/* ==== 7. malformed input ================================================================= */

typedef struct {
    const char *name;
    const char *data;
    size_t len; /* 0: strlen */
    int status;
} bad_case;

static char *long_line(void) {
    size_t n = 9000;
    char *s = malloc(n + 64);
    memcpy(s, "GET /", 5);
    memset(s + 5, 'a', n);
    strcpy(s + 5 + n, " HTTP/1.1\r\nHost: t\r\n\r\n");
    return s;
}

static char *many_headers(int count, size_t value_len) {
    size_t cap = 64 + (size_t)count * (value_len + 16);
    char *s = malloc(cap);
    size_t k = (size_t)sprintf(s, "GET / HTTP/1.1\r\nHost: t\r\n");
    for (int i = 0; i < count; i++) {
        k += (size_t)sprintf(s + k, "X-H%d: ", i);
        memset(s + k, 'v', value_len);
        k += value_len;
        memcpy(s + k, "\r\n", 2);
        k += 2;
    }
    memcpy(s + k, "\r\n", 3);
    return s;
}

static void client_malformed(hs *h) {
    char *line = long_line();
    char *many = many_headers(120, 4);
    char *huge = many_headers(20, 4000);
    static const char nul_in_header[] = "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n";
    bad_case cases[] = {
        {"CL and TE", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, 400},
        {"TE gzip", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 0, 501},
        {"TE chunked twice", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 0, 400},
        {"TE chunked not last", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 0, 400},
        {"TE in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 400},
        {"two CLs", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 0, 400},
        {"NUL in header", nul_in_header, sizeof nul_in_header - 1, 400},
        {"obs-fold", "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n", 0, 400},
        {"space before colon", "GET / HTTP/1.1\r\nHost : t\r\n\r\n", 0, 400},
        {"no Host", "GET / HTTP/1.1\r\n\r\n", 0, 400},
        {"bad Expect", "GET / HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\n\r\n", 0, 417},
        {"long request line", line, 0, 414},
        {"too many headers", many, 0, 431},
        {"too big headers", huge, 0, 431},
        {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 0, 505},
        {"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", 0, 400},
        {"words", "HELLO THERE\r\n\r\n", 0, 400},
        {"bare CR", "GET / HTTP/1.1\rHost: t\r\n\r\n", 0, 400},
        {"bad chunk size", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", 0, 400},
        {"chunk without CRLF", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX0\r\n\r\n", 0, 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bad_case *bc = &cases[i];
        cl c;
        CHECK_EQ_INT(cl_open(&c, h->port), 0);
        size_t len = bc->len ? bc->len : strlen(bc->data);
        CHECK_EQ_INT(cl_send(&c, bc->data, len), 0);
        resp r;
        int rc = cl_read_resp(&c, &r, 0);
        if (rc != 0 || r.status != bc->status) fprintf(stderr, "  case \"%s\": rc %d status %d\n", bc->name, rc, r.status);
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(r.status, bc->status);
        CHECK(hdr_is(&r, "Connection", "close"));
        CHECK(hdr(&r, "Content-Length", NULL, 0) == 1);
        check_date(&r);
        resp_free(&r);
        CHECK(cl_eof(&c));
        cl_close(&c);
        check_still_serving(h);
    }
    free(line);
    free(many);
    free(huge);
}

TEST(malformed_requests_get_their_status_and_close) {
    hs h = {0};
    hs_start(&h, NULL);
    hs_run_client(&h, client_malformed, 20000);
    CHECK_EQ_INT(h.requests, 20); /* only the check_still_serving requests reached the owner */
    CHECK_EQ_INT(h.aborts, 0);
    hs_finish(&h);
}

/* ==== 8. responses ======================================================================= */

static void client_responses(hs *h) {
    cl c;
    resp r;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    /* chunked streaming: flush, a write, end */
    CHECK_EQ_INT(cl_roundtrip(&c, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(r.chunked);
    CHECK_EQ_INT(r.chunks, 3);
    CHECK_EQ_INT(hdr(&r, "Content-Length", NULL, 0), 0);
    CHECK_EQ_STR(r.body, "part1 part2 end");
    resp_free(&r);
    /* a declared Content-Length that matches */
    CHECK_EQ_INT(cl_roundtrip(&c, "GET /len-ok HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(hdr_is(&r, "Content-Length", "5"));
    CHECK_EQ_STR(r.body, "hello");
    resp_free(&r);
    /* writes past a declared length are refused, so the framing stays true */
    CHECK_EQ_INT(cl_roundtrip(&c, "GET /len-over-stream HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(hdr_is(&r, "Content-Length", "5"));
    CHECK_EQ_STR(r.body, "hello");
    resp_free(&r);
    /* header injection and bad statuses are refused; the answer is clean */
    CHECK_EQ_INT(cl_roundtrip(&c, "GET /inject HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    CHECK_EQ_INT(r.status, 201);
    CHECK(strncmp(r.head, "HTTP/1.1 201 Created\r\n", 22) == 0);
    CHECK_EQ_INT(hdr(&r, "X-Evil", NULL, 0), 0);
    CHECK_EQ_INT(hdr(&r, "X-A", NULL, 0), 0);
    CHECK(hdr_is(&r, "X-Fine", "a b\tc"));
    CHECK(hdr_is(&r, "Content-Length", "2"));
    CHECK_EQ_INT(hdr(&r, "Transfer-Encoding", NULL, 0), 0);
    CHECK_EQ_STR(r.body, "ok");
    resp_free(&r);
    /* 204 and 304 carry no body and no framing; the connection goes on */
    CHECK_EQ_INT(cl_roundtrip(&c, "GET /status?code=204 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    CHECK_EQ_INT(r.status, 204);
    CHECK_EQ_INT(hdr(&r, "Content-Length", NULL, 0), 0);
    CHECK_EQ_INT(hdr(&r, "Transfer-Encoding", NULL, 0), 0);
    resp_free(&r);
    CHECK_EQ_INT(cl_roundtrip(&c, "GET /status?code=304 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    CHECK_EQ_INT(r.status, 304);
    CHECK_EQ_INT(hdr(&r, "Transfer-Encoding", NULL, 0), 0);
    resp_free(&r);
    CHECK_EQ_INT(cl_roundtrip(&c, "GET /status?code=599 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    CHECK_EQ_INT(r.status, 599);
    CHECK(strncmp(r.head, "HTTP/1.1 599 Unknown\r\n", 22) == 0);
    resp_free(&r);
    CHECK_EQ_INT(cl_roundtrip(&c, GET_HELLO, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "hello world");
    resp_free(&r);
    /* A declared length that the body does not match, head not yet sent: end fails and the
     * connection closes without an answer (a pipelined request behind it is not served). */
    CHECK_EQ_INT(cl_sends(&c, "GET /len-short HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    CHECK(cl_eof(&c));
    cl_close(&c);
    /* The same with the head already out: what was sent, then the close. */
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_sends(&c, "GET /len-short-stream HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), -1); /* the body is cut short */
    CHECK(hdr_is(&r, "Content-Length", "10"));
    CHECK_EQ_INT(r.body_len, 5);
    resp_free(&r);
    cl_close(&c);
    /* The last bytes given to end() would overrun the declared length: none of them is
     * sent, and the connection closes after what was. */
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_sends(&c, "GET /len-over-end HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), -1);
    CHECK(hdr_is(&r, "Content-Length", "5"));
    CHECK_EQ_STR(r.body, "hel");
    resp_free(&r);
    cl_close(&c);
    /* Headers added without a second check: as sent, one Content-Length (the declared one),
     * and the Connection: close is honoured. */
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_roundtrip(&c, "GET /checked HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(hdr_is(&r, "Content-Type", "text/plain"));
    CHECK(hdr_is(&r, "X-Checked", "yes"));
    CHECK_EQ_INT(hdr(&r, "Content-Length", NULL, 0), 1);
    CHECK(hdr_is(&r, "Content-Length", "7"));
    CHECK(hdr_is(&r, "Connection", "close"));
    CHECK_EQ_STR(r.body, "checked");
    resp_free(&r);
    CHECK(cl_eof(&c));
    cl_close(&c);
}

TEST(responses_framing_validation_and_no_body_statuses) {
    hs h = {0};
    hs_start(&h, NULL);
    hs_run_client(&h, client_responses, 10000);
    /* /stream end; /len-ok end; /len-over-stream: 3 bytes ok, 8 refused, 2 ok, end ok;
     * /inject: see the handler; 204, 304 and 599: write, end; /len-short; /len-short-stream;
     * /len-over-end */
    static const int want[] = {0, 0, 0, -EINVAL, 0, 0,
                               -EINVAL, -EINVAL, -EINVAL, -EINVAL, 0, -EALREADY,
                               -EINVAL, -EINVAL, -EINVAL, -EINVAL,
                               -EINVAL, -EINVAL, -EINVAL, -EINVAL,
                               -EINVAL, -EINVAL, -EINVAL, -EINVAL,
                               0, 0,
                               -EINVAL, 0, -EINVAL, 0, 0, 0,
                               -EINVAL, -EINVAL, -EINVAL};
    int n = (int)(sizeof want / sizeof want[0]);
    CHECK_EQ_INT(h.nrc, n);
    for (int i = 0; i < h.nrc && i < n; i++) {
        if (h.rc[i] != want[i]) fprintf(stderr, "  rc[%d] = %d, want %d\n", i, h.rc[i], want[i]);
        CHECK_EQ_INT(h.rc[i], want[i]);
    }
    hs_finish(&h);
}

/* ==== 9. backpressure ==================================================================== */

typedef struct {
    size_t got;
    int bad;
} verify_ctx;

static void verify_sink(void *ctx, const char *p, size_t n) {
    verify_ctx *v = ctx;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] != pattern(v->got + i)) v->bad++;
    v->got += n;
}

static void probe_flood(hs *h, void *arg) { atomic_store(&h->seen, (int)h->fl_written); }

#define FLOOD_TOTAL (8u << 20)
#define FLOOD_HIGH (64u * 1024u)
#define FLOOD_LOW (16u * 1024u)
#define FLOOD_CHUNK 8192u

static void client_slow_reader(hs *h) {
    cl c;
    cl_init_fd(&c, (int)(intptr_t)h->arg);
    char req[128];
    snprintf(req, sizeof req, "GET /flood?total=%u&chunk=%u HTTP/1.1\r\nHost: t\r\n\r\n", FLOOD_TOTAL, FLOOD_CHUNK);
    CHECK_EQ_INT(cl_sends(&c, req), 0);
    usleep(300 * 1000); /* read nothing for a while: the producer must be held back */
    CHECK(on_loop(h, probe_flood, NULL));
    int stalled = atomic_load(&h->seen);
    CHECK(stalled >= (int)FLOOD_HIGH - 1024);
    CHECK(stalled < 1024 * 1024); /* the high-water mark plus what small socket buffers hold */
    verify_ctx v = {0};
    resp r;
    CHECK_EQ_INT(cl_read_resp_sink(&c, &r, 0, verify_sink, &v), 0);
    CHECK(r.chunked);
    CHECK_EQ_INT(v.got, FLOOD_TOTAL);
    CHECK_EQ_INT(v.bad, 0);
    cl_close(&c);
}

TEST(streamed_response_to_a_slow_reader_honours_the_watermarks) {
    gale_http_config cfg = {0};
    cfg.write_high_water = FLOOD_HIGH;
    cfg.write_low_water = FLOOD_LOW;
    hs h = {0};
    hs_start(&h, &cfg);
    h.arg = (void *)(intptr_t)adopt_tcp(&h, 32768, 4096);
    hs_run_client(&h, client_slow_reader, 20000);
    CHECK(h.fl_writables > 0);
    CHECK(h.fl_bursts > 1);
    /* write returned 1 once the queue reached the high-water mark ... */
    CHECK(h.fl_first_burst >= FLOOD_HIGH - 1024);
    /* ... and the queue never held more than the high-water mark plus one write */
    CHECK(h.fl_max_burst <= FLOOD_HIGH + FLOOD_CHUNK);
    CHECK_EQ_INT(h.nrc, 1);
    CHECK_EQ_INT(h.rc[0], 0);
    hs_finish(&h);
}

/* A client that asks for a stream and never reads: once the output stops moving for the idle
 * timeout, the response is aborted (-ETIMEDOUT) and the connection closed; the producer
 * waited at the high-water mark meanwhile. */
static void client_never_reads(hs *h) {
    cl c;
    cl_init_fd(&c, (int)(intptr_t)h->arg);
    char req[128];
    snprintf(req, sizeof req, "GET /flood?total=%u&chunk=%u HTTP/1.1\r\nHost: t\r\n\r\n", FLOOD_TOTAL, FLOOD_CHUNK);
    CHECK_EQ_INT(cl_sends(&c, req), 0);
    CHECK(wait_for(h, probe_aborts, 1));
    CHECK(wait_for(h, probe_conns, 0));
    cl_close(&c);
}

TEST(streamed_response_to_a_client_that_never_reads_times_out) {
    gale_http_config cfg = {0};
    cfg.write_high_water = FLOOD_HIGH;
    cfg.write_low_water = FLOOD_LOW;
    cfg.idle_timeout_ns = 250 * MS;
    hs h = {0};
    hs_start(&h, &cfg);
    h.arg = (void *)(intptr_t)adopt_tcp(&h, 32768, 4096);
    uint64_t t0 = gale_now_ns();
    hs_run_client(&h, client_never_reads, 20000);
    CHECK_EQ_INT(h.aborts, 1);
    CHECK_EQ_INT(h.abort_err, -ETIMEDOUT);
    CHECK(gale_now_ns() - t0 >= 250 * MS);
    CHECK(h.fl_written < FLOOD_TOTAL); /* held back, never finished */
    hs_finish(&h);
}

/* A reader fast enough that the kernel takes each burst whole: a write that returned 1 must
 * still be followed by on_writable, or the producer waits forever. */
static void client_fast_reader(hs *h) {
    cl c;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_sends(&c, "GET /flood?total=1048576&chunk=1024 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    verify_ctx v = {0};
    resp r;
    CHECK_EQ_INT(cl_read_resp_sink(&c, &r, 0, verify_sink, &v), 0);
    CHECK_EQ_INT(v.got, 1048576);
    CHECK_EQ_INT(v.bad, 0);
    cl_close(&c);
}

TEST(on_writable_follows_a_burst_the_kernel_took_at_once) {
    gale_http_config cfg = {0};
    cfg.write_high_water = 4096;
    cfg.write_low_water = 1024;
    hs h = {0};
    hs_start(&h, &cfg);
    hs_run_client(&h, client_fast_reader, 20000);
    CHECK(h.fl_writables > 0);
    CHECK(h.fl_max_burst <= 4096 + 1024);
    hs_finish(&h);
}

/* ==== 10. timeouts ======================================================================= */

#define SHORT_NS (250 * MS)

static void timeout_cfg(gale_http_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->header_timeout_ns = SHORT_NS;
    cfg->idle_timeout_ns = SHORT_NS;
    cfg->body_timeout_ns = SHORT_NS;
}

static void client_slowloris(hs *h) {
    cl a;
    CHECK_EQ_INT(cl_open(&a, h->port), 0);
    uint64_t t0 = gale_now_ns();
    CHECK_EQ_INT(cl_sends(&a, "GET /hello HTTP/1.1\r\n"), 0);
    /* Meanwhile another client is served normally. */
    check_still_serving(h);
    struct pollfd pfd = {a.fd, POLLIN, 0};
    uint64_t limit = t0 + (uint64_t)wait_ms() * MS;
    while (gale_now_ns() < limit) {
        send(a.fd, "X-Slow: 1\r\n", 11, MSG_NOSIGNAL); /* one field now and then, never the end */
        if (poll(&pfd, 1, 40) > 0) break;
    }
    uint64_t elapsed = gale_now_ns() - t0;
    resp r;
    CHECK_EQ_INT(cl_read_resp(&a, &r, 0), 0);
    CHECK_EQ_INT(r.status, 408);
    CHECK(hdr_is(&r, "Connection", "close"));
    resp_free(&r);
    CHECK(cl_eof(&a));
    CHECK(elapsed >= 200 * MS);
    cl_close(&a);
}

TEST(slowloris_gets_408_while_others_are_served) {
    gale_http_config cfg;
    timeout_cfg(&cfg);
    hs h = {0};
    hs_start(&h, &cfg);
    hs_run_client(&h, client_slowloris, 10000);
    CHECK_EQ_INT(h.requests, 1);
    hs_finish(&h);
}

static void client_idle(hs *h) {
    cl c;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    resp r;
    CHECK_EQ_INT(cl_roundtrip(&c, GET_HELLO, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    resp_free(&r);
    uint64_t t0 = gale_now_ns();
    CHECK(cl_eof(&c)); /* the server closes the idle connection */
    uint64_t elapsed = gale_now_ns() - t0;
    CHECK(elapsed >= 200 * MS);
    cl_close(&c);
    /* A connection that never sends anything is closed too (without an answer). */
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK(cl_eof(&c));
    cl_close(&c);
}

TEST(idle_keep_alive_connection_is_closed_after_idle_timeout) {
    gale_http_config cfg;
    timeout_cfg(&cfg);
    hs h = {0};
    hs_start(&h, &cfg);
    hs_run_client(&h, client_idle, 10000);
    hs_finish(&h);
}

/* The idle clock must not run out under a response the client is still reading. */
static void client_slow_download(hs *h) {
    cl c;
    cl_init_fd(&c, (int)(intptr_t)h->arg);
    CHECK_EQ_INT(cl_sends(&c, "GET /big?n=2097152 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    char head[4096];
    size_t got = 0;
    int bad = 0;
    /* the head */
    CHECK_EQ_INT(cl_line(&c, head, sizeof head), 0);
    CHECK(strncmp(head, "HTTP/1.1 200", 12) == 0);
    do CHECK_EQ_INT(cl_line(&c, head, sizeof head), 0);
    while (head[0]);
    uint64_t t0 = gale_now_ns();
    while (got < 2097152) {
        if (c.len == 0 && cl_fill(&c) <= 0) break;
        size_t k = c.len < 8192 ? c.len : 8192;
        for (size_t i = 0; i < k; i++)
            if ((unsigned char)c.buf[i] != pattern(got + i)) bad++;
        got += k;
        cl_consume(&c, k);
        usleep(3000); /* about 2.7 MB/s: the download takes several idle timeouts */
    }
    CHECK_EQ_INT(got, 2097152);
    CHECK_EQ_INT(bad, 0);
    CHECK(gale_now_ns() - t0 > 300 * MS); /* it really was slower than the idle timeout */
    /* once it is all read, the idle timeout applies again */
    CHECK(cl_eof(&c));
    cl_close(&c);
}

TEST(idle_timeout_does_not_cut_a_response_being_read) {
    gale_http_config cfg;
    timeout_cfg(&cfg);
    hs h = {0};
    hs_start(&h, &cfg);
    h.arg = (void *)(intptr_t)adopt_tcp(&h, 16384, 16384);
    hs_run_client(&h, client_slow_download, 20000);
    hs_finish(&h);
}

static void client_stalled_body(hs *h) {
    cl c;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_sends(&c, "POST /upload-stall HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n0123456789"), 0);
    uint64_t t0 = gale_now_ns();
    CHECK(cl_eof(&c));
    CHECK(gale_now_ns() - t0 >= 200 * MS);
    CHECK(wait_for(h, probe_aborts, 1));
    cl_close(&c);
    /* A buffered body that stalls gets a 408. */
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_sends(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n0123456789"), 0);
    resp r;
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
    CHECK_EQ_INT(r.status, 408);
    resp_free(&r);
    CHECK(cl_eof(&c));
    cl_close(&c);
}

TEST(stalled_streamed_body_aborts_with_etimedout) {
    gale_http_config cfg;
    timeout_cfg(&cfg);
    hs h = {0};
    hs_start(&h, &cfg);
    hs_run_client(&h, client_stalled_body, 10000);
    CHECK_EQ_INT(h.aborts, 1);
    CHECK_EQ_INT(h.abort_err, -ETIMEDOUT);
    CHECK_EQ_INT(h.abort_end_rc, -EPIPE);
    hs_finish(&h);
}

/* The body timeout is about progress: a body that keeps coming, however slowly in total,
 * is not cut, whatever its framing. */
static void client_slow_body(hs *h) {
    cl c;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_sends(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n"), 0);
    char piece[100];
    memset(piece, 'p', sizeof piece);
    for (int i = 0; i < 10; i++) { /* about a second in all, 80 ms between pieces */
        usleep(80 * 1000);
        CHECK_EQ_INT(cl_send(&c, piece, sizeof piece), 0);
    }
    resp r;
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.body_len, 1000);
    resp_free(&r);
    CHECK_EQ_INT(cl_sends(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"), 0);
    for (int i = 0; i < 10; i++) {
        usleep(80 * 1000);
        CHECK_EQ_INT(cl_sends(&c, "5\r\nhello\r\n"), 0);
    }
    CHECK_EQ_INT(cl_sends(&c, "0\r\n\r\n"), 0);
    CHECK_EQ_INT(cl_read_resp(&c, &r, 0), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.body_len, 50);
    resp_free(&r);
    cl_close(&c);
}

TEST(body_timeout_counts_from_the_last_progress) {
    gale_http_config cfg;
    timeout_cfg(&cfg);
    hs h = {0};
    hs_start(&h, &cfg);
    hs_run_client(&h, client_slow_body, 10000);
    CHECK_EQ_INT(h.requests, 2);
    hs_finish(&h);
}

/* ==== 11. max_connections ================================================================ */

static void client_max_conns(hs *h) {
    cl a, b, c;
    resp r;
    CHECK_EQ_INT(cl_open(&a, h->port), 0);
    CHECK_EQ_INT(cl_roundtrip(&a, GET_HELLO, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    resp_free(&r);
    /* one too many: 503 and closed */
    CHECK_EQ_INT(cl_open(&b, h->port), 0);
    CHECK_EQ_INT(cl_read_resp(&b, &r, 0), 0);
    CHECK_EQ_INT(r.status, 503);
    CHECK(hdr_is(&r, "Connection", "close"));
    resp_free(&r);
    CHECK(cl_eof(&b));
    /* b stays open on our side for now: the server lingers on it */
    CHECK(wait_for(h, probe_conns, 2));
    cl_close(&a);
    CHECK(wait_for(h, probe_conns, 1));
    /* a's slot is free: the next one is served, whatever the refused one is still doing */
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_roundtrip(&c, GET_HELLO, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    resp_free(&r);
    cl_close(&b);
    cl_close(&c);
    CHECK(wait_for(h, probe_conns, 0));
    check_still_serving(h);
}

TEST(max_connections_refuses_with_503_then_serves_again) {
    gale_http_config cfg = {0};
    cfg.max_connections = 1;
    hs h = {0};
    hs_start(&h, &cfg);
    hs_run_client(&h, client_max_conns, 10000);
    CHECK_EQ_INT(h.requests, 3);
    hs_finish(&h);
}

/* ==== 12. client disconnect ============================================================== */

static void client_disconnect(hs *h) {
    cl c;
    /* An abortive close (RST) while the answer is being prepared. */
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_sends(&c, "GET /later?ms=300&tag=1 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    CHECK(wait_for(h, probe_requests, 1));
    cl_reset(&c);
    CHECK(wait_for(h, probe_aborts, 1));
    CHECK(wait_for(h, probe_later, 1));
    CHECK(wait_for(h, probe_conns, 0));

    /* A client that goes away in the middle of a streamed answer: the next write fails. */
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_sends(&c, "GET /tick HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    while (!memmem(c.buf, c.len, "tick 1", 6))
        if (cl_fill(&c) <= 0) break;
    CHECK(memmem(c.buf, c.len, "tick 1", 6) != NULL);
    cl_close(&c);
    CHECK(wait_for(h, probe_aborts, 2));
    CHECK(wait_for(h, probe_conns, 0));
}

TEST(client_disconnect_aborts_the_request_in_flight) {
    hs h = {0};
    hs_start(&h, NULL);
    hs_run_client(&h, client_disconnect, 10000);
    CHECK_EQ_INT(h.aborts, 2);
    CHECK(h.abort_err == -EPIPE || h.abort_err == -ECONNRESET);
    CHECK_EQ_INT(h.abort_end_rc, -EPIPE); /* the ticker, ended from on_abort */
    CHECK_EQ_INT(h.later_fired, 1);
    CHECK_EQ_INT(h.later_rc[0], -EPIPE); /* ended after the abort */
    hs_finish(&h);
}

/* A plain close() (FIN) cannot be told from a half-close (shutdown(SHUT_WR)) on the
 * server's side, and a half-closed client is still owed its answers (test 3): the answer
 * is written, the connection then closes, and nothing is held. */
static void client_fin_close(hs *h) {
    cl c;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_sends(&c, "GET /later?ms=100&tag=1 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    CHECK(wait_for(h, probe_requests, 1));
    cl_close(&c);
    CHECK(wait_for(h, probe_later, 1));
    CHECK(wait_for(h, probe_conns, 0));
}

TEST(client_close_during_a_late_answer_releases_everything) {
    hs h = {0};
    hs_start(&h, NULL);
    hs_run_client(&h, client_fin_close, 10000);
    CHECK_EQ_INT(h.later_fired, 1);
    CHECK_EQ_INT(gale_http_server_connections(h.srv), 0);
    hs_finish(&h);
}

/* ==== 13. graceful shutdown ============================================================== */

static void on_done(void *ud) {
    hs *h = ud;
    h->done_calls++;
    h->done_conns = h->srv ? (int)gale_http_server_connections(h->srv) : -1;
}

static void on_done_free(void *ud) {
    hs *h = ud;
    h->done_calls++;
    h->done_conns = (int)gale_http_server_connections(h->srv);
    gale_http_server_free(h->srv); /* a natural thing to do once it is all over */
    h->srv = NULL;
}

static void do_shutdown(hs *h, void *arg) {
    gale_http_server_shutdown(h->srv, (uint64_t)(uintptr_t)arg, h->free_in_done ? on_done_free : on_done, h);
}

static void client_shutdown(hs *h) {
    cl a, b, d, x;
    resp r;
    CHECK_EQ_INT(cl_open(&a, h->port), 0);
    CHECK_EQ_INT(cl_roundtrip(&a, GET_HELLO, &r), 0); /* a is now idle, and stays silent */
    resp_free(&r);
    CHECK_EQ_INT(cl_open(&d, h->port), 0);
    CHECK_EQ_INT(cl_roundtrip(&d, GET_HELLO, &r), 0); /* d is idle too, but will speak again */
    resp_free(&r);
    CHECK_EQ_INT(cl_open(&b, h->port), 0);
    CHECK_EQ_INT(cl_sends(&b, "GET /later?ms=1000&tag=7 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    CHECK(wait_for(h, probe_requests, 3));
    CHECK(on_loop(h, do_shutdown, NULL));
    uint64_t t0 = gale_now_ns();
    /* an idle client's next request, sent during the drain window, is still answered - and
     * told that the connection closes */
    CHECK_EQ_INT(cl_roundtrip(&d, GET_HELLO, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(hdr_is(&r, "Connection", "close"));
    resp_free(&r);
    CHECK(cl_eof(&d));
    /* a silent idle client is closed once the window (300 ms here) is over, before the
     * request in flight is done */
    CHECK(cl_eof(&a));
    uint64_t waited = gale_now_ns() - t0;
    CHECK(waited >= 290 * MS);
    CHECK(waited < 900 * MS || under_valgrind());
    CHECK(on_loop(h, probe_later, NULL));
    CHECK_EQ_INT(atomic_load(&h->seen), 0);
    /* in flight: completed, with Connection: close */
    CHECK_EQ_INT(cl_read_resp(&b, &r, 0), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "later 7");
    CHECK(hdr_is(&r, "Connection", "close"));
    resp_free(&r);
    CHECK(cl_eof(&b));
    CHECK(on_loop(h, probe_done, NULL));
    CHECK_EQ_INT(atomic_load(&h->seen), 0); /* b is still open on our side */
    cl_close(&b);
    CHECK(wait_for(h, probe_done, 1));
    /* nobody listens any more */
    CHECK_EQ_INT(cl_open(&x, h->port), -ECONNREFUSED);
    cl_close(&x);
    cl_close(&a);
    cl_close(&d);
}

static const gale_http_config short_drain = {.drain_timeout_ns = 300 * MS};

TEST(shutdown_drains_idle_finishes_in_flight_then_done) {
    hs h = {0};
    hs_start(&h, &short_drain);
    hs_run_client(&h, client_shutdown, 10000);
    CHECK_EQ_INT(h.done_calls, 1);
    CHECK_EQ_INT(h.done_conns, 0);
    CHECK_EQ_INT(h.later_rc[0], 0);
    CHECK_EQ_INT(h.aborts, 0);
    hs_finish(&h);
}

TEST(shutdown_done_may_free_the_server) {
    hs h = {0};
    h.free_in_done = 1;
    hs_start(&h, &short_drain);
    hs_run_client(&h, client_shutdown, 10000);
    CHECK_EQ_INT(h.done_calls, 1);
    CHECK(h.srv == NULL);
    hs_finish(&h);
}

static void client_shutdown_deadline(hs *h) {
    cl a;
    CHECK_EQ_INT(cl_open(&a, h->port), 0);
    CHECK_EQ_INT(cl_sends(&a, "GET /never HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    CHECK(wait_for(h, probe_requests, 1));
    CHECK(on_loop(h, do_shutdown, (void *)(uintptr_t)(200 * MS)));
    uint64_t t0 = gale_now_ns();
    CHECK(cl_eof(&a));
    CHECK(gale_now_ns() - t0 >= 150 * MS);
    CHECK(wait_for(h, probe_done, 1));
    cl_close(&a);
}

TEST(shutdown_deadline_aborts_what_is_left) {
    hs h = {0};
    hs_start(&h, NULL);
    hs_run_client(&h, client_shutdown_deadline, 10000);
    CHECK_EQ_INT(h.aborts, 1);
    CHECK_EQ_INT(h.abort_err, -ETIMEDOUT);
    CHECK_EQ_INT(h.abort_end_rc, -EPIPE);
    CHECK_EQ_INT(h.done_calls, 1);
    CHECK_EQ_INT(h.done_conns, 0);
    hs_finish(&h);
}

static void stop_when_done(void *ud) {
    hs *h = ud;
    h->done_calls++;
    gale_loop_stop(h->loop);
}

TEST(shutdown_without_connections_calls_done_once) {
    hs h = {0};
    hs_start(&h, NULL);
    gale_http_server_shutdown(h.srv, 0, stop_when_done, &h);
    run_for(h.loop, 2000);
    CHECK_EQ_INT(h.done_calls, 1);
    CHECK_EQ_INT(gale_http_server_listen(h.srv, "127.0.0.1", 0, -1, 0, NULL), -EINVAL);
    hs_finish(&h);
}

/* Freed while a shutdown still waits for a connection: done runs then, once, so whoever
 * waits for it is not left hanging. */
static void shutdown_then_free(hs *h, void *arg) {
    gale_http_server_shutdown(h->srv, 10000 * MS, on_done, h);
    CHECK_EQ_INT(h->done_calls, 0); /* the connection is still open */
    gale_http_server_free(h->srv);
    h->srv = NULL;
}

static void client_shutdown_free(hs *h) {
    cl a;
    CHECK_EQ_INT(cl_open(&a, h->port), 0);
    CHECK_EQ_INT(cl_sends(&a, "GET /never HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    CHECK(wait_for(h, probe_requests, 1));
    CHECK(on_loop(h, shutdown_then_free, NULL));
    CHECK(cl_eof(&a));
    cl_close(&a);
}

TEST(free_during_shutdown_calls_done_once) {
    hs h = {0};
    hs_start(&h, NULL);
    hs_run_client(&h, client_shutdown_free, 10000);
    CHECK(h.srv == NULL);
    CHECK_EQ_INT(h.done_calls, 1);
    CHECK_EQ_INT(h.aborts, 1);
    CHECK_EQ_INT(h.abort_err, -ECONNABORTED);
    hs_finish(&h);
}

/* ==== freeing the server from its own callbacks ========================================== */

static int quit_handler(hs *h, gale_http_request *req) {
    if (!slice_is(gale_http_request_path(req), "/quit")) return 0;
    /* The request in hand is aborted (on_abort ends it); the server is gone after this. */
    gale_http_server_free(h->srv);
    h->srv = NULL;
    return 1;
}

static void client_quit(hs *h) {
    cl c, d;
    CHECK_EQ_INT(cl_open(&d, h->port), 0);
    CHECK_EQ_INT(cl_sends(&d, "GET /later?ms=100 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    CHECK(wait_for(h, probe_requests, 1));
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_sends(&c, "GET /quit HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    CHECK(cl_eof(&c));
    CHECK(cl_eof(&d));
    CHECK(wait_for(h, probe_later, 1)); /* the late answer still ends its request */
    cl_close(&c);
    cl_close(&d);
}

TEST(server_freed_from_its_own_handler) {
    hs h = {0};
    h.custom = quit_handler;
    hs_start(&h, NULL);
    hs_run_client(&h, client_quit, 10000);
    CHECK(h.srv == NULL);
    CHECK_EQ_INT(h.requests, 2);
    CHECK_EQ_INT(h.aborts, 2);
    CHECK_EQ_INT(h.abort_err, -ECONNABORTED);
    CHECK_EQ_INT(h.abort_end_rc, -EPIPE);
    CHECK_EQ_INT(h.later_rc[0], -EPIPE);
    hs_finish(&h);
}

/* ==== 14. request accessors ============================================================== */

static void client_accessors(hs *h) {
    cl c;
    resp r;
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    getsockname(c.fd, (struct sockaddr *)&me, &len);
    atomic_store(&h->seen, ntohs(me.sin_port));
    CHECK_EQ_INT(cl_roundtrip(&c,
                              "GET /inspect/a%20b?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\n"
                              "X-Custom:  v1 \r\nx-custom: v2\r\n\r\n",
                              &r),
                 0);
    CHECK_EQ_INT(r.status, 200);
    resp_free(&r);
    CHECK_EQ_INT(cl_roundtrip(&c,
                              "POST http://example.com:8080/inspect/abs?q HTTP/1.1\r\nHost: example.com:8080\r\n"
                              "Content-Length: 3\r\nConnection: close\r\n\r\nabc",
                              &r),
                 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(hdr_is(&r, "Connection", "close"));
    resp_free(&r);
    cl_close(&c);
    CHECK_EQ_INT(cl_open(&c, h->port), 0);
    CHECK_EQ_INT(cl_roundtrip(&c, "OPTIONS /inspect HTTP/1.0\r\n\r\n", &r), 0);
    CHECK_EQ_INT(r.status, 200);
    resp_free(&r);
    cl_close(&c);
}

TEST(request_accessors) {
    hs h = {0};
    hs_start(&h, NULL);
    hs_run_client(&h, client_accessors, 10000);
    CHECK_EQ_INT(h.ninsp, 3);
    inspect_rec *a = &h.insp[0], *b = &h.insp[1], *o = &h.insp[2];
    CHECK_EQ_STR(a->method, "GET");
    CHECK_EQ_STR(a->target, "/inspect/a%20b?x=1&y=2");
    CHECK_EQ_STR(a->path, "/inspect/a%20b");
    CHECK_EQ_STR(a->query, "x=1&y=2");
    CHECK_EQ_INT(a->version, 11);
    CHECK_EQ_INT(a->count, 3);
    CHECK(a->first_name_ok);
    CHECK_EQ_INT(a->header_oob, -EINVAL);
    CHECK_EQ_STR(a->custom, "v1"); /* the first of two, found case-insensitively, OWS trimmed */
    CHECK_EQ_INT(a->find_missing, 0);
    CHECK_EQ_INT(a->keep_alive, 1);
    CHECK_EQ_INT(a->peer_family, AF_INET);
    CHECK_EQ_INT(a->peer_port, atomic_load(&h.seen));
    char want_peer[64];
    snprintf(want_peer, sizeof want_peer, "127.0.0.1:%d", atomic_load(&h.seen));
    CHECK_EQ_STR(a->peer, want_peer);
    CHECK_EQ_STR(a->head_first, "GET ");
    CHECK(a->head_ends_crlf);
    CHECK_EQ_INT(a->body_len, 0);

    CHECK_EQ_STR(b->method, "POST");
    CHECK_EQ_STR(b->target, "http://example.com:8080/inspect/abs?q");
    CHECK_EQ_STR(b->path, "/inspect/abs");
    CHECK_EQ_STR(b->query, "q");
    CHECK_EQ_INT(b->keep_alive, 0);
    CHECK_EQ_INT(b->body_len, 3);
    CHECK(b->head_ends_crlf);

    CHECK_EQ_STR(o->method, "OPTIONS");
    CHECK_EQ_STR(o->path, "/inspect");
    CHECK_EQ_STR(o->query, "");
    CHECK_EQ_INT(o->version, 10);
    CHECK_EQ_INT(o->count, 0);
    CHECK_EQ_INT(o->keep_alive, 0);
    hs_finish(&h);
}

/* ==== 15. entity tags ==================================================================== */

/* Expected values computed once with Python, as Tornado does it:
 *   python3 -c 'import hashlib; print("\"%s\"" % hashlib.sha1(body).hexdigest())'
 * with body = b"", b"hello world", and bytes((i*7+3)&0xff for i in range(n)) for
 * n = 4096 (the cache's limit), 4097 (just past it) and 100000. */
TEST(etag_matches_tornado) {
    char tag[43];
    gale_http_etag("", 0, tag);
    CHECK_EQ_STR(tag, "\"da39a3ee5e6b4b0d3255bfef95601890afd80709\"");
    gale_http_etag("hello world", 11, tag);
    CHECK_EQ_STR(tag, "\"2aae6c35c94fcfb415dbe95f408b9ce91ee846ed\"");
    gale_http_etag("hello world", 11, tag); /* from the cache */
    CHECK_EQ_STR(tag, "\"2aae6c35c94fcfb415dbe95f408b9ce91ee846ed\"");
    gale_http_etag("hello worle", 11, tag); /* same length, one byte off: not the cached tag */
    CHECK(strcmp(tag, "\"2aae6c35c94fcfb415dbe95f408b9ce91ee846ed\"") != 0);
    CHECK_EQ_INT(strlen(tag), 42);
    unsigned char *b = malloc(100000);
    for (size_t i = 0; i < 100000; i++) b[i] = pattern(i);
    for (int k = 0; k < 2; k++) { /* the second time from the cache where it fits */
        gale_http_etag(b, 4096, tag);
        CHECK_EQ_STR(tag, "\"6272f6754cd52a09ecc9c22764b6cc138a7c907b\"");
        gale_http_etag(b, 4097, tag);
        CHECK_EQ_STR(tag, "\"fdb2e012e62d840b9ea0bb5d7bcfd4e4378a41e9\"");
        gale_http_etag(b, 100000, tag);
        CHECK_EQ_STR(tag, "\"386d00146341aa3dc6778b701e7eb165911587f5\"");
    }
    /* A cached body changed in place is hashed again, not served from the cache. */
    b[10] ^= 1;
    gale_http_etag(b, 4096, tag);
    CHECK(strcmp(tag, "\"6272f6754cd52a09ecc9c22764b6cc138a7c907b\"") != 0);
    free(b);
}

TEST(reason_phrases) {
    CHECK_EQ_STR(gale_http_reason(200), "OK");
    CHECK_EQ_STR(gale_http_reason(404), "Not Found");
    CHECK_EQ_STR(gale_http_reason(431), "Request Header Fields Too Large");
    CHECK_EQ_STR(gale_http_reason(799), "Unknown");
}

/* The loop closes a server its owner left open, and valgrind sees nothing left behind. */
TEST(loop_free_closes_an_open_server) {
    gale_loop *loop;
    CHECK_EQ_INT(gale_loop_new(&loop), 0);
    gale_http_server *srv;
    hs h = {0};
    h.loop = loop;
    CHECK_EQ_INT(gale_http_server_new(loop, NULL, &cbs, &h, NULL, &srv), 0);
    CHECK_EQ_INT(gale_http_server_listen(srv, "127.0.0.1", 0, -1, 0, NULL), 0);
    int sv[2];
    CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    CHECK_EQ_INT(gale_http_server_adopt(srv, sv[0]), 0);
    CHECK_EQ_INT(gale_http_server_connections(srv), 1);
    gale_loop_free(loop);
    close(sv[1]);
}

/* ./test_http [substring]: run only the tests whose name contains it. */
static const char *only;
#define RUN_SOME(name)                                  \
    do {                                                \
        if (!only || strstr(#name, only)) RUN(name);    \
    } while (0)

int main(int argc, char **argv) {
    only = argc > 1 ? argv[1] : NULL;
    RUN_SOME(get_keep_alive_two_requests_on_one_connection);
    RUN_SOME(server_name_configurable_or_absent);
    RUN_SOME(pipelined_requests_answered_complete_and_in_order);
    RUN_SOME(a_head_built_across_loop_turns_goes_out_whole_or_not_at_all);
    RUN_SOME(responses_to_a_pipelined_batch_leave_in_one_write);
    RUN_SOME(half_closed_client_gets_every_answer_then_close);
    RUN_SOME(client_eof_during_a_request_is_reported_once);
    RUN_SOME(http10_close_keep_alive_and_streamed_until_close);
    RUN_SOME(head_announces_length_sends_no_body_and_keeps_the_connection);
    RUN_SOME(request_bodies_length_chunked_continue_and_limit);
    RUN_SOME(streamed_upload_1mib_with_pause_and_resume);
    RUN_SOME(request_pipelined_behind_a_streamed_upload);
    RUN_SOME(streamed_body_cut_short_by_eof_aborts_at_once);
    RUN_SOME(early_answer_and_connection_close_end_the_connection);
    RUN_SOME(handler_connection_header_matches_whole_tokens);
    RUN_SOME(deep_pipeline_past_max_pipelined_is_answered_in_order);
    RUN_SOME(inline_answers_to_a_pipelined_batch_do_not_nest);
    RUN_SOME(malformed_requests_get_their_status_and_close);
    RUN_SOME(responses_framing_validation_and_no_body_statuses);
    RUN_SOME(streamed_response_to_a_slow_reader_honours_the_watermarks);
    RUN_SOME(streamed_response_to_a_client_that_never_reads_times_out);
    RUN_SOME(on_writable_follows_a_burst_the_kernel_took_at_once);
    RUN_SOME(slowloris_gets_408_while_others_are_served);
    RUN_SOME(idle_keep_alive_connection_is_closed_after_idle_timeout);
    RUN_SOME(idle_timeout_does_not_cut_a_response_being_read);
    RUN_SOME(stalled_streamed_body_aborts_with_etimedout);
    RUN_SOME(body_timeout_counts_from_the_last_progress);
    RUN_SOME(max_connections_refuses_with_503_then_serves_again);
    RUN_SOME(client_disconnect_aborts_the_request_in_flight);
    RUN_SOME(client_close_during_a_late_answer_releases_everything);
    RUN_SOME(shutdown_drains_idle_finishes_in_flight_then_done);
    RUN_SOME(shutdown_done_may_free_the_server);
    RUN_SOME(shutdown_deadline_aborts_what_is_left);
    RUN_SOME(shutdown_without_connections_calls_done_once);
    RUN_SOME(free_during_shutdown_calls_done_once);
    RUN_SOME(server_freed_from_its_own_handler);
    RUN_SOME(request_accessors);
    RUN_SOME(etag_matches_tornado);
    RUN_SOME(reason_phrases);
    RUN_SOME(loop_free_closes_an_open_server);
    return test_summary();
}
