/* test_http_parser.c - the HTTP/1 head parser and chunked decoder against a corpus.
 *
 * Every input sits right before a PROT_NONE page, so reading one byte past len crashes.
 * Each corpus message is parsed in one call and again one byte at a time with the buffer
 * moved between calls (the old copy overwritten with junk); both must agree exactly. */
#include "gale_http_parser.h"
#include "test.h"

#include <stdint.h>
#include <sys/mman.h>

/* ---- Guard pages ------------------------------------------------------------------------ */

typedef struct guard {
    char *map;
    size_t maplen;
    char *end; /* first byte of the PROT_NONE page */
} guard;

static void guard_init(guard *g, size_t cap) {
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = cap / pg + 2;
    g->maplen = pages * pg;
    g->map = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->map == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    if (mprotect(g->map + g->maplen - pg, pg, PROT_NONE) != 0) {
        perror("mprotect");
        exit(2);
    }
    g->end = g->map + g->maplen - pg;
}

static void guard_free(guard *g) {
    munmap(g->map, g->maplen);
}

/* Copy n bytes so that the last one is immediately followed by the guard page. */
static char *guard_put(guard *g, const void *data, size_t n) {
    char *p = g->end - n;
    if (n) memcpy(p, data, n);
    return p;
}

/* ---- Parsing helpers -------------------------------------------------------------------- */

#define MAX_FIELDS 256

typedef struct run {
    gale_http_parser p;
    gale_http_field fields[MAX_FIELDS];
    int result;
} run;

static void run_init(run *r, int kind, const gale_http_limits *lim, uint32_t cap, int to_head) {
    memset(r, 0, sizeof *r);
    gale_http_parser_init(&r->p, kind, lim, r->fields, cap);
    if (to_head) gale_http_parser_set_response_to_head(&r->p, 1);
}

/* One call on a guarded copy. */
static void parse_whole(run *r, const char *msg, size_t n) {
    guard g;
    guard_init(&g, n);
    char *buf = guard_put(&g, msg, n);
    r->result = gale_http_parser_execute(&r->p, buf, n);
    guard_free(&g);
}

static uint32_t lcg_next(uint32_t *state) {
    *state = *state * 1103515245u + 12345u;
    return *state >> 8;
}

/* Growing len by a step (1 byte for short inputs), with the bytes at a new address each call. */
static void parse_pieces(run *r, const char *msg, size_t n) {
    guard g[2];
    guard_init(&g[0], n);
    guard_init(&g[1], n);
    size_t max_step = n <= 4096 ? 1 : n / 512;
    uint32_t seed = (uint32_t)n;
    size_t k = 0;
    int which = 0;
    r->result = GALE_HTTP_NEED_MORE;
    do {
        k += max_step == 1 ? 1 : 1 + lcg_next(&seed) % max_step;
        if (k > n) k = n;
        char *buf = guard_put(&g[which], msg, k);
        r->result = gale_http_parser_execute(&r->p, buf, k);
        /* Junk where the bytes were: the parser must not keep pointers into them. */
        memset(g[which].end - k, 0xAA, k);
        which ^= 1;
    } while (r->result == GALE_HTTP_NEED_MORE && k < n);
    guard_free(&g[0]);
    guard_free(&g[1]);
}

static int heads_equal(const run *a, const run *b) {
    const gale_http_head *x = &a->p.head, *y = &b->p.head;
    if (a->result != b->result || a->p.error_status != b->p.error_status) return 0;
    if (x->method_off != y->method_off || x->method_len != y->method_len) return 0;
    if (x->target_off != y->target_off || x->target_len != y->target_len) return 0;
    if (x->path_off != y->path_off || x->path_len != y->path_len) return 0;
    if (x->query_off != y->query_off || x->query_len != y->query_len) return 0;
    if (x->authority_off != y->authority_off || x->authority_len != y->authority_len) return 0;
    if (x->reason_off != y->reason_off || x->reason_len != y->reason_len) return 0;
    if (x->status != y->status || x->version_major != y->version_major) return 0;
    if (x->version_minor != y->version_minor || x->body_kind != y->body_kind) return 0;
    if (x->content_length != y->content_length || x->flags != y->flags) return 0;
    if (x->num_fields != y->num_fields || x->head_len != y->head_len) return 0;
    for (uint32_t k = 0; k < x->num_fields && k < MAX_FIELDS; k++)
        if (memcmp(&a->fields[k], &b->fields[k], sizeof a->fields[k]) != 0) return 0;
    return 1;
}

/* ---- Valid messages --------------------------------------------------------------------- */

enum { REQ = GALE_HTTP_REQUEST, RES = GALE_HTTP_RESPONSE };
enum { NONE = GALE_HTTP_BODY_NONE, LENGTH = GALE_HTTP_BODY_LENGTH,
       CHUNKED = GALE_HTTP_BODY_CHUNKED, CLOSE = GALE_HTTP_BODY_UNTIL_CLOSE };
enum {
    KA = GALE_HTTP_F_KEEP_ALIVE, CCLOSE = GALE_HTTP_F_CONN_CLOSE,
    CKA = GALE_HTTP_F_CONN_KEEP_ALIVE, CUP = GALE_HTTP_F_CONN_UPGRADE, UP = GALE_HTTP_F_UPGRADE,
    EXP = GALE_HTTP_F_EXPECT_CONTINUE, HOST = GALE_HTTP_F_HOST, ABS = GALE_HTTP_F_ABSOLUTE_FORM,
    AUTH = GALE_HTTP_F_AUTHORITY_FORM, STAR = GALE_HTTP_F_ASTERISK_FORM,
    CL = GALE_HTTP_F_CONTENT_LENGTH, TE = GALE_HTTP_F_TRANSFER_ENCODING, INM = GALE_HTTP_F_IF_NONE_MATCH
};

typedef struct valid_case {
    const char *name;
    int kind, to_head;
    const char *msg;
    const char *tail; /* bytes after the head in msg */
    const char *method, *target, *path, *query /* NULL: no '?' */, *authority;
    int status;
    const char *reason;
    int minor, body_kind;
    uint64_t content_length;
    uint32_t flags;
    const char *fields[24]; /* name, value, ..., NULL */
} valid_case;

static const valid_case valid_cases[] = {
    {"wrk GET", REQ, 0,
     "GET / HTTP/1.1\r\nHost: 127.0.0.1:5001\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n", "",
     "GET", "/", "/", NULL, "", 0, "", 1, NONE, 0, KA | HOST,
     {"Host", "127.0.0.1:5001", "User-Agent", "wrk", "Accept", "*/*", NULL}},
    {"GET with query", REQ, 0,
     "GET /search/x?q=1&r=%20x?y HTTP/1.1\r\nhost: example.com\r\n\r\n", "",
     "GET", "/search/x?q=1&r=%20x?y", "/search/x", "q=1&r=%20x?y", "", 0, "", 1, NONE, 0,
     KA | HOST, {"host", "example.com", NULL}},
    {"empty query", REQ, 0, "GET /p? HTTP/1.1\r\nHost: a\r\n\r\n", "",
     "GET", "/p?", "/p", "", "", 0, "", 1, NONE, 0, KA | HOST, {"Host", "a", NULL}},
    {"absolute-form", REQ, 0,
     "GET http://example.com:8080/a/b?x=y HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", "",
     "GET", "http://example.com:8080/a/b?x=y", "/a/b", "x=y", "example.com:8080", 0, "", 1,
     NONE, 0, KA | HOST | ABS, {"Host", "example.com:8080", NULL}},
    {"absolute-form without path", REQ, 0,
     "GET HTTPS://[::1]:443?x HTTP/1.1\r\nHost: [::1]:443\r\n\r\n", "",
     "GET", "HTTPS://[::1]:443?x", "/", "x", "[::1]:443", 0, "", 1, NONE, 0, KA | HOST | ABS,
     {"Host", "[::1]:443", NULL}},
    {"absolute-form bare", REQ, 0, "GET http://h HTTP/1.0\r\n\r\n", "",
     "GET", "http://h", "/", NULL, "h", 0, "", 0, NONE, 0, ABS, {NULL}},
    {"conditional GET", REQ, 0,
     "GET /page HTTP/1.1\r\nHost: a\r\nIF-NONE-MATCH: \"abc\", W/\"def\"\r\nIf-None-Matcher: x\r\n\r\n", "",
     "GET", "/page", "/page", NULL, "", 0, "", 1, NONE, 0, KA | HOST | INM,
     {"Host", "a", "IF-NONE-MATCH", "\"abc\", W/\"def\"", "If-None-Matcher", "x", NULL}},
    {"HTTP/1.0", REQ, 0, "GET /old HTTP/1.0\r\nUser-Agent: x\r\n\r\n", "",
     "GET", "/old", "/old", NULL, "", 0, "", 0, NONE, 0, 0, {"User-Agent", "x", NULL}},
    {"HTTP/1.0 keep-alive", REQ, 0, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "",
     "GET", "/", "/", NULL, "", 0, "", 0, NONE, 0, KA | CKA, {"Connection", "Keep-Alive", NULL}},
    {"HTTP/1.1 close", REQ, 0,
     "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n", "",
     "GET", "/", "/", NULL, "", 0, "", 1, NONE, 0, HOST | CCLOSE | CKA,
     {"Host", "a", "Connection", "keep-alive, close", NULL}},
    {"POST Content-Length", REQ, 0,
     "POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", "hello",
     "POST", "/form", "/form", NULL, "", 0, "", 1, LENGTH, 5, KA | HOST | CL,
     {"Host", "a", "Content-Length", "5", NULL}},
    {"Content-Length 0", REQ, 0, "PUT /x HTTP/1.1\r\nContent-length: 0\r\nHost: a\r\n\r\n", "",
     "PUT", "/x", "/x", NULL, "", 0, "", 1, LENGTH, 0, KA | HOST | CL,
     {"Content-length", "0", "Host", "a", NULL}},
    {"Content-Length max", REQ, 0,
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 009223372036854775807\r\n\r\n", "",
     "POST", "/", "/", NULL, "", 0, "", 1, LENGTH, 9223372036854775807ULL, KA | HOST | CL,
     {"Host", "a", "Content-Length", "009223372036854775807", NULL}},
    {"same Content-Length twice", REQ, 0,
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3 ,3\r\n\r\nabc", "abc",
     "POST", "/", "/", NULL, "", 0, "", 1, LENGTH, 3, KA | HOST | CL,
     {"Host", "a", "Content-Length", "3", "Content-Length", "3 ,3", NULL}},
    {"chunked POST", REQ, 0,
     "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  Chunked \r\n\r\n5\r\nhello\r\n0\r\n\r\n",
     "5\r\nhello\r\n0\r\n\r\n",
     "POST", "/up", "/up", NULL, "", 0, "", 1, CHUNKED, 0, KA | HOST | TE,
     {"Host", "a", "Transfer-Encoding", "Chunked", NULL}},
    {"Expect 100-continue", REQ, 0,
     "PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 10\r\n\r\n", "",
     "PUT", "/f", "/f", NULL, "", 0, "", 1, LENGTH, 10, KA | HOST | EXP | CL,
     {"Host", "a", "Expect", "100-Continue", "Content-Length", "10", NULL}},
    {"Expect in HTTP/1.0 ignored", REQ, 0,
     "PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx", "x",
     "PUT", "/f", "/f", NULL, "", 0, "", 0, LENGTH, 1, CL,
     {"Expect", "100-continue", "Content-Length", "1", NULL}},
    {"obs-text and OWS", REQ, 0,
     "GET / HTTP/1.1\r\nHost: a\r\nX-Name: \t caf\xc3\xa9 \x80\xff\t \r\nX-Empty:\r\n"
     "X-Blank:  \t \r\nX-Inner: a \t b\r\nx!#$%&'*+-.^_`|~9: v\r\n\r\n", "",
     "GET", "/", "/", NULL, "", 0, "", 1, NONE, 0, KA | HOST,
     {"Host", "a", "X-Name", "caf\xc3\xa9 \x80\xff", "X-Empty", "", "X-Blank", "", "X-Inner",
      "a \t b", "x!#$%&'*+-.^_`|~9", "v", NULL}},
    {"LF-only lines", REQ, 0, "GET /lf HTTP/1.1\nHost: a\nX: y \n\n", "",
     "GET", "/lf", "/lf", NULL, "", 0, "", 1, NONE, 0, KA | HOST, {"Host", "a", "X", "y", NULL}},
    {"mixed line endings", REQ, 0, "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\n", "",
     "GET", "/", "/", NULL, "", 0, "", 1, NONE, 0, KA | HOST, {"Host", "a", "X", "y", NULL}},
    {"leading empty lines", REQ, 0, "\r\n\n\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "",
     "GET", "/", "/", NULL, "", 0, "", 1, NONE, 0, KA | HOST, {"Host", "a", NULL}},
    {"websocket upgrade", REQ, 0,
     "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", "",
     "GET", "/chat", "/chat", NULL, "", 0, "", 1, NONE, 0, KA | HOST | UP | CUP,
     {"Host", "a", "Upgrade", "websocket", "Connection", "Upgrade", NULL}},
    {"CONNECT", REQ, 0, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "",
     "CONNECT", "example.com:443", "", NULL, "example.com:443", 0, "", 1, NONE, 0,
     KA | HOST | AUTH, {"Host", "example.com:443", NULL}},
    {"OPTIONS *", REQ, 0, "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "",
     "OPTIONS", "*", "*", NULL, "", 0, "", 1, NONE, 0, KA | HOST | STAR, {"Host", "a", NULL}},
    {"empty Host", REQ, 0, "GET / HTTP/1.1\r\nHost:\r\n\r\n", "",
     "GET", "/", "/", NULL, "", 0, "", 1, NONE, 0, KA | HOST, {"Host", "", NULL}},
    {"odd method and host", REQ, 0, "M-SEARCH /%41 HTTP/1.1\r\nHOST: a%2eb_c~d:\r\n\r\n", "",
     "M-SEARCH", "/%41", "/%41", NULL, "", 0, "", 1, NONE, 0, KA | HOST,
     {"HOST", "a%2eb_c~d:", NULL}},
    {"pipelined", REQ, 0, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
     "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
     "GET", "/1", "/1", NULL, "", 0, "", 1, NONE, 0, KA | HOST, {"Host", "a", NULL}},
    /* Responses */
    {"200 Content-Length", RES, 0, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", "abc",
     "", "", "", NULL, "", 200, "OK", 1, LENGTH, 3, KA | CL, {"Content-Length", "3", NULL}},
    {"200 chunked", RES, 0,
     "HTTP/1.1 200 Fine\tthanks\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "0\r\n\r\n",
     "", "", "", NULL, "", 200, "Fine\tthanks", 1, CHUNKED, 0, KA | TE,
     {"Transfer-Encoding", "chunked", NULL}},
    {"gzip then chunked in two fields", RES, 0,
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", "",
     "", "", "", NULL, "", 200, "OK", 1, CHUNKED, 0, KA | TE,
     {"Transfer-Encoding", "gzip", "Transfer-Encoding", "chunked", NULL}},
    {"chunked not last", RES, 0, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "",
     "", "", "", NULL, "", 200, "OK", 1, CLOSE, 0, TE,
     {"Transfer-Encoding", "chunked, gzip", NULL}},
    {"TE and CL", RES, 0,
     "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n", "",
     "", "", "", NULL, "", 200, "OK", 1, CHUNKED, 10, TE | CL,
     {"Content-Length", "10", "Transfer-Encoding", "chunked", NULL}},
    {"until close", RES, 0, "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbody", "body",
     "", "", "", NULL, "", 200, "OK", 1, CLOSE, 0, 0, {"Server", "x", NULL}},
    {"204", RES, 0, "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", "",
     "", "", "", NULL, "", 204, "No Content", 1, NONE, 7, KA | CL, {"Content-Length", "7", NULL}},
    {"304", RES, 0, "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", "",
     "", "", "", NULL, "", 304, "Not Modified", 1, NONE, 0, KA | TE,
     {"Transfer-Encoding", "chunked", NULL}},
    {"100", RES, 0, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", "HTTP/1.1 200 OK\r\n",
     "", "", "", NULL, "", 100, "Continue", 1, NONE, 0, KA, {NULL}},
    {"101", RES, 0, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
     "Connection: upgrade\r\n\r\n", "",
     "", "", "", NULL, "", 101, "Switching Protocols", 1, NONE, 0, KA | UP | CUP,
     {"Upgrade", "websocket", "Connection", "upgrade", NULL}},
    {"response to HEAD", RES, 1, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", "",
     "", "", "", NULL, "", 200, "OK", 1, NONE, 1234, KA | CL, {"Content-Length", "1234", NULL}},
    {"HTTP/1.0 keep-alive response", RES, 0,
     "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", "",
     "", "", "", NULL, "", 200, "OK", 0, LENGTH, 0, KA | CKA | CL,
     {"Connection", "keep-alive", "Content-Length", "0", NULL}},
    {"HTTP/1.0 response", RES, 0, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", "",
     "", "", "", NULL, "", 200, "OK", 0, LENGTH, 0, CL, {"Content-Length", "0", NULL}},
    {"no reason, no SP", RES, 0, "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", "",
     "", "", "", NULL, "", 404, "", 1, LENGTH, 0, KA | CL, {"Content-Length", "0", NULL}},
    {"empty reason", RES, 0, "HTTP/1.1 599 \nContent-Length: 0\n\n", "",
     "", "", "", NULL, "", 599, "", 1, LENGTH, 0, KA | CL, {"Content-Length", "0", NULL}},
    {"close response", RES, 0, "HTTP/1.1 500 Oops \x80\r\nConnection: close\r\nContent-Length: 2"
     "\r\n\r\nno", "no",
     "", "", "", NULL, "", 500, "Oops \x80", 1, LENGTH, 2, CCLOSE | CL,
     {"Connection", "close", "Content-Length", "2", NULL}},
};

static int field_count(const valid_case *vc) {
    int n = 0;
    while (vc->fields[n]) n++;
    return n / 2;
}

static void check_valid(const valid_case *vc, const run *r, const char *base, size_t n) {
    const gale_http_head *h = &r->p.head;
    int before = test_failures_;
    size_t head_len = n - strlen(vc->tail);
    CHECK_EQ_INT(r->result, head_len);
    CHECK_EQ_INT(h->head_len, head_len);
    CHECK_SLICE(base + h->method_off, h->method_len, vc->method);
    CHECK_SLICE(base + h->target_off, h->target_len, vc->target);
    CHECK_SLICE(base + h->path_off, h->path_len, vc->path);
    if (vc->query) {
        CHECK(h->query_off != 0);
        CHECK_SLICE(base + h->query_off, h->query_len, vc->query);
    } else {
        CHECK_EQ_INT(h->query_off, 0);
        CHECK_EQ_INT(h->query_len, 0);
        CHECK(gale_http_head_query(h, base).ptr == NULL);
    }
    CHECK_SLICE(base + h->authority_off, h->authority_len, vc->authority);
    CHECK_EQ_INT(h->status, vc->status);
    CHECK_SLICE(base + h->reason_off, h->reason_len, vc->reason);
    CHECK_EQ_INT(h->version_major, 1);
    CHECK_EQ_INT(h->version_minor, vc->minor);
    CHECK_EQ_INT(h->body_kind, vc->body_kind);
    CHECK_EQ_INT(h->content_length, vc->content_length);
    CHECK_EQ_INT(h->flags, vc->flags);
    CHECK_EQ_INT(h->num_fields, field_count(vc));
    for (uint32_t k = 0; k < h->num_fields && k < (uint32_t)field_count(vc); k++) {
        gale_slice name = gale_http_field_name(&r->fields[k], base);
        gale_slice value = gale_http_field_value(&r->fields[k], base);
        CHECK_SLICE(name.ptr, name.len, vc->fields[2 * k]);
        CHECK_SLICE(value.ptr, value.len, vc->fields[2 * k + 1]);
        CHECK(r->fields[k].value_off + r->fields[k].value_len <= h->head_len);
    }
    if (test_failures_ != before) fprintf(stderr, "  ... in case \"%s\"\n", vc->name);
}

TEST(valid_corpus) {
    for (size_t c = 0; c < sizeof valid_cases / sizeof valid_cases[0]; c++) {
        const valid_case *vc = &valid_cases[c];
        size_t n = strlen(vc->msg);
        run r;
        run_init(&r, vc->kind, NULL, MAX_FIELDS, vc->to_head);
        guard g;
        guard_init(&g, n);
        char *buf = guard_put(&g, vc->msg, n);
        r.result = gale_http_parser_execute(&r.p, buf, n);
        check_valid(vc, &r, buf, n);
        /* Calling again returns the same and changes nothing. */
        int again = gale_http_parser_execute(&r.p, buf, n);
        CHECK_EQ_INT(again, r.result);
        guard_free(&g);
    }
}

TEST(valid_corpus_incremental) {
    for (size_t c = 0; c < sizeof valid_cases / sizeof valid_cases[0]; c++) {
        const valid_case *vc = &valid_cases[c];
        size_t n = strlen(vc->msg);
        static run whole, pieces;
        run_init(&whole, vc->kind, NULL, MAX_FIELDS, vc->to_head);
        run_init(&pieces, vc->kind, NULL, MAX_FIELDS, vc->to_head);
        parse_whole(&whole, vc->msg, n);
        parse_pieces(&pieces, vc->msg, n);
        CHECK(heads_equal(&whole, &pieces));
        check_valid(vc, &pieces, vc->msg, n);
    }
}

TEST(find_field) {
    static const char msg[] = "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\nX-AB: 3\r\n\r\n";
    run r;
    run_init(&r, REQ, NULL, MAX_FIELDS, 0);
    parse_whole(&r, msg, sizeof msg - 1);
    CHECK_EQ_INT(r.result, sizeof msg - 1);
    int k = gale_http_find_field(&r.p, msg, "x-A", 3, 0);
    CHECK_EQ_INT(k, 1);
    k = gale_http_find_field(&r.p, msg, "x-A", 3, (uint32_t)k + 1);
    CHECK_EQ_INT(k, 2);
    gale_slice v = gale_http_field_value(&r.fields[k], msg);
    CHECK_SLICE(v.ptr, v.len, "2");
    CHECK_EQ_INT(gale_http_find_field(&r.p, msg, "x-A", 3, (uint32_t)k + 1), -1);
    CHECK_EQ_INT(gale_http_find_field(&r.p, msg, "HOST", 4, 0), 0);
    CHECK_EQ_INT(gale_http_find_field(&r.p, msg, "Hos", 3, 0), -1);
    CHECK_EQ_INT(gale_http_find_field(&r.p, msg, "x-ab", 4, 0), 3);
    CHECK_EQ_INT(gale_http_find_field(&r.p, msg, "x-a", 3, 99), -1);
}

/* ---- Malformed messages ----------------------------------------------------------------- */

typedef struct error_case {
    const char *name;
    int kind;
    const char *msg;
    size_t len; /* 0: strlen(msg) */
    int status;
} error_case;

#define NUL_MSG(s) s, sizeof(s) - 1

static const error_case error_cases[] = {
    {"CL then TE", REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
     "Transfer-Encoding: chunked\r\n\r\n", 0, 400},
    {"TE then CL", REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
     "Content-Length: 5\r\n\r\n", 0, 400},
    {"duplicate TE", REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
     "Transfer-Encoding: chunked\r\n\r\n", 0, 400},
    {"gzip, chunked", REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
     0, 501},
    {"chunked, gzip", REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
     0, 400},
    {"chunked, chunked", REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,chunked"
     "\r\n\r\n", 0, 400},
    {"identity", REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 0, 501},
    {"unknown coding", REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
     0, 501},
    {"chunked with parameter", REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;a=1"
     "\r\n\r\n", 0, 501},
    {"chunked, empty", REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n",
     0, 400},
    {"empty TE", REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 0, 400},
    {"quoted TE", REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n",
     0, 400},
    {"TE in HTTP/1.0", REQ, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 400},
    {"differing CL", REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
     "Content-Length: 6\r\n\r\n", 0, 400},
    {"differing CL list", REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", 0, 400},
    {"CL empty element", REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", 0, 400},
    {"CL plus", REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 0, 400},
    {"CL minus", REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n", 0, 400},
    {"CL inner space", REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n", 0, 400},
    {"CL hex", REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 0, 400},
    {"CL empty", REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 0, 400},
    {"CL 2^63", REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n",
     0, 400},
    {"CL overflow", REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999"
     "\r\n\r\n", 0, 400},
    {"NUL in name", REQ, NUL_MSG("GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n"), 400},
    {"NUL in value", REQ, NUL_MSG("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"), 400},
    {"NUL in target", REQ, NUL_MSG("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"NUL in method", REQ, NUL_MSG("G\0T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"CTL in value", REQ, "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n", 0, 400},
    {"DEL in value", REQ, "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 0, 400},
    {"empty name", REQ, "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", 0, 400},
    {"space before colon", REQ, "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 0, 400},
    {"tab before colon", REQ, "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 0, 400},
    {"no colon", REQ, "GET / HTTP/1.1\r\nHost a\r\n\r\n", 0, 400},
    {"non-tchar name", REQ, "GET / HTTP/1.1\r\nHost: a\r\nX(y): a\r\n\r\n", 0, 400},
    {"obs-fold", REQ, "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 0, 400},
    {"obs-fold tab", REQ, "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 0, 400},
    {"space first line", REQ, "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 0, 400},
    {"bare CR in value", REQ, "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 0, 400},
    {"bare CR after version", REQ, "GET / HTTP/1.1\rHost: a\r\n\r\n", 0, 400},
    {"bare CR at end", REQ, "GET / HTTP/1.1\r\nHost: a\r\n\rX", 0, 400},
    {"bare CR before start", REQ, "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"CR CR LF", REQ, "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", 0, 400},
    {"too many empty lines", REQ, "\r\n\r\n\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"missing Host", REQ, "GET / HTTP/1.1\r\nX: a\r\n\r\n", 0, 400},
    {"two Hosts", REQ, "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 0, 400},
    {"Host with space", REQ, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 0, 400},
    {"Host with userinfo", REQ, "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 0, 400},
    {"Host with path", REQ, "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 0, 400},
    {"Host bad port", REQ, "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 0, 400},
    {"Host bad IPv6", REQ, "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 0, 400},
    {"Host bad pct", REQ, "GET / HTTP/1.1\r\nHost: a%4\r\n\r\n", 0, 400},
    {"HTTP/2.0", REQ, "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 0, 505},
    {"HTTP/1.2", REQ, "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 0, 505},
    {"HTTP/0.9", REQ, "GET / HTTP/0.9\r\n\r\n", 0, 505},
    {"lowercase http", REQ, "GET / http/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"HTTP/1", REQ, "GET / HTTP/1\r\nHost: a\r\n\r\n", 0, 400},
    {"HTTP/1.10", REQ, "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 0, 400},
    {"HTTP/11.1", REQ, "GET / HTTP/11.1\r\nHost: a\r\n\r\n", 0, 400},
    {"garbage version", REQ, "GET / XYZZY/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"trailing space", REQ, "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 0, 400},
    {"double space", REQ, "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"tab separator", REQ, "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"empty method", REQ, " / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"no version", REQ, "GET /\r\nHost: a\r\n\r\n", 0, 400},
    {"CTL in target", REQ, "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"tab in target", REQ, "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"DEL in target", REQ, "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"high byte in target", REQ, "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"fragment", REQ, "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"authority-form for GET", REQ, "GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"CONNECT origin-form", REQ, "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"CONNECT without port", REQ, "CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"CONNECT absolute", REQ, "CONNECT http://a:1/ HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"asterisk for GET", REQ, "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"userinfo", REQ, "GET http://u:p@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"ftp scheme", REQ, "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"empty authority", REQ, "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"relative target", REQ, "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"Expect other", REQ, "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 101-continue\r\n\r\n", 0, 417},
    {"Expect list", REQ, "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, x\r\n\r\n", 0, 417},
    {"Connection junk", REQ, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close;x\r\n\r\n", 0, 400},
    /* Responses */
    {"short status", RES, "HTTP/1.1 20 OK\r\n\r\n", 0, 400},
    {"long status", RES, "HTTP/1.1 2000 OK\r\n\r\n", 0, 400},
    {"status 099", RES, "HTTP/1.1 099 OK\r\n\r\n", 0, 400},
    {"status letters", RES, "HTTP/1.1 2x0 OK\r\n\r\n", 0, 400},
    {"response HTTP/2.0", RES, "HTTP/2.0 200 OK\r\n\r\n", 0, 505},
    {"response no SP", RES, "HTTP/1.1\r\n\r\n", 0, 400},
    {"response two SP", RES, "HTTP/1.1  200 OK\r\n\r\n", 0, 400},
    {"CTL in reason", RES, "HTTP/1.1 200 O\x01K\r\n\r\n", 0, 400},
    {"bare CR in reason", RES, "HTTP/1.1 200 O\rK\r\n\r\n", 0, 400},
    {"response differing CL", RES, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
     "Content-Length: 2\r\n\r\n", 0, 400},
    {"response bad CL", RES, "HTTP/1.1 200 OK\r\nContent-Length: 1a\r\n\r\n", 0, 400},
    {"response chunked twice", RES, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
     "Transfer-Encoding: chunked\r\n\r\n", 0, 400},
    {"response obs-fold", RES, "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", 0, 400},
    {"request to response parser", RES, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"response to request parser", REQ, "HTTP/1.1 200 OK\r\n\r\n", 0, 400},
};

static size_t error_len(const error_case *ec) {
    return ec->len ? ec->len : strlen(ec->msg);
}

TEST(error_corpus) {
    for (size_t c = 0; c < sizeof error_cases / sizeof error_cases[0]; c++) {
        const error_case *ec = &error_cases[c];
        int before = test_failures_;
        run r;
        run_init(&r, ec->kind, NULL, MAX_FIELDS, 0);
        parse_whole(&r, ec->msg, error_len(ec));
        CHECK_EQ_INT(r.result, GALE_HTTP_ERROR);
        CHECK_EQ_INT(r.p.error_status, ec->status);
        CHECK(r.p.error_reason != NULL);
        if (test_failures_ != before)
            fprintf(stderr, "  ... in case \"%s\" (%s)\n", ec->name,
                    r.p.error_reason ? r.p.error_reason : "no error");
    }
}

TEST(error_corpus_incremental) {
    for (size_t c = 0; c < sizeof error_cases / sizeof error_cases[0]; c++) {
        const error_case *ec = &error_cases[c];
        static run whole, pieces;
        run_init(&whole, ec->kind, NULL, MAX_FIELDS, 0);
        run_init(&pieces, ec->kind, NULL, MAX_FIELDS, 0);
        parse_whole(&whole, ec->msg, error_len(ec));
        parse_pieces(&pieces, ec->msg, error_len(ec));
        CHECK_EQ_INT(pieces.result, GALE_HTTP_ERROR);
        CHECK(heads_equal(&whole, &pieces));
        CHECK(whole.p.error_reason == pieces.p.error_reason);
        if (!heads_equal(&whole, &pieces)) fprintf(stderr, "  ... in case \"%s\"\n", ec->name);
    }
}

TEST(error_is_sticky) {
    static const char msg[] = "GET / HTTP/1.1\r\nHost : a\r\n\r\n";
    run r;
    run_init(&r, REQ, NULL, MAX_FIELDS, 0);
    parse_whole(&r, msg, sizeof msg - 1);
    CHECK_EQ_INT(r.result, GALE_HTTP_ERROR);
    CHECK_EQ_INT(gale_http_parser_execute(&r.p, msg, sizeof msg - 1), GALE_HTTP_ERROR);
    CHECK_EQ_INT(r.p.error_status, 400);
    gale_http_parser_reset(&r.p);
    CHECK_EQ_INT(r.p.error_status, 0);
    CHECK(r.p.error_reason == NULL);
    CHECK_EQ_INT(gale_http_parser_execute(&r.p, "GET / HTTP/1.0\r\n\r\n", 18), 18);
}

TEST(shrinking_buffer_is_misuse) {
    static const char msg[] = "GET / HTTP/1.1\r\nHost: a\r\n";
    run r;
    run_init(&r, REQ, NULL, MAX_FIELDS, 0);
    CHECK_EQ_INT(gale_http_parser_execute(&r.p, msg, sizeof msg - 1), GALE_HTTP_NEED_MORE);
    CHECK_EQ_INT(gale_http_parser_execute(&r.p, msg, 5), GALE_HTTP_ERROR);
    CHECK_EQ_INT(r.p.error_status, 500);
}

/* ---- Limits ----------------------------------------------------------------------------- */

static char *make_buf(size_t n, char fill) {
    char *s = malloc(n + 1);
    if (!s) exit(2);
    memset(s, fill, n);
    s[n] = 0;
    return s;
}

TEST(request_line_limit) {
    /* Exactly max_request_line bytes of line: fine. */
    size_t max = 8192;
    char *msg = make_buf(max + 64, 'a');
    memcpy(msg, "GET /", 5);
    memcpy(msg + max - 9, " HTTP/1.1\r\nHost: a\r\n\r\n", 22);
    size_t n = max + 13;
    run r;
    run_init(&r, REQ, NULL, MAX_FIELDS, 0);
    parse_whole(&r, msg, n);
    CHECK_EQ_INT(r.result, n);
    CHECK_EQ_INT(r.p.head.target_len, max - 4 - 9);

    /* One more byte of line: 414 as soon as max + 1 bytes are there, before any line end. */
    memset(msg, 'a', max + 64);
    memcpy(msg, "GET /", 5);
    run_init(&r, REQ, NULL, MAX_FIELDS, 0);
    parse_whole(&r, msg, max);
    CHECK_EQ_INT(r.result, GALE_HTTP_NEED_MORE);
    run_init(&r, REQ, NULL, MAX_FIELDS, 0);
    parse_whole(&r, msg, max + 1);
    CHECK_EQ_INT(r.result, GALE_HTTP_ERROR);
    CHECK_EQ_INT(r.p.error_status, 414);
    run pieces;
    run_init(&pieces, REQ, NULL, MAX_FIELDS, 0);
    parse_pieces(&pieces, msg, max + 64);
    CHECK_EQ_INT(pieces.result, GALE_HTTP_ERROR);
    CHECK_EQ_INT(pieces.p.error_status, 414);

    /* A long method counts the same. */
    memset(msg, 'A', max + 64);
    run_init(&r, REQ, NULL, MAX_FIELDS, 0);
    parse_whole(&r, msg, max + 1);
    CHECK_EQ_INT(r.p.error_status, 414);
    /* So does a version that does not fit. */
    memset(msg, 'a', max + 64);
    memcpy(msg, "GET /", 5);
    memcpy(msg + max - 8, " HTTP/1.1\r\n", 11);
    run_init(&r, REQ, NULL, MAX_FIELDS, 0);
    parse_whole(&r, msg, max + 1);
    CHECK_EQ_INT(r.p.error_status, 414);

    /* Small custom limit; leading empty lines do not count. */
    gale_http_limits lim = {19, 0, 0};
    run_init(&r, REQ, &lim, MAX_FIELDS, 0);
    parse_whole(&r, "\r\nGET /12345 HTTP/1.1\r\nHost: a\r\n\r\n", 34);
    CHECK_EQ_INT(r.result, 34);
    run_init(&r, REQ, &lim, MAX_FIELDS, 0);
    parse_whole(&r, "\r\nGET /123456 HTTP/1.1", 22);
    CHECK_EQ_INT(r.p.error_status, 414);

    /* Status lines are bounded too; the CRLF may come right after the limit. */
    run_init(&r, RES, &lim, MAX_FIELDS, 0);
    parse_whole(&r, "HTTP/1.1 200 OKOKXY\r\n\r\n", 23);
    CHECK_EQ_INT(r.result, 23);
    run_init(&r, RES, &lim, MAX_FIELDS, 0);
    parse_whole(&r, "HTTP/1.1 200 OKOKXYZ", 20);
    CHECK_EQ_INT(r.p.error_status, 414);
    run_init(&r, RES, &lim, MAX_FIELDS, 0);
    parse_whole(&r, "HTTP/1.1 200 OKOKXY", 19);
    CHECK_EQ_INT(r.result, GALE_HTTP_NEED_MORE);
    free(msg);
}

TEST(header_bytes_limit) {
    size_t max = 65536;
    char *msg = make_buf(max + 256, 'v');
    size_t n = 0;
    n += (size_t)sprintf(msg, "GET / HTTP/1.1\r\nHost: a\r\n");
    /* Fill with "X: vvv...\r\n" lines so that the head is exactly max bytes. */
    while (max - n > 1000 + 2) {
        memcpy(msg + n, "X: ", 3);
        memcpy(msg + n + 998, "\r\n", 2);
        n += 1000;
    }
    size_t last = max - n - 2;
    memcpy(msg + n, "Y: ", 3);
    memcpy(msg + n + last - 2, "\r\n", 2);
    n += last;
    memcpy(msg + n, "\r\n", 2);
    n += 2;
    CHECK_EQ_INT(n, max);
    run r;
    run_init(&r, REQ, NULL, MAX_FIELDS, 0);
    parse_whole(&r, msg, n);
    CHECK_EQ_INT(r.result, max);

    /* One byte more in the last line: 431, known once max + 1 bytes are there. */
    memcpy(msg + n - 4, "v\r\n\r\n", 5);
    run_init(&r, REQ, NULL, MAX_FIELDS, 0);
    parse_whole(&r, msg, max);
    CHECK_EQ_INT(r.result, GALE_HTTP_NEED_MORE);
    run_init(&r, REQ, NULL, MAX_FIELDS, 0);
    parse_whole(&r, msg, max + 1);
    CHECK_EQ_INT(r.result, GALE_HTTP_ERROR);
    CHECK_EQ_INT(r.p.error_status, 431);
    run pieces, whole;
    run_init(&pieces, REQ, NULL, MAX_FIELDS, 0);
    run_init(&whole, REQ, NULL, MAX_FIELDS, 0);
    parse_pieces(&pieces, msg, max + 1);
    parse_whole(&whole, msg, max + 1);
    CHECK(heads_equal(&whole, &pieces));

    /* A long value never ending: 431 without waiting for the line. */
    memset(msg, 'v', max + 256);
    memcpy(msg, "GET / HTTP/1.1\r\nX: ", 19);
    run_init(&r, REQ, NULL, MAX_FIELDS, 0);
    parse_whole(&r, msg, max + 1);
    CHECK_EQ_INT(r.p.error_status, 431);

    /* Small custom limit. */
    gale_http_limits lim = {0, 32, 0};
    run_init(&r, REQ, &lim, MAX_FIELDS, 0);
    parse_whole(&r, "GET / HTTP/1.1\r\nHost: abcdefgh\r\n\r\n", 34);
    CHECK_EQ_INT(r.p.error_status, 431);
    run_init(&r, REQ, &lim, MAX_FIELDS, 0);
    parse_whole(&r, "GET / HTTP/1.1\r\nHost: abcdef\r\n\r\nGET", 35);
    CHECK_EQ_INT(r.result, 32);
    free(msg);
}

static size_t many_fields_msg(char *msg, int count) {
    size_t n = (size_t)sprintf(msg, "GET /many HTTP/1.1\r\nHost: a\r\n");
    for (int k = 1; k < count; k++) n += (size_t)sprintf(msg + n, "X-Field-%d: value %d\r\n", k, k);
    n += (size_t)sprintf(msg + n, "\r\n");
    return n;
}

TEST(many_fields) {
    static char msg[16384];
    size_t n = many_fields_msg(msg, 100);
    static run r, pieces;
    run_init(&r, REQ, NULL, MAX_FIELDS, 0);
    parse_whole(&r, msg, n);
    CHECK_EQ_INT(r.result, n);
    CHECK_EQ_INT(r.p.head.num_fields, 100);
    for (int k = 1; k < 100 && k < (int)r.p.head.num_fields; k++) {
        char name[32], value[32];
        sprintf(name, "X-Field-%d", k);
        sprintf(value, "value %d", k);
        gale_slice s = gale_http_field_name(&r.fields[k], msg);
        CHECK_SLICE(s.ptr, s.len, name);
        s = gale_http_field_value(&r.fields[k], msg);
        CHECK_SLICE(s.ptr, s.len, value);
    }
    run_init(&pieces, REQ, NULL, MAX_FIELDS, 0);
    parse_pieces(&pieces, msg, n);
    CHECK(heads_equal(&r, &pieces));

    /* 101 fields: 431, as soon as the 101st name starts. */
    n = many_fields_msg(msg, 101);
    run_init(&r, REQ, NULL, MAX_FIELDS, 0);
    parse_whole(&r, msg, n);
    CHECK_EQ_INT(r.result, GALE_HTTP_ERROR);
    CHECK_EQ_INT(r.p.error_status, 431);
    char *last = strstr(msg, "X-Field-100:");
    run_init(&r, REQ, NULL, MAX_FIELDS, 0);
    parse_whole(&r, msg, (size_t)(last - msg) + 1);
    CHECK_EQ_INT(r.p.error_status, 431);
    run_init(&pieces, REQ, NULL, MAX_FIELDS, 0);
    parse_pieces(&pieces, msg, n);
    CHECK_EQ_INT(pieces.p.error_status, 431);

    /* fields_cap below max_headers bounds too; so do custom limits. */
    n = many_fields_msg(msg, 11);
    run_init(&r, REQ, NULL, 10, 0);
    parse_whole(&r, msg, n);
    CHECK_EQ_INT(r.p.error_status, 431);
    run_init(&r, REQ, NULL, 11, 0);
    parse_whole(&r, msg, n);
    CHECK_EQ_INT(r.result, n);
    gale_http_limits lim = {0, 0, 3};
    run_init(&r, REQ, &lim, MAX_FIELDS, 0);
    parse_whole(&r, msg, n);
    CHECK_EQ_INT(r.p.error_status, 431);
    /* No field storage at all: only a field-less message parses. */
    gale_http_parser p;
    gale_http_parser_init(&p, REQ, NULL, NULL, 0);
    CHECK_EQ_INT(gale_http_parser_execute(&p, "GET / HTTP/1.0\r\n\r\n", 18), 18);
    gale_http_parser_reset(&p);
    CHECK_EQ_INT(gale_http_parser_execute(&p, "GET / HTTP/1.0\r\nX: y\r\n\r\n", 24), GALE_HTTP_ERROR);
    CHECK_EQ_INT(p.error_status, 431);
}

/* Storage lent between messages (as the server lends a pooled array only while it parses):
 * the new array is used and bounds the count, the limits stay, NULL means no fields. */
TEST(fields_lent_between_messages) {
    static gale_http_field a[4], b[2];
    static char msg[16384];
    gale_http_limits lim = {0, 0, 3};
    gale_http_parser p;
    gale_http_parser_init(&p, REQ, &lim, a, 4);
    size_t n = many_fields_msg(msg, 3);
    CHECK_EQ_INT(gale_http_parser_execute(&p, msg, n), n);
    CHECK_EQ_INT(a[2].name_len, 9); /* "X-Field-2" */
    gale_http_parser_reset(&p);
    gale_http_parser_set_fields(&p, b, 2);
    CHECK_EQ_INT(gale_http_parser_execute(&p, msg, n), GALE_HTTP_ERROR); /* 3 fields, room for 2 */
    CHECK_EQ_INT(p.error_status, 431);
    gale_http_parser_reset(&p);
    n = many_fields_msg(msg, 2);
    CHECK_EQ_INT(gale_http_parser_execute(&p, msg, n), n);
    CHECK(p.fields == b && b[1].name_len == 9);
    gale_http_parser_reset(&p);
    gale_http_parser_set_fields(&p, a, 4); /* room for 4, but the limit is still 3 */
    n = many_fields_msg(msg, 4);
    CHECK_EQ_INT(gale_http_parser_execute(&p, msg, n), GALE_HTTP_ERROR);
    CHECK_EQ_INT(p.error_status, 431);
    gale_http_parser_reset(&p);
    gale_http_parser_set_fields(&p, NULL, 4);
    CHECK_EQ_INT(gale_http_parser_execute(&p, "GET / HTTP/1.0\r\nX: y\r\n\r\n", 24), GALE_HTTP_ERROR);
    CHECK_EQ_INT(p.error_status, 431);
}

TEST(limits_default) {
    gale_http_limits l;
    gale_http_limits_default(&l);
    CHECK_EQ_INT(l.max_request_line, 8192);
    CHECK_EQ_INT(l.max_header_bytes, 65536);
    CHECK_EQ_INT(l.max_headers, 100);
    gale_http_parser p;
    gale_http_limits huge = {0xffffffffu, 0xffffffffu, 0};
    gale_http_parser_init(&p, REQ, &huge, NULL, 0);
    CHECK_EQ_INT(p.limits.max_header_bytes, 0x7fffffff);
    CHECK_EQ_INT(p.limits.max_headers, 100);
}

/* ---- Pipelining and resumption ---------------------------------------------------------- */

TEST(pipelining) {
    static const char msg[] = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                              "GET /b?x HTTP/1.1\r\nHost: b\r\n\r\n"
                              "GET /c HTTP/1.0\r\n\r\n";
    size_t n = sizeof msg - 1;
    guard g;
    guard_init(&g, n);
    char *buf = guard_put(&g, msg, n);
    gale_http_field fields[8];
    gale_http_parser p;
    gale_http_parser_init(&p, REQ, NULL, fields, 8);
    int r = gale_http_parser_execute(&p, buf, n);
    CHECK_EQ_INT(r, 48);
    CHECK_EQ_INT(p.head.body_kind, LENGTH);
    CHECK_EQ_INT(p.head.content_length, 3);
    size_t off = (size_t)r + p.head.content_length;
    gale_http_parser_reset(&p);
    r = gale_http_parser_execute(&p, buf + off, n - off);
    CHECK_EQ_INT(r, 30);
    CHECK_SLICE(buf + off + p.head.path_off, p.head.path_len, "/b");
    CHECK_SLICE(buf + off + p.head.query_off, p.head.query_len, "x");
    gale_slice host = gale_http_field_value(&fields[0], buf + off);
    CHECK_SLICE(host.ptr, host.len, "b");
    off += (size_t)r;
    gale_http_parser_reset(&p);
    r = gale_http_parser_execute(&p, buf + off, n - off);
    CHECK_EQ_INT(r, (int)(n - off));
    CHECK_EQ_INT(p.head.num_fields, 0);
    CHECK_EQ_INT(p.head.flags, 0);
    guard_free(&g);
}

TEST(response_sequence) {
    /* A 100 Continue then the final response in one buffer; then a HEAD response. */
    static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n";
    gale_http_field fields[8];
    gale_http_parser p;
    gale_http_parser_init(&p, RES, NULL, fields, 8);
    int r = gale_http_parser_execute(&p, msg, sizeof msg - 1);
    CHECK_EQ_INT(r, 25);
    CHECK_EQ_INT(p.head.status, 100);
    gale_http_parser_reset(&p);
    r = gale_http_parser_execute(&p, msg + 25, sizeof msg - 1 - 25);
    CHECK_EQ_INT(p.head.status, 200);
    CHECK_EQ_INT(p.head.body_kind, LENGTH);
    gale_http_parser_reset(&p);
    gale_http_parser_set_response_to_head(&p, 1);
    r = gale_http_parser_execute(&p, msg + 25, sizeof msg - 1 - 25);
    CHECK_EQ_INT(p.head.body_kind, NONE);
    CHECK_EQ_INT(p.head.content_length, 9);
    gale_http_parser_reset(&p); /* clears the HEAD mark */
    r = gale_http_parser_execute(&p, msg + 25, sizeof msg - 1 - 25);
    CHECK_EQ_INT(p.head.body_kind, LENGTH);
}

/* ---- Chunked decoder -------------------------------------------------------------------- */

typedef struct chunk_result {
    int result;      /* 0, GALE_HTTP_NEED_MORE or GALE_HTTP_ERROR */
    size_t consumed; /* total */
    char payload[8192];
    size_t payload_len;
    const char *reason;
} chunk_result;

/* Decode msg fed in pieces of at most step bytes (0: all at once); each piece sits before a
 * guard page, and whatever a call does not consume is carried into the next piece. */
static void chunk_decode(chunk_result *out, const char *msg, size_t n, size_t step,
                         uint32_t max_trailer) {
    gale_http_chunked d;
    gale_http_chunked_init(&d, max_trailer);
    memset(out, 0, sizeof *out);
    guard g;
    guard_init(&g, n);
    size_t fed = 0; /* bytes of msg made available so far */
    out->result = GALE_HTTP_NEED_MORE;
    for (;;) {
        size_t avail_end = step ? fed + step : n;
        if (avail_end > n) avail_end = n;
        fed = avail_end;
        size_t len = fed - out->consumed;
        char *buf = guard_put(&g, msg + out->consumed, len);
        int r;
        do {
            size_t used = 0;
            gale_slice data;
            r = gale_http_chunked_decode(&d, buf, len, &used, &data);
            CHECK(used <= len);
            if (r == 1) {
                CHECK(data.len > 0);
                CHECK(data.ptr >= buf && data.ptr + data.len <= buf + used);
                if (out->payload_len + data.len <= sizeof out->payload) {
                    memcpy(out->payload + out->payload_len, data.ptr, data.len);
                    out->payload_len += data.len;
                }
            } else {
                CHECK(data.ptr == NULL && data.len == 0);
            }
            buf += used;
            len -= used;
            out->consumed += used;
        } while (r == 1);
        if (r != GALE_HTTP_NEED_MORE || fed == n) {
            out->result = r;
            break;
        }
    }
    out->reason = d.error_reason;
    guard_free(&g);
}

typedef struct chunk_case {
    const char *name;
    const char *msg;
    const char *payload; /* NULL: an error is expected */
    size_t tail;         /* bytes after the body */
    uint32_t max_trailer;
} chunk_case;

static const chunk_case chunk_cases[] = {
    {"simple", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", 0, 0},
    {"hex sizes", "A\r\n0123456789\r\nf\r\n0123456789abcde\r\n0\r\n\r\n",
     "01234567890123456789abcde", 0, 0},
    {"upper and lower hex", "000000000000000b\r\nhello world\r\n00\r\n\r\n", "hello world", 0, 0},
    {"extensions", "5;a\r\nhello\r\n1;a=b;c=\"d;\\\"e\\\\\" ; f = g\r\n!\r\n0;last\r\n\r\n",
     "hello!", 0, 0},
    {"BWS before ;", "3 \t; x\r\nabc\r\n0\r\n\r\n", "abc", 0, 0},
    {"trailers", "3\r\nabc\r\n0\r\nX-Sum: 12\r\nY:\r\n\r\n", "abc", 0, 64},
    {"pipelined tail", "2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "hi", 16, 0},
    {"empty body", "0\r\n\r\n", "", 0, 0},
    {"non-hex size", "g\r\nx\r\n0\r\n\r\n", NULL, 0, 0},
    {"negative size", "-1\r\nx\r\n0\r\n\r\n", NULL, 0, 0},
    {"0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", NULL, 0, 0},
    {"17 digits", "00000000000000001\r\nx\r\n0\r\n\r\n", NULL, 0, 0},
    {"huge size", "fffffffffffffffff\r\n", NULL, 0, 0},
    {"empty size", "\r\nx\r\n", NULL, 0, 0},
    {"leading space", " 5\r\nhello\r\n0\r\n\r\n", NULL, 0, 0},
    {"trailing space", "5 \r\nhello\r\n0\r\n\r\n", NULL, 0, 0},
    {"LF-only size line", "5\nhello\r\n0\r\n\r\n", NULL, 0, 0},
    {"bare CR size line", "5\rhello\r\n0\r\n\r\n", NULL, 0, 0},
    {"missing CRLF after data", "5\r\nhelloX\r\n0\r\n\r\n", NULL, 0, 0},
    {"LF only after data", "5\r\nhello\n0\r\n\r\n", NULL, 0, 0},
    {"data too long", "5\r\nhello!\r\n0\r\n\r\n", NULL, 0, 0},
    {"ext no name", "5;\r\nhello\r\n0\r\n\r\n", NULL, 0, 0},
    {"ext bad char", "5;a@b\r\nhello\r\n0\r\n\r\n", NULL, 0, 0},
    {"ext empty value", "5;a=\r\nhello\r\n0\r\n\r\n", NULL, 0, 0},
    {"ext space before CRLF", "5;a=b \r\nhello\r\n0\r\n\r\n", NULL, 0, 0},
    {"ext unterminated quote", "5;a=\"b\r\nhello\r\n0\r\n\r\n", NULL, 0, 0},
    {"ext CTL in quote", "5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", NULL, 0, 0},
    {"ext LF", "5;a\nhello\r\n0\r\n\r\n", NULL, 0, 0},
    {"trailer not allowed", "0\r\nX: y\r\n\r\n", NULL, 0, 0},
    {"trailer too large", "0\r\nX: 0123456789\r\n\r\n", NULL, 0, 8},
    {"trailer obs-fold", "0\r\nX: y\r\n z\r\n\r\n", NULL, 0, 64},
    {"trailer no colon", "0\r\nX y\r\n\r\n", NULL, 0, 64},
    {"trailer space before colon", "0\r\nX : y\r\n\r\n", NULL, 0, 64},
    {"trailer CTL", "0\r\nX: \x01\r\n\r\n", NULL, 0, 64},
    {"trailer NUL", "0\r\nX: a\0\r\n\r\n", NULL, 0, 64},
    {"trailer bare LF", "0\r\nX: y\n\r\n", NULL, 0, 64},
    {"end without LF", "0\r\n\rX", NULL, 0, 64},
};

TEST(chunked_corpus) {
    for (size_t c = 0; c < sizeof chunk_cases / sizeof chunk_cases[0]; c++) {
        const chunk_case *cc = &chunk_cases[c];
        size_t n = strlen(cc->msg);
        if (strcmp(cc->name, "trailer NUL") == 0) n = 12;
        int before = test_failures_;
        static chunk_result whole, bytes, odd;
        chunk_decode(&whole, cc->msg, n, 0, cc->max_trailer);
        chunk_decode(&bytes, cc->msg, n, 1, cc->max_trailer);
        chunk_decode(&odd, cc->msg, n, 3, cc->max_trailer);
        if (cc->payload) {
            CHECK_EQ_INT(whole.result, 0);
            CHECK_EQ_INT(whole.consumed, n - cc->tail);
            CHECK_SLICE(whole.payload, whole.payload_len, cc->payload);
        } else {
            CHECK_EQ_INT(whole.result, GALE_HTTP_ERROR);
            CHECK(whole.reason != NULL);
        }
        CHECK_EQ_INT(bytes.result, whole.result);
        CHECK_EQ_INT(bytes.consumed, whole.consumed);
        CHECK(bytes.payload_len == whole.payload_len &&
              memcmp(bytes.payload, whole.payload, whole.payload_len) == 0);
        CHECK(odd.payload_len == whole.payload_len &&
              memcmp(odd.payload, whole.payload, whole.payload_len) == 0);
        CHECK(bytes.reason == whole.reason);
        CHECK_EQ_INT(odd.result, whole.result);
        CHECK_EQ_INT(odd.consumed, whole.consumed);
        if (test_failures_ != before)
            fprintf(stderr, "  ... in case \"%s\" (%s)\n", cc->name,
                    whole.reason ? whole.reason : "no error");
    }
}

TEST(chunked_api) {
    gale_http_chunked d;
    gale_http_chunked_init(&d, 0);
    size_t used = 99;
    gale_slice data;
    CHECK_EQ_INT(gale_http_chunked_decode(&d, "", 0, &used, &data), GALE_HTTP_NEED_MORE);
    CHECK_EQ_INT(used, 0);
    /* A big chunk arrives in pieces: remaining counts down. */
    CHECK_EQ_INT(gale_http_chunked_decode(&d, "10\r\nabcd", 8, &used, &data), 1);
    CHECK_EQ_INT(used, 8);
    CHECK_SLICE(data.ptr, data.len, "abcd");
    CHECK_EQ_INT(d.remaining, 12);
    CHECK_EQ_INT(gale_http_chunked_decode(&d, "efghijklmnop\r\n0\r\n\r\nrest", 24, &used, &data), 1);
    CHECK_EQ_INT(used, 12);
    CHECK_EQ_INT(gale_http_chunked_decode(&d, "\r\n0\r\n\r\nrest", 11, &used, &data), 0);
    CHECK_EQ_INT(used, 7);
    CHECK_EQ_INT(gale_http_chunked_decode(&d, "rest", 4, &used, &data), 0);
    CHECK_EQ_INT(used, 0);
    /* Errors are sticky and report where they happened. */
    gale_http_chunked_init(&d, 0);
    CHECK_EQ_INT(gale_http_chunked_decode(&d, "1x", 2, &used, &data), GALE_HTTP_ERROR);
    CHECK_EQ_INT(used, 1);
    CHECK(d.error_reason != NULL);
    CHECK_EQ_INT(gale_http_chunked_decode(&d, "1\r\n", 3, &used, &data), GALE_HTTP_ERROR);
    /* 16 hex digits are the most; the size may be the largest 64-bit value. */
    gale_http_chunked_init(&d, 0);
    CHECK_EQ_INT(gale_http_chunked_decode(&d, "ffffffffffffffff\r\nab", 20, &used, &data), 1);
    CHECK_EQ_INT(d.remaining, UINT64_MAX - 2);
}

TEST(chunked_extension_limit) {
    static char msg[8192];
    size_t n = (size_t)sprintf(msg, "1;x=");
    memset(msg + n, 'a', 4080);
    n += 4080;
    n += (size_t)sprintf(msg + n, "\r\nz\r\n0\r\n\r\n");
    chunk_result r;
    chunk_decode(&r, msg, n, 0, 0);
    CHECK_EQ_INT(r.result, 0);
    n = (size_t)sprintf(msg, "1;x=");
    memset(msg + n, 'a', 4200);
    n += 4200;
    n += (size_t)sprintf(msg + n, "\r\nz\r\n0\r\n\r\n");
    chunk_decode(&r, msg, n, 0, 0);
    CHECK_EQ_INT(r.result, GALE_HTTP_ERROR);
    CHECK_EQ_INT(r.consumed, 2 + 4096); /* 4096 bytes after the ';' */
}

/* A request head then its chunked body, the way a server would use both. */
TEST(chunked_request_end_to_end) {
    static const char msg[] = "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nChecksum: 1\r\n\r\nGET";
    run r;
    run_init(&r, REQ, NULL, MAX_FIELDS, 0);
    parse_whole(&r, msg, sizeof msg - 1);
    CHECK(r.result > 0);
    CHECK_EQ_INT(r.p.head.body_kind, CHUNKED);
    chunk_result c;
    chunk_decode(&c, msg + r.result, sizeof msg - 1 - (size_t)r.result, 0, 1024);
    CHECK_EQ_INT(c.result, 0);
    CHECK_SLICE(c.payload, c.payload_len, "Wikipedia");
    CHECK_EQ_INT((size_t)r.result + c.consumed, sizeof msg - 1 - 3);
}

int main(void) {
    RUN(valid_corpus);
    RUN(valid_corpus_incremental);
    RUN(find_field);
    RUN(error_corpus);
    RUN(error_corpus_incremental);
    RUN(error_is_sticky);
    RUN(shrinking_buffer_is_misuse);
    RUN(request_line_limit);
    RUN(header_bytes_limit);
    RUN(many_fields);
    RUN(fields_lent_between_messages);
    RUN(limits_default);
    RUN(pipelining);
    RUN(response_sequence);
    RUN(chunked_corpus);
    RUN(chunked_api);
    RUN(chunked_extension_limit);
    RUN(chunked_request_end_to_end);
    return test_summary();
}
