/* fuzz_http_parser.c - libFuzzer target for the HTTP/1 head parser and the chunked decoder.
 *
 * Input: 4 control bytes, then the message.
 *   byte 0: bit 0 response parser, bit 1 response to HEAD, bit 2 small limits (bits 3-7 pick
 *           them), else the defaults; bit 7 with default limits: feed the whole input to the
 *           chunked decoder when the head does not parse.
 *   bytes 1-3: seed for the split points.
 * Checks, abort() on failure:
 *   (a) no crash or over-read (every buffer is an exact-size malloc: ASan's redzone follows);
 *   (b) one call == many calls with growing length, the bytes copied to a fresh block (and the
 *       old one poisoned and freed) before every call;
 *   (c) a parsed head's slices all lie inside head_len;
 *   (d) the chunked decoder on the rest never returns a slice outside its input, and decoding
 *       in one go equals decoding in random pieces.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude CSources/http_parser.c \
 *        Tests/fuzz/fuzz_http_parser.c -o /tmp/fuzz_parser */
#include "gale_http_parser.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FIELDS_CAP 160

typedef struct fz_run {
    gale_http_parser p;
    gale_http_field fields[FIELDS_CAP];
    int result;
} fz_run;

static void fz_fail(const char *what) {
    fprintf(stderr, "fuzz_http_parser: %s\n", what);
    abort();
}

static uint32_t fz_rand(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static char *fz_copy(const uint8_t *src, size_t n) {
    char *b = malloc(n ? n : 1);
    if (!b) abort();
    if (n) memcpy(b, src, n);
    return b;
}

static void fz_drop(char *b, size_t n) {
    memset(b, 0xAA, n);
    free(b);
}

static int fz_heads_equal(const fz_run *a, const fz_run *b) {
    const gale_http_head *x = &a->p.head, *y = &b->p.head;
    if (a->result != b->result || a->p.error_status != b->p.error_status) return 0;
    if (a->p.error_reason != b->p.error_reason) return 0;
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
    if (x->num_fields > FIELDS_CAP) return 0;
    for (uint32_t k = 0; k < x->num_fields; k++)
        if (memcmp(&a->fields[k], &b->fields[k], sizeof a->fields[k]) != 0) return 0;
    return 1;
}

static void fz_check_slice(uint32_t off, uint32_t len, uint32_t head_len) {
    if ((uint64_t)off + len > head_len) fz_fail("slice outside the head");
}

static void fz_check_head(const fz_run *r, size_t size) {
    const gale_http_head *h = &r->p.head;
    if ((size_t)r->result > size || h->head_len != (uint32_t)r->result) fz_fail("head_len");
    if (h->head_len > r->p.limits.max_header_bytes) fz_fail("head over the limit");
    if (h->num_fields > r->p.fields_cap || h->num_fields > r->p.limits.max_headers)
        fz_fail("too many fields");
    fz_check_slice(h->method_off, h->method_len, h->head_len);
    fz_check_slice(h->target_off, h->target_len, h->head_len);
    fz_check_slice(h->path_off, h->path_len, h->head_len);
    fz_check_slice(h->query_off, h->query_len, h->head_len);
    fz_check_slice(h->authority_off, h->authority_len, h->head_len);
    fz_check_slice(h->reason_off, h->reason_len, h->head_len);
    for (uint32_t k = 0; k < h->num_fields; k++) {
        const gale_http_field *f = &r->fields[k];
        fz_check_slice(f->name_off, f->name_len, h->head_len);
        fz_check_slice(f->value_off, f->value_len, h->head_len);
        if (f->name_len == 0) fz_fail("empty field name");
    }
    if (h->version_major != 1 || h->version_minor > 1) fz_fail("version");
    if (h->body_kind > GALE_HTTP_BODY_UNTIL_CLOSE) fz_fail("body kind");
    if (r->p.st.kind == GALE_HTTP_REQUEST) {
        if (h->method_len == 0 || h->target_len == 0) fz_fail("empty method or target");
        if (h->body_kind == GALE_HTTP_BODY_UNTIL_CLOSE) fz_fail("request read until close");
        if ((h->flags & GALE_HTTP_F_CONTENT_LENGTH) && (h->flags & GALE_HTTP_F_TRANSFER_ENCODING))
            fz_fail("request with CL and TE");
        if (h->version_minor == 1 && !(h->flags & GALE_HTTP_F_HOST)) fz_fail("no Host");
    } else if (h->status < 100 || h->status > 999) {
        fz_fail("status");
    }
}

typedef struct fz_chunked {
    int result;
    size_t consumed;
    size_t payload_len;
    char *payload;
} fz_chunked;

/* Decode src[0..n) fed in pieces (step_seed 0: all at once). */
static void fz_decode(fz_chunked *out, const uint8_t *src, size_t n, uint32_t step_seed,
                      uint32_t max_trailer) {
    gale_http_chunked d;
    gale_http_chunked_init(&d, max_trailer);
    out->result = GALE_HTTP_NEED_MORE;
    out->consumed = 0;
    out->payload_len = 0;
    out->payload = malloc(n ? n : 1);
    if (!out->payload) abort();
    size_t fed = 0;
    for (;;) {
        if (step_seed)
            fed += 1 + fz_rand(&step_seed) % 7;
        else
            fed = n;
        if (fed > n) fed = n;
        size_t len = fed - out->consumed;
        size_t blen = len;
        char *buf = fz_copy(src + out->consumed, len);
        const char *p = buf;
        int r;
        do {
            size_t used = 0;
            gale_slice data = {NULL, 0};
            r = gale_http_chunked_decode(&d, p, len, &used, &data);
            if (used > len) fz_fail("chunked consumed more than given");
            if (r == 1) {
                if (data.len == 0 || !data.ptr) fz_fail("empty payload piece");
                if (data.ptr < p || data.ptr + data.len > p + used) fz_fail("payload outside input");
                if (out->payload_len + data.len > n) fz_fail("more payload than input");
                memcpy(out->payload + out->payload_len, data.ptr, data.len);
                out->payload_len += data.len;
            } else if (data.ptr || data.len) {
                fz_fail("payload without result 1");
            } else if (r == GALE_HTTP_NEED_MORE && used != len) {
                fz_fail("need more without consuming everything");
            } else if (r == GALE_HTTP_ERROR && !d.error_reason) {
                fz_fail("error without reason");
            }
            p += used;
            len -= used;
            out->consumed += used;
        } while (r == 1);
        fz_drop(buf, blen);
        if (r != GALE_HTTP_NEED_MORE || fed == n) {
            out->result = r;
            break;
        }
    }
}

static void fz_chunked_check(const uint8_t *src, size_t n, uint32_t seed, uint32_t max_trailer) {
    fz_chunked whole, pieces;
    fz_decode(&whole, src, n, 0, max_trailer);
    fz_decode(&pieces, src, n, seed | 1, max_trailer);
    if (whole.result != pieces.result || whole.consumed != pieces.consumed ||
        whole.payload_len != pieces.payload_len ||
        memcmp(whole.payload, pieces.payload, whole.payload_len) != 0)
        fz_fail("chunked: one go != pieces");
    free(whole.payload);
    free(pieces.payload);
}

static void fz_setup(fz_run *r, int kind, const gale_http_limits *lim, uint32_t cap, int to_head) {
    memset(r, 0, sizeof *r);
    gale_http_parser_init(&r->p, kind, lim, r->fields, cap);
    if (to_head) gale_http_parser_set_response_to_head(&r->p, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fz_run one, many;
    if (size < 4) return 0;
    uint8_t mode = data[0];
    uint32_t seed = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16;
    data += 4;
    size -= 4;

    int kind = mode & 1 ? GALE_HTTP_RESPONSE : GALE_HTTP_REQUEST;
    int to_head = (mode >> 1) & 1;
    gale_http_limits lim = {0, 0, 0};
    uint32_t cap = FIELDS_CAP;
    if (mode & 4) {
        lim.max_request_line = 12 + ((mode >> 3) & 3) * 10;
        lim.max_header_bytes = 40 + ((mode >> 5) & 3) * 60;
        lim.max_headers = 1 + (mode >> 7) * 3;
        cap = 2 + ((mode >> 4) & 1);
    }

    /* (a) one call */
    fz_setup(&one, kind, &lim, cap, to_head);
    char *buf = fz_copy(data, size);
    one.result = gale_http_parser_execute(&one.p, buf, size);
    if (one.result == GALE_HTTP_NEED_MORE && one.p.error_reason) fz_fail("need more with a reason");
    if (one.result == GALE_HTTP_ERROR && (!one.p.error_reason || !one.p.error_status))
        fz_fail("error without status");
    /* Calling again with the same bytes changes nothing. */
    if (gale_http_parser_execute(&one.p, buf, size) != one.result) fz_fail("not idempotent");

    /* (b) growing length, fresh block each call */
    fz_setup(&many, kind, &lim, cap, to_head);
    uint32_t rs = seed | 1;
    size_t k = 0;
    many.result = GALE_HTTP_NEED_MORE;
    while (many.result == GALE_HTTP_NEED_MORE && k < size) {
        uint32_t pick = fz_rand(&rs);
        k += (pick & 3) ? 1 + (pick >> 8) % 4 : 1 + (pick >> 8) % (size / 2 + 1);
        if (k > size) k = size;
        char *piece = fz_copy(data, k);
        many.result = gale_http_parser_execute(&many.p, piece, k);
        fz_drop(piece, k);
    }
    if (!fz_heads_equal(&one, &many)) fz_fail("one call != many calls");

    if (one.result > 0) {
        /* (c) */
        fz_check_head(&one, size);
        size_t hl = (size_t)one.result;
        /* (d) the rest as a chunked body */
        fz_chunked_check(data + hl, size - hl, seed, (mode & 8) ? 64 : 0);
        /* A reset parser reads the next message like a new one. */
        fz_run *fresh = malloc(sizeof *fresh);
        if (!fresh) abort();
        fz_setup(fresh, kind, &lim, cap, 0);
        gale_http_parser_reset(&one.p);
        one.result = gale_http_parser_execute(&one.p, buf + hl, size - hl);
        fresh->result = gale_http_parser_execute(&fresh->p, buf + hl, size - hl);
        if (!fz_heads_equal(&one, fresh)) fz_fail("reset != init");
        free(fresh);
    } else if ((mode & 0x84) == 0x80) {
        fz_chunked_check(data, size, seed, 64);
    }
    free(buf);
    return 0;
}
