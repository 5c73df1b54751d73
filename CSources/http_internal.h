/* http_internal.h - the HTTP server's objects, shared by http_server.c (server, accept,
 * timeouts, pools), http_conn.c (a connection's input: parsing, bodies, dispatch) and
 * http_response.c (a connection's output: heads, bodies, chunking, flushing). */
#ifndef GALE_HTTP_INTERNAL_H
#define GALE_HTTP_INTERNAL_H

#include "internal.h"

/* Buffers come from a per-server pool: a connection holds one only while a message is being
 * read or answered, so idle keep-alive connections cost no buffer memory. */
#define HTTP_BUF_SIZE (16u * 1024u)
#define HTTP_POOL_KEEP 64u
#define HTTP_MAX_FIELDS_CAP 512u

/* Timeout lists: each holds connections waiting with the same timeout, so appending keeps a
 * list ordered by deadline and the server's one timer only looks at the heads. */
enum { TL_NONE = -1, TL_IDLE = 0, TL_HEAD, TL_BODY, TL_LINGER, TL_DRAIN, TL_COUNT };

/* A growable byte buffer; data may come from the pool (cap == HTTP_BUF_SIZE) or malloc. */
typedef struct http_buf {
    char *data;
    size_t off; /* consumed prefix */
    size_t len; /* bytes in use, from data */
    size_t cap;
} http_buf;

typedef struct gale_http_conn gale_http_conn;

struct gale_http_request {
    gale_http_conn *conn; /* NULL once the connection is gone */
    const char *base;     /* the message's first byte (head), stable while delivered */
    gale_slice body;      /* a buffered body */
    void *ud;
    gale_free_fn ud_free;
    int status;
    uint64_t declared_length; /* a Content-Length the owner set */
    uint64_t body_sent;       /* body bytes framed so far (after the head) */
    unsigned started : 1, head_sent : 1, chunked : 1, until_close : 1, has_length : 1, is_head : 1,
        no_body : 1, user_date : 1, user_server : 1, user_close : 1, aborted : 1, stream_body : 1,
        body_paused : 1, want_writable : 1, eof_told : 1;
};

struct gale_http_conn {
    gale__handle h;
    gale_http_server *srv;
    gale_http_conn *tprev, *tnext; /* in a timeout list */
    gale_http_conn *cprev, *cnext; /* in the server's list of connections */
    int tlist;
    uint64_t deadline;
    int fd;
    struct event *rev, *wev; /* allocated behind the struct */
    gale_addr peer;

    /* Input. Before a message is delivered it starts at in.off; once delivered, in.off is
     * past it (or past its head, when its body is streamed) and the message's bytes stay put:
     * in `in` (req_in_in) or, if `in` had to move, in `pinned`. */
    http_buf in;
    http_buf pinned;
    gale_http_parser parser;
    gale_http_field *fields; /* max_headers entries, from the server's field pool */
    uint32_t head_len;       /* of the current message once parsed */
    uint32_t body_rel;       /* buffered chunked body: raw bytes consumed, from in.off */
    uint64_t body_left;      /* Content-Length body bytes still to come */
    uint64_t body_total;     /* body bytes received, against max_body_size */
    gale_http_chunked chunked;
    http_buf body;           /* a buffered chunked body, decoded */

    /* Output: bytes waiting for the socket, then (head_building bytes at its tail) the head
     * being built, which is not sent until it is complete; body held before the head goes. */
    http_buf out;
    size_t head_building;
    http_buf held;
    uint64_t held_len;       /* body bytes held (counted, not stored, for HEAD) */

    gale_http_request req;
    void *conn_ud;
    gale_free_fn conn_ud_free;
    uint32_t dispatching;  /* >0 while inside our own read processing */
    unsigned reading : 1, got_eof : 1, closing : 1, lingering : 1, dead : 1, refused : 1,
        in_body : 1, body_chunked : 1, req_active : 1, req_in_in : 1, resume_queued : 1,
        write_watch : 1, shutting : 1, served : 1, body_progress : 1, close_after : 1,
        in_deferred : 1, pumping : 1, idle_progress : 1;
};

struct gale_http_server {
    gale__handle h;
    gale_loop *loop;
    gale_http_config cfg;
    const gale_http_callbacks *cbs;
    void *ud;
    gale_free_fn ud_free;
    char server_header[96]; /* "Server: Gale\r\n" or "" */
    size_t server_header_len;
    gale_listener *listeners[8];
    unsigned nlisteners;
    gale_http_conn *conns; /* every open connection */
    uint32_t nconns;
    uint32_t nrefused; /* of those, refused (503) and closing: not counted against the limit */
    uint64_t requests;
    gale_http_conn *thead[TL_COUNT], *ttail[TL_COUNT];
    uint64_t tdur[TL_COUNT];
    struct event *timer;
    uint64_t timer_due;
    char *pool[HTTP_POOL_KEEP];
    unsigned npool;
    gale_http_field *fpool[HTTP_POOL_KEEP]; /* field arrays of cfg.limits.max_headers */
    unsigned nfpool;
    /* The Date header, rebuilt when the second changes. */
    char date[40];
    time_t date_sec;
    /* Graceful shutdown. */
    unsigned shutting_down : 1, freeing : 1;
    gale_loop_fn shutdown_done;
    void *shutdown_ud;
    struct event *shutdown_timer;
};

/* http_server.c */
gale_http_field *gale__http_fields_get(gale_http_server *srv);
void gale__http_fields_put(gale_http_server *srv, gale_http_field *f);
void gale__http_buf_free(gale_http_server *srv, http_buf *b);
/* Give a buffer's memory back (to the pool if pool-sized). Inline: most buffers a request
 * releases were never taken. */
static inline void gale__http_buf_release(gale_http_server *srv, http_buf *b) {
    if (b->data) gale__http_buf_free(srv, b);
    else b->off = b->len = b->cap = 0;
}
int gale__http_buf_reserve(gale_http_server *srv, http_buf *b, size_t more, size_t limit);
void gale__http_timeout_set(gale_http_conn *c, int list);
const char *gale__http_date(gale_http_server *srv); /* "Date: ...\r\n", 37 bytes */
void gale__http_conn_destroy(gale_http_conn *c);
/* If a shutdown is waiting for the last connection and it is gone, call done (may free srv). */
void gale__http_maybe_shutdown_done(gale_http_server *srv);

/* http_conn.c */
void gale__http_conn_start(gale_http_server *srv, int fd, const gale_addr *peer);
void gale__http_conn_on_timeout(gale_http_conn *c);
void gale__http_conn_close(gale_http_conn *c, int err);
/* Go on later in this loop turn: process queued input, flush output (no-op while inside
 * the connection's own processing, which does both before it returns). */
void gale__http_conn_resume(gale_http_conn *c);
void gale__http_conn_linger(gale_http_conn *c);
void gale__http_conn_error(gale_http_conn *c, int status, const char *reason);
void gale__http_conn_update_reading(gale_http_conn *c);
/* The response ended: forget the request, keep the connection or close it. */
void gale__http_conn_request_done(gale_http_conn *c);

/* http_response.c */
int gale__http_flush_output(gale_http_conn *c); /* write what is queued; 0 or -errno */
void gale__http_on_write(evutil_socket_t fd, short what, void *arg);
int gale__http_send_simple(gale_http_conn *c, int status, const char *reason);
size_t gale__http_out_pending(const gale_http_conn *c);
int gale__http_keep_alive(const gale_http_conn *c);
/* A field value we may send: no CR, LF, NUL or other CTL but HTAB (no header injection). */
int gale__http_valid_value(const char *s, size_t n);

#endif /* GALE_HTTP_INTERNAL_H */
