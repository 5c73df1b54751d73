/* http_response.c - one HTTP/1.1 connection's output side: building heads, framing bodies
 * (Content-Length, chunked, until-close), flushing with backpressure, the server's own error
 * answers, reason phrases and Tornado-compatible entity tags. */
#include "http_internal.h"

#include <stdio.h>
#include <unistd.h>

/* ---- reason phrases --------------------------------------------------------------------- */

GALE_EXPORT const char *gale_http_reason(int status) {
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* ---- buffers ---------------------------------------------------------------------------- */

size_t gale__http_out_pending(const gale_http_conn *c) { return c->out.len - c->out.off - c->head_building; }

static int append(gale_http_conn *c, http_buf *b, const void *data, size_t len) {
    if (len == 0) return 0;
    if (b->cap - b->len < len && gale__http_buf_reserve(c->srv, b, len, SIZE_MAX) < 0) return -ENOMEM;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

static int append_str(gale_http_conn *c, http_buf *b, const char *s) { return append(c, b, s, strlen(s)); }

static size_t fmt_u64(char *out, uint64_t v, int base) {
    char tmp[24];
    size_t n = 0;
    do {
        unsigned d = (unsigned)(v % (unsigned)base);
        tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= (unsigned)base;
    } while (v);
    for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

/* ---- writing to the socket -------------------------------------------------------------- */

static void watch_writes(gale_http_conn *c, int on) {
    if (on == (int)c->write_watch) return;
    if (on) event_add(c->wev, NULL);
    else event_del(c->wev);
    c->write_watch = on ? 1 : 0;
}

/* The client is reading what we send: an idle connection is not idle while its last
 * response is still going out, so the idle deadline runs from the last progress (and the
 * same deadline bounds a response in flight whose output the client stopped reading). */
static void wrote_some(gale_http_conn *c) {
    if (c->tlist != TL_IDLE) return;
    /* Inside process() its tail sets the deadline anyway: re-arm once, there. */
    if (c->dispatching) c->idle_progress = 1;
    else gale__http_timeout_set(c, TL_IDLE);
}

int gale__http_flush_output(gale_http_conn *c) {
    if (c->dead) return -EPIPE;
    int progress = 0;
    size_t end = c->out.len - c->head_building; /* a head being built waits for its end */
    while (end > c->out.off) {
        ssize_t n = write(c->fd, c->out.data + c->out.off, end - c->out.off);
        if (n > 0) {
            c->out.off += (size_t)n;
            progress = 1;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (progress) wrote_some(c);
            watch_writes(c, 1);
            return 0;
        }
        int err = n < 0 ? gale__neg_errno() : -EPIPE;
        gale__http_conn_close(c, err);
        return err;
    }
    if (progress) wrote_some(c);
    if (!c->head_building) gale__http_buf_release(c->srv, &c->out);
    watch_writes(c, 0);
    /* All out: a request still in flight may now wait as long as it likes (a long poll). */
    if (c->req_active && c->tlist == TL_IDLE) gale__http_timeout_set(c, TL_NONE);
    return 0;
}

void gale__http_on_write(evutil_socket_t fd, short what, void *arg) {
    gale_http_conn *c = arg;
    if (gale__http_flush_output(c) < 0 || c->dead) return;
    gale_http_server *srv = c->srv;
    if (c->req.want_writable && gale__http_out_pending(c) <= srv->cfg.write_low_water && c->req_active) {
        c->req.want_writable = 0;
        gale_loop *loop = srv->loop;
        gale__loop_defer_hold(loop); /* the owner's tasks resume right after, below */
        if (srv->cbs->on_writable) srv->cbs->on_writable(&c->req, srv->ud);
        gale__loop_defer_unhold_and_run(loop);
        if (c->dead) return;
    }
    if (gale__http_out_pending(c) == 0 && c->closing && !c->req_active) gale__http_conn_linger(c);
    gale__http_conn_update_reading(c);
}

/* ---- the head --------------------------------------------------------------------------- */

/* 1: tchar (RFC 9110 token); 2: allowed in a field value (VCHAR, obs-text, SP, HTAB). */
static const unsigned char char_class[256] = {
    ['\t'] = 2, [' '] = 2,
    ['!'] = 3, ['"'] = 2, ['#'] = 3, ['$'] = 3, ['%'] = 3, ['&'] = 3, ['\''] = 3, ['('] = 2, [')'] = 2,
    ['*'] = 3, ['+'] = 3, [','] = 2, ['-'] = 3, ['.'] = 3, ['/'] = 2,
    ['0'] = 3, ['1'] = 3, ['2'] = 3, ['3'] = 3, ['4'] = 3, ['5'] = 3, ['6'] = 3, ['7'] = 3, ['8'] = 3, ['9'] = 3,
    [':'] = 2, [';'] = 2, ['<'] = 2, ['='] = 2, ['>'] = 2, ['?'] = 2, ['@'] = 2,
    ['A'] = 3, ['B'] = 3, ['C'] = 3, ['D'] = 3, ['E'] = 3, ['F'] = 3, ['G'] = 3, ['H'] = 3, ['I'] = 3,
    ['J'] = 3, ['K'] = 3, ['L'] = 3, ['M'] = 3, ['N'] = 3, ['O'] = 3, ['P'] = 3, ['Q'] = 3, ['R'] = 3,
    ['S'] = 3, ['T'] = 3, ['U'] = 3, ['V'] = 3, ['W'] = 3, ['X'] = 3, ['Y'] = 3, ['Z'] = 3,
    ['['] = 2, ['\\'] = 2, [']'] = 2, ['^'] = 3, ['_'] = 3, ['`'] = 3,
    ['a'] = 3, ['b'] = 3, ['c'] = 3, ['d'] = 3, ['e'] = 3, ['f'] = 3, ['g'] = 3, ['h'] = 3, ['i'] = 3,
    ['j'] = 3, ['k'] = 3, ['l'] = 3, ['m'] = 3, ['n'] = 3, ['o'] = 3, ['p'] = 3, ['q'] = 3, ['r'] = 3,
    ['s'] = 3, ['t'] = 3, ['u'] = 3, ['v'] = 3, ['w'] = 3, ['x'] = 3, ['y'] = 3, ['z'] = 3,
    ['{'] = 2, ['|'] = 3, ['}'] = 2, ['~'] = 3,
    [0x80] = 2, [0x81] = 2, [0x82] = 2, [0x83] = 2, [0x84] = 2, [0x85] = 2, [0x86] = 2, [0x87] = 2,
    [0x88] = 2, [0x89] = 2, [0x8a] = 2, [0x8b] = 2, [0x8c] = 2, [0x8d] = 2, [0x8e] = 2, [0x8f] = 2,
    [0x90] = 2, [0x91] = 2, [0x92] = 2, [0x93] = 2, [0x94] = 2, [0x95] = 2, [0x96] = 2, [0x97] = 2,
    [0x98] = 2, [0x99] = 2, [0x9a] = 2, [0x9b] = 2, [0x9c] = 2, [0x9d] = 2, [0x9e] = 2, [0x9f] = 2,
    [0xa0] = 2, [0xa1] = 2, [0xa2] = 2, [0xa3] = 2, [0xa4] = 2, [0xa5] = 2, [0xa6] = 2, [0xa7] = 2,
    [0xa8] = 2, [0xa9] = 2, [0xaa] = 2, [0xab] = 2, [0xac] = 2, [0xad] = 2, [0xae] = 2, [0xaf] = 2,
    [0xb0] = 2, [0xb1] = 2, [0xb2] = 2, [0xb3] = 2, [0xb4] = 2, [0xb5] = 2, [0xb6] = 2, [0xb7] = 2,
    [0xb8] = 2, [0xb9] = 2, [0xba] = 2, [0xbb] = 2, [0xbc] = 2, [0xbd] = 2, [0xbe] = 2, [0xbf] = 2,
    [0xc0] = 2, [0xc1] = 2, [0xc2] = 2, [0xc3] = 2, [0xc4] = 2, [0xc5] = 2, [0xc6] = 2, [0xc7] = 2,
    [0xc8] = 2, [0xc9] = 2, [0xca] = 2, [0xcb] = 2, [0xcc] = 2, [0xcd] = 2, [0xce] = 2, [0xcf] = 2,
    [0xd0] = 2, [0xd1] = 2, [0xd2] = 2, [0xd3] = 2, [0xd4] = 2, [0xd5] = 2, [0xd6] = 2, [0xd7] = 2,
    [0xd8] = 2, [0xd9] = 2, [0xda] = 2, [0xdb] = 2, [0xdc] = 2, [0xdd] = 2, [0xde] = 2, [0xdf] = 2,
    [0xe0] = 2, [0xe1] = 2, [0xe2] = 2, [0xe3] = 2, [0xe4] = 2, [0xe5] = 2, [0xe6] = 2, [0xe7] = 2,
    [0xe8] = 2, [0xe9] = 2, [0xea] = 2, [0xeb] = 2, [0xec] = 2, [0xed] = 2, [0xee] = 2, [0xef] = 2,
    [0xf0] = 2, [0xf1] = 2, [0xf2] = 2, [0xf3] = 2, [0xf4] = 2, [0xf5] = 2, [0xf6] = 2, [0xf7] = 2,
    [0xf8] = 2, [0xf9] = 2, [0xfa] = 2, [0xfb] = 2, [0xfc] = 2, [0xfd] = 2, [0xfe] = 2, [0xff] = 2,
};

static int valid_token(const char *s, size_t n) {
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (!(char_class[(unsigned char)s[i]] & 1)) return 0;
    return 1;
}

/* A field value: no CTL but HTAB, no DEL. Eight bytes at a time: a word holds a byte below
 * 0x20 when (x - 0x20..) & ~x & 0x80.. is nonzero (bytes >= 0x80, obs-text, are fine and
 * masked out by ~x), and a 0x7f byte when x ^ 0x7f.. has a zero byte; only such words are
 * looked at byte by byte (a tab is the usual reason). */
int gale__http_valid_value(const char *s, size_t n) {
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        uint64_t ctl = (x - 0x20 * ones) & ~x & highs;
        uint64_t y = x ^ (0x7f * ones);
        uint64_t del = (y - ones) & ~y & highs;
        if (ctl | del)
            for (size_t j = i; j < i + 8; j++)
                if (!(char_class[(unsigned char)s[j]] & 2)) return 0;
    }
    for (; i < n; i++)
        if (!(char_class[(unsigned char)s[i]] & 2)) return 0;
    return 1;
}

/* Whether name (n bytes, any case) is the lowercase literal lit (m bytes). */
static int name_is_n(const char *name, size_t n, const char *lit, size_t m) {
    if (n != m) return 0;
    for (size_t i = 0; i < n; i++) {
        char a = name[i], b = lit[i];
        if (a >= 'A' && a <= 'Z') a = (char)(a + 32);
        if (a != b) return 0;
    }
    return 1;
}
#define name_is(name, n, lit) name_is_n((name), (n), lit, sizeof lit - 1) /* lit: a string literal */

/* Whether a comma-separated list holds the (lowercase) token lit, in any case: whole
 * elements only, so "x-closed" is not "close". */
static int has_token(const char *v, size_t n, const char *lit) {
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        size_t start = i;
        while (i < n && v[i] != ',') i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) end--;
        if (end > start && name_is_n(v + start, end - start, lit, strlen(lit))) return 1;
    }
    return 0;
}

static int status_has_no_body(int status) { return (status >= 100 && status < 200) || status == 204 || status == 304; }

static int live(const gale_http_request *req) { return req->conn && !req->conn->dead && !req->aborted; }

GALE_EXPORT int gale_http_response_start(gale_http_request *req, int status, const char *reason) {
    if (!live(req)) return -EPIPE;
    if (req->started) return -EALREADY;
    if (status < 200 || status > 999) return -EINVAL;
    if (reason && !gale__http_valid_value(reason, strlen(reason))) return -EINVAL;
    gale_http_conn *c = req->conn;
    /* The status line in one piece: "HTTP/1.1 " NNN " " reason CRLF. */
    static const char ok[] = "HTTP/1.1 200 OK\r\n";
    int plain = status == 200 && !reason; /* most responses: a constant line */
    const char *phrase = plain ? NULL : reason ? reason : gale_http_reason(status);
    size_t plen = plain ? 2 : strlen(phrase), n = 13 + plen + 2;
    http_buf *b = &c->out; /* the head is built in place, at the tail of the output */
    if (b->cap - b->len < n && gale__http_buf_reserve(c->srv, b, n, SIZE_MAX) < 0) return -ENOMEM;
    char *p = b->data + b->len;
    if (plain) {
        memcpy(p, ok, sizeof ok - 1);
    } else {
        memcpy(p, "HTTP/1.1 ", 9);
        p[9] = (char)('0' + status / 100);
        p[10] = (char)('0' + status / 10 % 10);
        p[11] = (char)('0' + status % 10);
        p[12] = ' ';
        memcpy(p + 13, phrase, plen);
        memcpy(p + 13 + plen, "\r\n", 2);
    }
    b->len += n;
    c->head_building = n;
    req->started = 1;
    req->status = status;
    req->no_body = status_has_no_body(status) || req->is_head;
    return 0;
}

GALE_EXPORT int gale_http_response_header(gale_http_request *req, const char *name, size_t name_len, const char *value,
                                          size_t value_len) {
    if (!live(req)) return -EPIPE;
    if (req->head_sent) return -EALREADY;
    if (!valid_token(name, name_len) || !gale__http_valid_value(value, value_len)) return -EINVAL;
    return gale_http_response_header_checked(req, name, name_len, value, value_len);
}

GALE_EXPORT int gale_http_response_header_checked(gale_http_request *req, const char *name, size_t name_len,
                                                  const char *value, size_t value_len) {
    if (!live(req)) return -EPIPE;
    if (req->head_sent) return -EALREADY;
    if (!req->started) {
        int e = gale_http_response_start(req, 200, NULL);
        if (e) return e;
    }
    /* Framing is the server's: it is derived from what is actually sent. The special names
     * are told apart by length first: most headers are none of them. */
    switch (name_len) {
    case 4: case 6: case 10: case 14: case 17: break;
    default: goto ordinary;
    }
    if (name_is(name, name_len, "transfer-encoding")) return -EINVAL;
    if (name_is(name, name_len, "content-length")) {
        uint64_t v = 0;
        if (value_len == 0 || value_len > 19) return -EINVAL;
        for (size_t i = 0; i < value_len; i++) {
            if (value[i] < '0' || value[i] > '9') return -EINVAL;
            v = v * 10 + (uint64_t)(value[i] - '0');
        }
        req->has_length = 1;
        req->declared_length = v;
        return 0;
    }
    if (name_is(name, name_len, "connection")) {
        if (has_token(value, value_len, "close")) req->user_close = 1;
        return 0; /* the server writes Connection itself */
    }
    if (name_is(name, name_len, "date")) req->user_date = 1;
    if (name_is(name, name_len, "server")) req->user_server = 1;
ordinary:;
    gale_http_conn *c = req->conn;
    http_buf *b = &c->out;
    size_t need = name_len + value_len + 4;
    if (b->cap - b->len < need && gale__http_buf_reserve(c->srv, b, need, SIZE_MAX) < 0) return -ENOMEM;
    char *p = b->data + b->len;
    memcpy(p, name, name_len);
    p += name_len;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, value, value_len);
    p += value_len;
    *p++ = '\r';
    *p++ = '\n';
    b->len += need;
    c->head_building += need;
    return 0;
}

/* Whether the connection stays open after the current response: what send_head decides when
 * the head goes out, and what it decided once it has (gale_http_request_keep_alive too). */
int gale__http_keep_alive(const gale_http_conn *c) {
    const gale_http_request *req = &c->req;
    if (req->aborted || c->dead || c->closing || c->close_after) return 0;
    if (req->head_sent) return 1;
    /* A body still arriving when the head goes out cannot be skipped reliably: close after.
     * A client that half-closed after pipelining still gets every answer it asked for: its
     * EOF closes the connection once the queue is empty, not here. */
    return (c->parser.head.flags & GALE_HTTP_F_KEEP_ALIVE) && !req->user_close && !c->srv->shutting_down &&
           !c->shutting && !c->in_body;
}

/* Write the head into `out`, with the framing for a body of `length` bytes (length_known) or
 * of unknown length (streaming). Decides whether the connection stays open. */
static int send_head(gale_http_conn *c, int length_known, uint64_t length) {
    gale_http_request *req = &c->req;
    gale_http_server *srv = c->srv;
    const gale_http_head *h = &c->parser.head;
    int http10 = h->version_minor == 0;
    int keep = gale__http_keep_alive(c);
    if (!req->started) {
        int e = gale_http_response_start(req, 200, NULL);
        if (e) return e;
    }
    /* One reservation for the whole head (and a small body after it), then plain copies. */
    size_t most = 37 + srv->server_header_len + 40 + 26 + 2;
    size_t want = most + (length_known && length <= 16384 ? (size_t)length : 0);
    http_buf *o = &c->out;
    int e = 0;
    if (o->cap - o->len < want && gale__http_buf_reserve(srv, o, want, SIZE_MAX) < 0) e = -ENOMEM;
    if (!e) {
        char *p = o->data + o->len;
#define PUT(src, n) (memcpy(p, (src), (n)), p += (n))
        if (!req->user_date) PUT(gale__http_date(srv), 37);
        if (!req->user_server && srv->server_header_len) PUT(srv->server_header, srv->server_header_len);
        if (status_has_no_body(req->status)) {
            /* no framing */
        } else if (req->has_length || length_known) {
            PUT("Content-Length: ", 16);
            p += fmt_u64(p, req->has_length ? req->declared_length : length, 10);
            PUT("\r\n", 2);
        } else if (!http10) {
            req->chunked = 1;
            PUT("Transfer-Encoding: chunked\r\n", 28);
        } else {
            req->until_close = 1; /* HTTP/1.0: the body ends when the connection does */
            keep = 0;
        }
        if (!keep) PUT("Connection: close\r\n", 19);
        else if (http10) PUT("Connection: keep-alive\r\n", 24);
        PUT("\r\n", 2);
#undef PUT
        o->len = (size_t)(p - o->data);
        c->head_building = 0; /* complete: it may go */
    }
    if (e) return e;
    req->head_sent = 1;
    if (!keep) c->close_after = 1;
    return 0;
}

/* Frame body bytes after the head. */
static int put_body(gale_http_conn *c, const void *data, size_t len) {
    gale_http_request *req = &c->req;
    if (len == 0 || req->no_body) return 0;
    req->body_sent += len;
    if (!req->chunked) return append(c, &c->out, data, len);
    char line[24];
    size_t k = fmt_u64(line, len, 16);
    memcpy(line + k, "\r\n", 2);
    int e = append(c, &c->out, line, k + 2);
    if (!e) e = append(c, &c->out, data, len);
    if (!e) e = append(c, &c->out, "\r\n", 2);
    return e;
}

/* Whether len more body bytes would go past a Content-Length the owner declared: bytes that
 * would be read as the start of the next response on the connection, so they are refused. */
static int past_length(const gale_http_conn *c, size_t len) {
    const gale_http_request *req = &c->req;
    if (!req->has_length || req->no_body) return 0;
    uint64_t so_far = req->head_sent ? req->body_sent : c->held_len;
    return len > req->declared_length - (so_far < req->declared_length ? so_far : req->declared_length);
}

/* After an API call outside the connection's own processing, flush later in this turn. */
static int pressure(gale_http_conn *c) {
    gale__http_conn_resume(c);
    if (gale__http_out_pending(c) >= c->srv->cfg.write_high_water) {
        c->req.want_writable = 1;
        return 1;
    }
    return 0;
}

GALE_EXPORT int gale_http_response_write(gale_http_request *req, const void *data, size_t len) {
    if (!live(req)) return -EPIPE;
    if (!req->started) {
        int e = gale_http_response_start(req, 200, NULL);
        if (e) return e;
    }
    if (len && status_has_no_body(req->status)) return -EINVAL;
    gale_http_conn *c = req->conn;
    if (past_length(c, len)) return -EINVAL;
    if (req->is_head) {
        c->held_len += len; /* counted for Content-Length, never sent */
        return 0;
    }
    int e;
    if (!req->head_sent) { /* held until flush or end, as Tornado buffers a handler's writes */
        e = append(c, &c->held, data, len);
        c->held_len += len;
        return e;
    }
    if ((e = put_body(c, data, len))) return e;
    return pressure(c);
}

GALE_EXPORT int gale_http_response_flush(gale_http_request *req) {
    if (!live(req)) return -EPIPE;
    gale_http_conn *c = req->conn;
    if (!req->head_sent) {
        int e = send_head(c, 0, 0);
        if (!e) e = put_body(c, c->held.data, c->held.len);
        gale__http_buf_release(c->srv, &c->held);
        if (e) return e;
    }
    return pressure(c);
}

GALE_EXPORT int gale_http_response_end(gale_http_request *req, const void *data, size_t len) {
    gale_http_conn *c = req->conn;
    if (!live(req)) {
        /* The connection is gone: release the request all the same. */
        gale_http_conn *owner = (gale_http_conn *)((char *)req - offsetof(gale_http_conn, req));
        gale__http_conn_request_done(owner);
        return -EPIPE;
    }
    int e = 0;
    if (!req->started) e = gale_http_response_start(req, 200, NULL);
    if (!e && len && status_has_no_body(req->status)) e = -EINVAL;
    if (!e && !req->head_sent) {
        uint64_t total = c->held_len + len;
        /* HEAD: the declared length is what GET would send; no body goes out to match it. */
        if (req->has_length && req->declared_length != total && !req->no_body) {
            e = -EINVAL; /* a declared Content-Length that the body does not match */
        } else {
            e = send_head(c, 1, total);
            if (!e && !req->is_head) e = put_body(c, c->held.data, c->held.len);
            if (!e && !req->is_head) e = put_body(c, data, len);
        }
    } else if (!e) {
        if (past_length(c, len)) e = -EINVAL;
        if (!e && !req->is_head) e = put_body(c, data, len);
        /* the last chunk is body framing: none for HEAD, like the chunks put_body skipped */
        if (!e && req->chunked && !req->no_body) e = append_str(c, &c->out, "0\r\n\r\n");
        if (!e && req->has_length && req->body_sent != req->declared_length && !req->is_head) e = -EINVAL;
    }
    if (req->until_close) c->close_after = 1;
    gale__http_buf_release(c->srv, &c->held);
    c->held_len = 0;
    if (e) {
        /* Whatever was sent can no longer be framed truthfully: close after what is out. A head
         * that never went is dropped. */
        c->out.len -= c->head_building;
        c->head_building = 0;
        c->close_after = 1;
    }
    gale__http_conn_request_done(c);
    return e;
}

GALE_EXPORT int gale_http_response_status(const gale_http_request *req) { return req->status; }

GALE_EXPORT int gale_http_response_head_sent(const gale_http_request *req) { return req->head_sent; }

/* The server's own answers (errors, refusals): a Tornado-style page, then close. */
int gale__http_send_simple(gale_http_conn *c, int status, const char *reason) {
    char body[256];
    int n = snprintf(body, sizeof body, "<html><title>%d: %s</title><body>%d: %s</body></html>", status, reason,
                     status, reason);
    if (n < 0 || (size_t)n >= sizeof body) n = 0;
    char head[512];
    int m = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\n%s%sContent-Type: text/html; charset=UTF-8\r\nContent-Length: %d\r\n"
                     "Connection: close\r\n\r\n",
                     status, reason, gale__http_date(c->srv), c->srv->server_header, n);
    if (m < 0 || (size_t)m >= sizeof head) return -EINVAL;
    if (append(c, &c->out, head, (size_t)m) < 0 || append(c, &c->out, body, (size_t)n) < 0) return -ENOMEM;
    c->closing = 1;
    if (gale__http_flush_output(c) < 0) return 0; /* closed */
    gale__http_conn_linger(c);
    return 0;
}

/* ---- entity tags ------------------------------------------------------------------------ */

/* A few bodies seen lately on this thread, compared byte for byte, so serving the same page
 * again costs a memcmp instead of a SHA-1. */
#define ETAG_SLOTS 4
#define ETAG_MAX_BODY 4096
static __thread struct {
    size_t len;
    char tag[43];
    unsigned char body[ETAG_MAX_BODY];
} etag_cache[ETAG_SLOTS];
static __thread unsigned etag_next;

GALE_EXPORT void gale_http_etag(const void *data, size_t len, char *out) {
    if (len <= ETAG_MAX_BODY) {
        for (unsigned i = 0; i < ETAG_SLOTS; i++) {
            if (etag_cache[i].tag[0] && etag_cache[i].len == len && memcmp(etag_cache[i].body, data, len) == 0) {
                memcpy(out, etag_cache[i].tag, 43);
                return;
            }
        }
    }
    unsigned char md[20];
    gale__sha1(data, len, md);
    static const char hex[] = "0123456789abcdef";
    out[0] = '"';
    for (unsigned i = 0; i < 20; i++) {
        out[1 + 2 * i] = hex[md[i] >> 4];
        out[2 + 2 * i] = hex[md[i] & 15];
    }
    out[41] = '"';
    out[42] = '\0';
    if (len <= ETAG_MAX_BODY) {
        unsigned slot = etag_next++ % ETAG_SLOTS;
        etag_cache[slot].len = len;
        memcpy(etag_cache[slot].body, data, len);
        memcpy(etag_cache[slot].tag, out, 43);
    }
}
