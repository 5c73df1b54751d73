/* http_server.c - gale_http_server: listeners, the connection set, timeout lists, the buffer
 * pool, the Date header and graceful shutdown. */
#include "http_internal.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define LINGER_NS (2000ull * 1000000ull)

static const gale_http_config defaults = {
    .max_body_size = 100ull * 1024 * 1024,
    .header_timeout_ns = 30ull * 1000000000ull,
    .idle_timeout_ns = 60ull * 1000000000ull,
    .body_timeout_ns = 60ull * 1000000000ull,
    .max_pipelined = 64 * 1024,
    .write_high_water = 256 * 1024,
    .write_low_water = 64 * 1024,
    .drain_timeout_ns = 1000ull * 1000000ull,
};

/* ---- buffer pool ------------------------------------------------------------------------ */

static char *pool_get(gale_http_server *srv) {
    if (srv->npool) return srv->pool[--srv->npool];
    return malloc(HTTP_BUF_SIZE);
}

static void pool_put(gale_http_server *srv, char *buf) {
    if (srv && srv->npool < HTTP_POOL_KEEP && !srv->freeing) srv->pool[srv->npool++] = buf;
    else free(buf);
}

gale_http_field *gale__http_fields_get(gale_http_server *srv) {
    if (srv->nfpool) return srv->fpool[--srv->nfpool];
    return malloc(srv->cfg.limits.max_headers * sizeof(gale_http_field));
}

void gale__http_fields_put(gale_http_server *srv, gale_http_field *f) {
    if (srv && srv->nfpool < HTTP_POOL_KEEP && !srv->freeing) srv->fpool[srv->nfpool++] = f;
    else free(f);
}

void gale__http_buf_free(gale_http_server *srv, http_buf *b) {
    if (b->cap == HTTP_BUF_SIZE) pool_put(srv, b->data);
    else free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}

/* Make room for `more` bytes after len (moving the live part to the front first), without
 * growing past `limit` bytes of live data. @return 0, -ENOMEM, or -E2BIG past the limit. */
int gale__http_buf_reserve(gale_http_server *srv, http_buf *b, size_t more, size_t limit) {
    size_t live = b->len - b->off;
    if (live + more > limit) return -E2BIG;
    if (!b->data) {
        size_t want = more <= HTTP_BUF_SIZE ? HTTP_BUF_SIZE : more;
        b->data = want == HTTP_BUF_SIZE ? pool_get(srv) : malloc(want);
        if (!b->data) return -ENOMEM;
        b->cap = want;
        b->off = b->len = 0;
        return 0;
    }
    if (b->len + more <= b->cap) return 0;
    if (b->off > 0 && live + more <= b->cap) {
        memmove(b->data, b->data + b->off, live);
        b->off = 0;
        b->len = live;
        return 0;
    }
    size_t cap = b->cap * 2;
    while (cap < live + more) cap *= 2;
    char *d = malloc(cap);
    if (!d) return -ENOMEM;
    memcpy(d, b->data + b->off, live);
    if (b->cap == HTTP_BUF_SIZE) pool_put(srv, b->data);
    else free(b->data);
    b->data = d;
    b->cap = cap;
    b->off = 0;
    b->len = live;
    return 0;
}

/* ---- timeouts --------------------------------------------------------------------------- */

static uint64_t coarse_now(void) {
    struct timespec ts;
#ifdef CLOCK_MONOTONIC_COARSE
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void arm_timer(gale_http_server *srv) {
    if (srv->freeing) return;
    uint64_t due = UINT64_MAX;
    for (int i = 0; i < TL_COUNT; i++)
        if (srv->thead[i] && srv->thead[i]->deadline < due) due = srv->thead[i]->deadline;
    if (due == UINT64_MAX) {
        if (srv->timer_due) event_del(srv->timer);
        srv->timer_due = 0;
        return;
    }
    if (srv->timer_due && srv->timer_due <= due) return; /* already due no later */
    uint64_t now = coarse_now();
    /* The coarse clock may lag the precise one by a tick: add 5 ms so we never wake early. */
    struct timeval tv = gale__tv((due > now ? due - now : 0) + 5000000u);
    evtimer_add(srv->timer, &tv);
    srv->timer_due = due;
}

void gale__http_timeout_set(gale_http_conn *c, int list) {
    gale_http_server *srv = c->srv;
    if (c->tlist != TL_NONE) {
        int l = c->tlist;
        if (c->tprev) c->tprev->tnext = c->tnext;
        else srv->thead[l] = c->tnext;
        if (c->tnext) c->tnext->tprev = c->tprev;
        else srv->ttail[l] = c->tprev;
        c->tprev = c->tnext = NULL;
        c->tlist = TL_NONE;
    }
    if (list == TL_NONE || srv->tdur[list] == 0) return;
    c->deadline = coarse_now() + srv->tdur[list];
    c->tlist = list;
    c->tprev = srv->ttail[list];
    if (srv->ttail[list]) srv->ttail[list]->tnext = c;
    else srv->thead[list] = c;
    srv->ttail[list] = c;
    if (!srv->timer_due || c->deadline < srv->timer_due) arm_timer(srv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
    gale_http_server *srv = arg;
    srv->timer_due = 0;
    uint64_t now = coarse_now();
    for (int l = 0; l < TL_COUNT; l++) {
        gale_http_conn *c;
        while ((c = srv->thead[l]) && c->deadline <= now) {
            gale__http_timeout_set(c, TL_NONE);
            gale__http_conn_on_timeout(c);
        }
    }
    arm_timer(srv);
}

/* ---- Date ------------------------------------------------------------------------------- */

const char *gale__http_date(gale_http_server *srv) {
    struct timeval tv;
    event_base_gettimeofday_cached(gale_loop_base(srv->loop), &tv);
    if (tv.tv_sec != srv->date_sec) {
        static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        struct tm tm;
        time_t t = tv.tv_sec;
        gmtime_r(&t, &tm);
        snprintf(srv->date, sizeof srv->date, "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n", days[tm.tm_wday],
                 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        srv->date_sec = tv.tv_sec;
    }
    return srv->date;
}

/* ---- connections ------------------------------------------------------------------------ */

void gale__http_maybe_shutdown_done(gale_http_server *srv) {
    if (srv->shutting_down && srv->nconns == 0 && srv->shutdown_done && !srv->freeing) {
        gale_loop_fn done = srv->shutdown_done;
        srv->shutdown_done = NULL;
        if (srv->shutdown_timer) event_del(srv->shutdown_timer);
        done(srv->shutdown_ud);
    }
}

/* Unlink a closed connection from the server; its memory goes now, or when the request it
 * still holds is ended. The caller completes a shutdown once it is done with the connection
 * (gale__http_maybe_shutdown_done), since done() may free the server. */
void gale__http_conn_destroy(gale_http_conn *c) {
    gale_http_server *srv = c->srv;
    if (srv) {
        gale__http_timeout_set(c, TL_NONE);
        if (c->cprev) c->cprev->cnext = c->cnext;
        else srv->conns = c->cnext;
        if (c->cnext) c->cnext->cprev = c->cprev;
        srv->nconns--;
        if (c->refused) srv->nrefused--;
    }
}

static void on_accept(gale_listener *l, int fd, const gale_addr *peer, void *ud) {
    gale_http_server *srv = ud;
    gale__http_conn_start(srv, fd, peer);
}

static void force_close(gale__handle *h) { gale_http_server_free((gale_http_server *)h); }

GALE_EXPORT int gale_http_server_new(gale_loop *loop, const gale_http_config *config, const gale_http_callbacks *cbs,
                                     void *ud, gale_free_fn ud_free, gale_http_server **out) {
    gale_http_server *srv = calloc(1, sizeof *srv);
    if (!srv) return -ENOMEM;
    srv->loop = loop;
    srv->cfg = config ? *config : defaults;
    gale_http_config *c = &srv->cfg;
    if (!c->max_body_size) c->max_body_size = defaults.max_body_size;
    if (!c->header_timeout_ns) c->header_timeout_ns = defaults.header_timeout_ns;
    if (!c->idle_timeout_ns) c->idle_timeout_ns = defaults.idle_timeout_ns;
    if (!c->body_timeout_ns) c->body_timeout_ns = defaults.body_timeout_ns;
    if (!c->max_pipelined) c->max_pipelined = defaults.max_pipelined;
    if (!c->write_high_water) c->write_high_water = defaults.write_high_water;
    if (!c->write_low_water || c->write_low_water > c->write_high_water) c->write_low_water = c->write_high_water / 4;
    if (!c->drain_timeout_ns) c->drain_timeout_ns = defaults.drain_timeout_ns;
    gale_http_limits_default(&srv->cfg.limits);
    if (config) {
        if (config->limits.max_request_line) srv->cfg.limits.max_request_line = config->limits.max_request_line;
        if (config->limits.max_header_bytes) srv->cfg.limits.max_header_bytes = config->limits.max_header_bytes;
        if (config->limits.max_headers) srv->cfg.limits.max_headers = config->limits.max_headers;
    }
    if (srv->cfg.limits.max_headers > HTTP_MAX_FIELDS_CAP) srv->cfg.limits.max_headers = HTTP_MAX_FIELDS_CAP;
    const char *name = config && config->server_name ? config->server_name : "Gale";
    srv->cfg.server_name = NULL; /* not kept: copied into the header below */
    if (*name) {
        int n = snprintf(srv->server_header, sizeof srv->server_header, "Server: %s\r\n", name);
        if (n < 0 || (size_t)n >= sizeof srv->server_header || !gale__http_valid_value(name, strlen(name))) {
            free(srv);
            return -EINVAL;
        }
        srv->server_header_len = (size_t)n;
    }
    srv->tdur[TL_IDLE] = c->idle_timeout_ns;
    srv->tdur[TL_HEAD] = c->header_timeout_ns;
    srv->tdur[TL_BODY] = c->body_timeout_ns;
    srv->tdur[TL_LINGER] = LINGER_NS;
    srv->tdur[TL_DRAIN] = c->drain_timeout_ns;
    srv->timer = evtimer_new(gale_loop_base(loop), on_timer, srv);
    if (!srv->timer) {
        free(srv);
        return -ENOMEM;
    }
    srv->cbs = cbs;
    srv->ud = ud;
    srv->ud_free = ud_free;
    srv->date_sec = -1;
    gale__handle_link(loop, &srv->h, force_close);
    *out = srv;
    return 0;
}

GALE_EXPORT int gale_http_server_listen(gale_http_server *srv, const char *host, int port, int backlog, unsigned flags,
                                        gale_listener **out_listener) {
    if (srv->shutting_down) return -EINVAL;
    if (srv->nlisteners == sizeof srv->listeners / sizeof srv->listeners[0]) return -ENOSPC;
    gale_listener *l;
    int err = gale_listener_open(srv->loop, host, port, backlog, flags, on_accept, srv, NULL, &l);
    if (err < 0) return err;
    /* The listener is the server's: the server closes it, so the loop must not close it on its
     * own (gale_loop_free closes the server, which closes its listeners). Every object on a
     * loop starts with its handle. */
    gale__handle_unlink((gale__handle *)l);
    srv->listeners[srv->nlisteners++] = l;
    if (out_listener) *out_listener = l;
    return 0;
}

GALE_EXPORT int gale_http_server_listen_fd(gale_http_server *srv, int fd, gale_listener **out_listener) {
    if (srv->shutting_down || srv->freeing || srv->nlisteners == sizeof srv->listeners / sizeof srv->listeners[0]) {
        gale__close_fd(fd);
        return srv->shutting_down || srv->freeing ? -EINVAL : -ENOSPC;
    }
    gale_listener *l;
    int err = gale_listener_open_fd(srv->loop, fd, on_accept, srv, NULL, &l);
    if (err < 0) return err;
    gale__handle_unlink((gale__handle *)l); /* the server's, like the ones it opens itself */
    srv->listeners[srv->nlisteners++] = l;
    if (out_listener) *out_listener = l;
    return 0;
}

GALE_EXPORT int gale_http_server_adopt(gale_http_server *srv, int fd) {
    if (srv->shutting_down) {
        gale__close_fd(fd);
        return -EINVAL;
    }
    int err = gale__set_nonblock_cloexec(fd);
    if (err < 0) {
        gale__close_fd(fd);
        return err;
    }
    gale_addr peer;
    memset(&peer, 0, sizeof peer);
    socklen_t len = sizeof peer.storage;
    if (getpeername(fd, (struct sockaddr *)&peer.storage, &len) == 0) peer.len = len;
    gale__http_conn_start(srv, fd, &peer);
    return 0;
}

static void on_shutdown_deadline(evutil_socket_t fd, short what, void *arg) {
    gale_http_server *srv = arg;
    while (srv->conns) gale__http_conn_close(srv->conns, -ETIMEDOUT);
}

GALE_EXPORT void gale_http_server_shutdown(gale_http_server *srv, uint64_t deadline_ns, gale_loop_fn done, void *ud) {
    if (srv->freeing) return;
    for (unsigned i = 0; i < srv->nlisteners; i++) gale_listener_close(srv->listeners[i]);
    srv->nlisteners = 0;
    srv->shutting_down = 1;
    srv->shutdown_done = done;
    srv->shutdown_ud = ud;
    /* Busy connections close once their response is out; idle ones get a short drain window
     * (a request of theirs may be on its way), then close. */
    if (deadline_ns && deadline_ns < srv->tdur[TL_DRAIN]) srv->tdur[TL_DRAIN] = deadline_ns;
    gale_http_conn *c = srv->conns, *next;
    for (; c; c = next) {
        next = c->cnext;
        c->shutting = 1;
        if (!c->req_active && c->in.len == c->in.off && !c->in_body && !c->lingering)
            gale__http_timeout_set(c, TL_DRAIN);
    }
    if (deadline_ns && srv->conns) {
        if (!srv->shutdown_timer) srv->shutdown_timer = evtimer_new(gale_loop_base(srv->loop), on_shutdown_deadline, srv);
        if (srv->shutdown_timer) {
            struct timeval tv = gale__tv(deadline_ns);
            evtimer_add(srv->shutdown_timer, &tv);
        }
    }
    gale__http_maybe_shutdown_done(srv);
}

static void finalize(void *arg) {
    gale_http_server *srv = arg;
    for (unsigned i = 0; i < srv->npool; i++) free(srv->pool[i]);
    for (unsigned i = 0; i < srv->nfpool; i++) free(srv->fpool[i]);
    event_free(srv->timer);
    if (srv->shutdown_timer) event_free(srv->shutdown_timer);
    free(srv);
}

/* Everything closes now; the memory goes through the loop's release queue, because the call
 * may come from one of the server's own callbacks (a handler, on_abort, done) with the
 * server's code still on the stack underneath, reading srv once the callback returns. */
GALE_EXPORT void gale_http_server_free(gale_http_server *srv) {
    if (!srv || srv->freeing) return;
    srv->freeing = 1;
    /* A shutdown still waiting ends here: its done runs (once) so the waiter can go on. */
    gale_loop_fn done = srv->shutdown_done;
    srv->shutdown_done = NULL;
    gale__handle_unlink(&srv->h);
    for (unsigned i = 0; i < srv->nlisteners; i++) gale_listener_close(srv->listeners[i]);
    srv->nlisteners = 0;
    while (srv->conns) gale__http_conn_close(srv->conns, -ECONNABORTED);
    event_del(srv->timer);
    if (srv->shutdown_timer) event_del(srv->shutdown_timer);
    if (done) done(srv->shutdown_ud); /* after the on_aborts, as a shutdown's done runs */
    if (srv->ud_free) srv->ud_free(srv->ud);
    srv->ud_free = NULL;
    /* Without memory for the queue entry, leak rather than risk a use after free. */
    (void)gale__loop_release_later(srv->loop, finalize, srv);
}

GALE_EXPORT uint32_t gale_http_server_connections(const gale_http_server *srv) { return srv->nconns; }

GALE_EXPORT uint64_t gale_http_server_requests(const gale_http_server *srv) { return srv->requests; }
