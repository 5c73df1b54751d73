/* http_parser.c - the HTTP/1.1 head parser and chunked decoder of gale_http_parser.h.
 *
 * The head parser is a resumable state machine written as straight-line code: a switch at
 * entry jumps to the label of the saved state, and each state scans a run of bytes with a
 * table-driven loop (field values 8 bytes at a time). Results are offsets; the only state
 * kept between calls is in gale_http_parser_state. */
#include "gale_http_parser.h"

#include <string.h>

enum {
    S_START, S_START_LF, S_METHOD, S_TARGET, S_VERSION, S_VERSION_END, S_RL_LF,
    S_RES_VERSION, S_RES_STATUS, S_RES_AFTER_STATUS, S_RES_REASON,
    S_HDR_LINE, S_HDR_NAME, S_HDR_OWS, S_HDR_VALUE, S_HDR_LF, S_HEAD_LF,
    S_DONE, S_ERROR
};

enum { M_OTHER, M_CONNECT, M_OPTIONS };

enum { H_OTHER, H_CONTENT_LENGTH, H_TRANSFER_ENCODING, H_CONNECTION, H_EXPECT, H_HOST, H_UPGRADE, H_IF_NONE_MATCH };

enum { AUTH_HOST, AUTH_ABSOLUTE, AUTH_CONNECT };

#define MAX_EMPTY_LINES 4
#define MAX_CHUNK_EXT 4096
#define LIMIT_CEILING 0x7fffffffu
#define CL_MAX 0x7fffffffffffffffULL

/* 1 for tchar (RFC 9110 5.6.2) */
static const uint8_t tchar_tab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};
/* 1 for field-content bytes: VCHAR, obs-text, SP, HTAB */
static const uint8_t value_tab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};
/* request-target bytes: 1 plain, 2 '?', 0 anything that ends or breaks the target */
static const uint8_t target_tab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};
/* reg-name bytes besides pct-encoded: unreserved and sub-delims (RFC 3986) */
static const uint8_t host_tab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};
/* HEXDIG value + 1, or 0 */
static const uint8_t hex_tab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 0, 0, 0, 0, 0,
    0, 11, 12, 13, 14, 15, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 11, 12, 13, 14, 15, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};
/* 1 for DIGIT */
static const uint8_t digit_tab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};
/* ASCII lowercase */
static const uint8_t lower_tab[256] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
    32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
    48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
    64, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 91, 92, 93, 94, 95,
    96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127,
    128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 142, 143,
    144, 145, 146, 147, 148, 149, 150, 151, 152, 153, 154, 155, 156, 157, 158, 159,
    160, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, 173, 174, 175,
    176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191,
    192, 193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207,
    208, 209, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219, 220, 221, 222, 223,
    224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239,
    240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255,
};

/* Compare n bytes of s with the lowercase pattern pat. Exact for tchar and field-value bytes
 * against patterns of lowercase letters, digits, '-', ':' and '/': OR-ing 0x20 folds only
 * 'A'-'Z' onto a pattern byte; the other bytes it could fold (CTLs) never reach here. */
#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

static ALWAYS_INLINE int lower_eq(const uint8_t *s, const char *pat, size_t n) {
    size_t k = 0;
    for (; n - k >= 8; k += 8) {
        uint64_t x, y;
        memcpy(&x, s + k, 8);
        memcpy(&y, pat + k, 8);
        if ((x | 0x2020202020202020ULL) != y) return 0;
    }
    if (n - k >= 4) {
        uint32_t x, y;
        memcpy(&x, s + k, 4);
        memcpy(&y, pat + k, 4);
        if ((x | 0x20202020u) != y) return 0;
        k += 4;
    }
    for (; k < n; k++)
        if ((s[k] | 0x20) != (uint8_t)pat[k]) return 0;
    return 1;
}

/* The first byte at or after i (before end) whose class in tab is not 1, or end. Unrolled so
 * that most bytes cost a load, a table look-up and a branch, and a short run exits early. */
static ALWAYS_INLINE size_t span(const uint8_t *tab, const uint8_t *b, size_t i, size_t end) {
    while (end - i >= 8) {
        if (tab[b[i]] != 1) return i;
        if (tab[b[i + 1]] != 1) return i + 1;
        if (tab[b[i + 2]] != 1) return i + 2;
        if (tab[b[i + 3]] != 1) return i + 3;
        if (tab[b[i + 4]] != 1) return i + 4;
        if (tab[b[i + 5]] != 1) return i + 5;
        if (tab[b[i + 6]] != 1) return i + 6;
        if (tab[b[i + 7]] != 1) return i + 7;
        i += 8;
    }
    while (i < end && tab[b[i]] == 1) i++;
    return i;
}

static inline int is_ows(unsigned c) {
    return c == ' ' || c == '\t';
}

static inline int is_digit(unsigned c) {
    return c - '0' < 10u;
}

/* The first byte at or after i (before end) that is not field-content, or end. */
static ALWAYS_INLINE size_t scan_value(const uint8_t *b, size_t i, size_t end) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* Eight bytes at a time: flag bytes < 0x20 and 0x7f. The borrows of the subtraction only
     * run upward, so the lowest flagged byte is exact even if higher ones are not. */
    for (;;) {
        while (end - i >= 8) {
            uint64_t x, y, m;
            memcpy(&x, b + i, 8);
            y = x ^ 0x7f7f7f7f7f7f7f7fULL;
            m = ((x - 0x2020202020202020ULL) & ~x) | ((y - 0x0101010101010101ULL) & ~y);
            m &= 0x8080808080808080ULL;
            if (m) {
                i += (size_t)__builtin_ctzll(m) >> 3;
                goto found;
            }
            i += 8;
        }
        while (i < end && value_tab[b[i]]) i++;
        return i;
    found:
        if (b[i] != '\t') return i;
        i++;
    }
#else
    while (i < end && value_tab[b[i]]) i++;
    return i;
#endif
}

static int fail(gale_http_parser *p, uint16_t status, const char *reason) {
    p->st.state = S_ERROR;
    p->error_status = status;
    p->error_reason = reason;
    return GALE_HTTP_ERROR;
}

GALE_EXPORT void gale_http_limits_default(gale_http_limits *l) {
    l->max_request_line = 8192;
    l->max_header_bytes = 65536;
    l->max_headers = 100;
}

GALE_EXPORT void gale_http_parser_init(gale_http_parser *p, int kind,
                                       const gale_http_limits *limits,
                                       gale_http_field *fields, uint32_t fields_cap) {
    memset(p, 0, sizeof *p);
    gale_http_limits_default(&p->limits);
    if (limits) {
        if (limits->max_request_line) p->limits.max_request_line = limits->max_request_line;
        if (limits->max_header_bytes) p->limits.max_header_bytes = limits->max_header_bytes;
        if (limits->max_headers) p->limits.max_headers = limits->max_headers;
    }
    if (p->limits.max_request_line > LIMIT_CEILING) p->limits.max_request_line = LIMIT_CEILING;
    if (p->limits.max_header_bytes > LIMIT_CEILING) p->limits.max_header_bytes = LIMIT_CEILING;
    p->fields = fields;
    p->fields_cap = fields ? fields_cap : 0;
    p->st.kind = kind == GALE_HTTP_RESPONSE ? GALE_HTTP_RESPONSE : GALE_HTTP_REQUEST;
    p->st.max_fields = p->limits.max_headers < p->fields_cap ? p->limits.max_headers
                                                             : p->fields_cap;
}

GALE_EXPORT void gale_http_parser_set_fields(gale_http_parser *p, gale_http_field *fields, uint32_t fields_cap) {
    p->fields = fields;
    p->fields_cap = fields ? fields_cap : 0;
    p->st.max_fields = p->limits.max_headers < p->fields_cap ? p->limits.max_headers : p->fields_cap;
}

GALE_EXPORT void gale_http_parser_reset(gale_http_parser *p) {
    uint8_t kind = p->st.kind;
    uint32_t max_fields = p->st.max_fields;
    memset(&p->st, 0, sizeof p->st);
    memset(&p->head, 0, sizeof p->head);
    p->st.kind = kind;
    p->st.max_fields = max_fields;
    p->error_status = 0;
    p->error_reason = NULL;
}

GALE_EXPORT void gale_http_parser_set_response_to_head(gale_http_parser *p, int yes) {
    p->st.response_to_head = yes != 0;
}

/* uri-host [":" port] (RFC 3986 host: IP-literal or reg-name; IPv4 is a reg-name here).
 * AUTH_HOST allows an empty value; AUTH_CONNECT needs ":" 1*DIGIT. No userinfo.
 * v[0..avail) is readable (avail >= n) and v[n] is none of the bytes allowed here (CR, LF,
 * OWS, '/', '?'), so the scans may run on the longer bound and stop at n by themselves. */
static int valid_authority(const uint8_t *v, size_t n, size_t avail, int mode) {
    size_t k = 0;
    if (n == 0) return mode == AUTH_HOST;
    if (v[0] == '[') {
        k = 1;
        while (k < n && (host_tab[v[k]] || v[k] == ':')) k++;
        if (k == 1 || k == n || v[k] != ']') return 0;
        k++;
    } else {
        for (;;) {
            k = span(host_tab, v, k, avail);
            if (k + 2 < n && v[k] == '%' && hex_tab[v[k + 1]] && hex_tab[v[k + 2]])
                k += 3;
            else
                break;
        }
        if (k == 0 || k > n) return 0;
    }
    if (k == n) return mode != AUTH_CONNECT;
    if (v[k] != ':') return 0;
    size_t digits = ++k;
    k = span(digit_tab, v, k, avail);
    if (k != n) return 0;
    return mode != AUTH_CONNECT || k > digits;
}

/* Split the request-target into path, query and authority by its form; qmark is the offset
 * of its first '?', or 0. */
static int classify_target(gale_http_parser *p, const uint8_t *b, uint32_t qmark) {
    /* The target is followed by SP, so the authority scans may look one byte further. */
    gale_http_head *h = &p->head;
    uint32_t off = h->target_off, n = h->target_len;
    const uint8_t *t = b + off;
    uint32_t path_end = qmark ? qmark : off + n;

    if (p->st.method_id == M_CONNECT) {
        if (!valid_authority(t, n, n + 1, AUTH_CONNECT))
            return fail(p, 400, "CONNECT needs an authority-form target (host:port)");
        h->authority_off = off;
        h->authority_len = n;
        h->flags |= GALE_HTTP_F_AUTHORITY_FORM;
        return 0;
    }
    if (qmark) {
        h->query_off = qmark + 1;
        h->query_len = off + n - (qmark + 1);
    }
    if (t[0] == '/') {
        h->path_off = off;
        h->path_len = path_end - off;
        return 0;
    }
    if (n == 1 && t[0] == '*') {
        if (p->st.method_id != M_OPTIONS)
            return fail(p, 400, "asterisk-form target is only for OPTIONS");
        h->path_off = off;
        h->path_len = 1;
        h->flags |= GALE_HTTP_F_ASTERISK_FORM;
        return 0;
    }
    uint32_t k;
    if (n >= 7 && lower_eq(t, "http://", 7))
        k = 7;
    else if (n >= 8 && lower_eq(t, "https://", 8))
        k = 8;
    else
        return fail(p, 400, "invalid request-target");
    uint32_t a = k;
    while (k < n && t[k] != '/' && t[k] != '?') k++;
    if (!valid_authority(t + a, k - a, n + 1 - a, AUTH_ABSOLUTE))
        return fail(p, 400, "invalid authority in request-target");
    h->authority_off = off + a;
    h->authority_len = k - a;
    if (k < n && t[k] == '/') {
        h->path_off = off + k;
        h->path_len = path_end - (off + k);
    } else {
        h->path_off = off + a - 1; /* the second '/' of "://" */
        h->path_len = 1;
    }
    h->flags |= GALE_HTTP_F_ABSOLUTE_FORM;
    return 0;
}

static uint8_t classify_name(const uint8_t *n, uint32_t len) {
    unsigned c = n[0] | 0x20;
    switch (len) {
    case 4:
        if (c == 'h' && lower_eq(n, "host", 4)) return H_HOST;
        break;
    case 6:
        if (c == 'e' && lower_eq(n, "expect", 6)) return H_EXPECT;
        break;
    case 7:
        if (c == 'u' && lower_eq(n, "upgrade", 7)) return H_UPGRADE;
        break;
    case 10:
        if (c == 'c' && lower_eq(n, "connection", 10)) return H_CONNECTION;
        break;
    case 13:
        if (c == 'i' && lower_eq(n, "if-none-match", 13)) return H_IF_NONE_MATCH;
        break;
    case 14:
        if (c == 'c' && lower_eq(n, "content-length", 14)) return H_CONTENT_LENGTH;
        break;
    case 17:
        if (c == 't' && lower_eq(n, "transfer-encoding", 17)) return H_TRANSFER_ENCODING;
        break;
    }
    return H_OTHER;
}

static int is_request(const gale_http_parser *p) {
    return p->st.kind == GALE_HTTP_REQUEST;
}

/* 1*DIGIT, or a comma list of equal values; every Content-Length field must agree. */
static int on_content_length(gale_http_parser *p, const uint8_t *v, uint32_t n) {
    gale_http_parser_state *s = &p->st;
    uint32_t k = 0;
    for (;;) {
        uint64_t val = 0;
        uint32_t start = k;
        while (k < n && is_digit(v[k])) {
            unsigned d = v[k] - '0';
            if (val > (CL_MAX - d) / 10) return fail(p, 400, "Content-Length too large");
            val = val * 10 + d;
            k++;
        }
        if (k == start) return fail(p, 400, "invalid Content-Length");
        if (s->cl_seen && val != p->head.content_length)
            return fail(p, 400, "conflicting Content-Length values");
        s->cl_seen = 1;
        p->head.content_length = val;
        while (k < n && is_ows(v[k])) k++;
        if (k == n) break;
        if (v[k] != ',') return fail(p, 400, "invalid Content-Length");
        k++;
        while (k < n && is_ows(v[k])) k++;
    }
    p->head.flags |= GALE_HTTP_F_CONTENT_LENGTH;
    if (is_request(p) && s->te_fields)
        return fail(p, 400, "both Transfer-Encoding and Content-Length");
    return 0;
}

/* A list of transfer-codings. Responses may spread it over several fields. */
static int on_transfer_encoding(gale_http_parser *p, const uint8_t *v, uint32_t n) {
    gale_http_parser_state *s = &p->st;
    int req = is_request(p);
    if (s->te_fields < 2) s->te_fields++;
    p->head.flags |= GALE_HTTP_F_TRANSFER_ENCODING;
    if (req) {
        if (s->te_fields > 1) return fail(p, 400, "more than one Transfer-Encoding field");
        if (p->head.version_minor == 0)
            return fail(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
        if (s->cl_seen) return fail(p, 400, "both Transfer-Encoding and Content-Length");
    }
    uint32_t k = 0;
    for (;;) {
        uint32_t start = k;
        while (k < n && tchar_tab[v[k]]) k++;
        if (k == start) return fail(p, 400, "invalid Transfer-Encoding");
        int chunked = k - start == 7 && lower_eq(v + start, "chunked", 7);
        while (k < n && is_ows(v[k])) k++;
        if (k < n && v[k] == ';') {
            /* A coding with parameters is not one we implement; its bytes are field-content
             * already, so skip to the next element without parsing them. */
            chunked = 0;
            while (k < n && v[k] != ',') k++;
        }
        if (chunked) {
            if (s->te_chunked < 2) s->te_chunked++;
        } else {
            s->te_other = 1;
        }
        s->te_last_chunked = (uint8_t)chunked;
        if (k == n) break;
        if (v[k] != ',') return fail(p, 400, "invalid Transfer-Encoding");
        k++;
        while (k < n && is_ows(v[k])) k++;
    }
    if (req) {
        if (s->te_chunked > 1) return fail(p, 400, "chunked applied more than once");
        if (s->te_chunked && !s->te_last_chunked)
            return fail(p, 400, "chunked is not the final transfer coding");
        if (s->te_other) return fail(p, 501, "unsupported transfer coding");
    }
    return 0;
}

/* #connection-option: tokens, empty elements allowed. */
static int on_connection(gale_http_parser *p, const uint8_t *v, uint32_t n) {
    uint32_t k = 0;
    while (k < n) {
        uint32_t start = k;
        while (k < n && tchar_tab[v[k]]) k++;
        uint32_t tl = k - start;
        if (tl == 5 && lower_eq(v + start, "close", 5))
            p->head.flags |= GALE_HTTP_F_CONN_CLOSE;
        else if (tl == 10 && lower_eq(v + start, "keep-alive", 10))
            p->head.flags |= GALE_HTTP_F_CONN_KEEP_ALIVE;
        else if (tl == 7 && lower_eq(v + start, "upgrade", 7))
            p->head.flags |= GALE_HTTP_F_CONN_UPGRADE;
        while (k < n && is_ows(v[k])) k++;
        if (k == n) break;
        if (v[k] != ',') return fail(p, 400, "invalid Connection");
        k++;
        while (k < n && is_ows(v[k])) k++;
    }
    return 0;
}

/* v[0..n) is the trimmed value, v[0..avail) readable; v[n] is OWS, CR or LF. */
static int on_framing_field(gale_http_parser *p, unsigned id, const uint8_t *v, uint32_t n,
                            size_t avail) {
    switch (id) {
    case H_CONTENT_LENGTH:
        return on_content_length(p, v, n);
    case H_TRANSFER_ENCODING:
        return on_transfer_encoding(p, v, n);
    case H_CONNECTION:
        return on_connection(p, v, n);
    case H_EXPECT:
        if (!is_request(p)) return 0;
        if (n != 12 || !lower_eq(v, "100-continue", 12))
            return fail(p, 417, "unsupported expectation");
        /* RFC 9110 10.1.1: ignore 100-continue in an HTTP/1.0 request. */
        if (p->head.version_minor == 1) p->head.flags |= GALE_HTTP_F_EXPECT_CONTINUE;
        return 0;
    case H_HOST:
        if (!is_request(p)) return 0;
        if (++p->st.host_count > 1) return fail(p, 400, "more than one Host field");
        p->head.flags |= GALE_HTTP_F_HOST;
        if (!valid_authority(v, n, avail, AUTH_HOST)) return fail(p, 400, "invalid Host");
        return 0;
    case H_UPGRADE:
        p->head.flags |= GALE_HTTP_F_UPGRADE;
        return 0;
    case H_IF_NONE_MATCH:
        p->head.flags |= GALE_HTTP_F_IF_NONE_MATCH;
        return 0;
    }
    return 0;
}

/* The head is complete: decide the body and the connection's fate. */
static int finish_head(gale_http_parser *p) {
    gale_http_parser_state *s = &p->st;
    gale_http_head *h = &p->head;
    int no_keep_alive = 0;
    if (is_request(p)) {
        if (h->version_minor == 1 && s->host_count == 0)
            return fail(p, 400, "missing Host");
        if (s->te_fields)
            h->body_kind = GALE_HTTP_BODY_CHUNKED; /* anything else failed at the field */
        else if (s->cl_seen)
            h->body_kind = GALE_HTTP_BODY_LENGTH;
        else
            h->body_kind = GALE_HTTP_BODY_NONE;
    } else {
        if (s->te_chunked > 1) return fail(p, 400, "chunked applied more than once");
        if (s->response_to_head || h->status < 200 || h->status == 204 || h->status == 304) {
            h->body_kind = GALE_HTTP_BODY_NONE;
        } else if (s->te_fields) {
            /* RFC 9112 6.3: TE overrides CL (and then the connection must not be reused);
             * chunked not last means read until close. 6.1: TE in HTTP/1.0 is faulty. */
            h->body_kind = s->te_last_chunked ? GALE_HTTP_BODY_CHUNKED : GALE_HTTP_BODY_UNTIL_CLOSE;
            if (s->cl_seen || h->version_minor == 0 || !s->te_last_chunked) no_keep_alive = 1;
        } else if (s->cl_seen) {
            h->body_kind = GALE_HTTP_BODY_LENGTH;
        } else {
            h->body_kind = GALE_HTTP_BODY_UNTIL_CLOSE;
            no_keep_alive = 1;
        }
    }
    if (!no_keep_alive && !(h->flags & GALE_HTTP_F_CONN_CLOSE) &&
        (h->version_minor == 1 || (h->flags & GALE_HTTP_F_CONN_KEEP_ALIVE)))
        h->flags |= GALE_HTTP_F_KEEP_ALIVE;
    return 0;
}

/* "HTTP/1.0" or "HTTP/1.1" at v (8 bytes available): the minor version, or -1 after fail(). */
static int parse_version(gale_http_parser *p, const uint8_t *v) {
    if (memcmp(v, "HTTP/1.", 7) == 0 && (v[7] == '1' || v[7] == '0')) return v[7] - '0';
    if (memcmp(v, "HTTP/", 5) == 0 && is_digit(v[5]) && v[6] == '.' && is_digit(v[7]))
        return fail(p, 505, "HTTP version not supported");
    return fail(p, 400, "invalid HTTP version");
}

/* Inside gale_http_parser_execute only: record the error and leave through out_error, which
 * stores the register copies back so that the head reads the same however the bytes came. */
#define FAIL(status, reason)                                                                   \
    do {                                                                                       \
        r = fail(p, (status), (reason));                                                       \
        goto out_error;                                                                        \
    } while (0)

GALE_EXPORT int gale_http_parser_execute(gale_http_parser *p, const char *buf, size_t len) {
    gale_http_parser_state *s = &p->st;
    gale_http_head *h = &p->head;
    const uint8_t *b = (const uint8_t *)buf;
    size_t i, lim, e, rl_end;
    unsigned c;
    int r;

    if (s->state >= S_DONE) return s->state == S_DONE ? (int)h->head_len : GALE_HTTP_ERROR;
    if (len < s->pos) return fail(p, 500, "buffer shorter than in the previous call");
    /* Nothing at or past lim is ever read: the head must end within max_header_bytes, and
     * the start line's content within max_request_line (e). */
    lim = len < p->limits.max_header_bytes ? len : p->limits.max_header_bytes;
    rl_end = (size_t)s->line_start + p->limits.max_request_line;
    e = lim < rl_end ? lim : rl_end;
    i = s->pos;
    /* Kept in registers while scanning; stored back on every way out. */
    uint32_t mark = s->mark, aux = s->aux, nf = h->num_fields;
    unsigned fid = s->field_id;

    switch (s->state) {
    case S_START: goto start;
    case S_START_LF: goto start_lf;
    case S_METHOD: goto method;
    case S_TARGET: goto target;
    case S_VERSION: goto version;
    case S_VERSION_END: goto version_end;
    case S_RL_LF: goto rl_lf;
    case S_RES_VERSION: goto res_version;
    case S_RES_STATUS: goto res_status;
    case S_RES_AFTER_STATUS: goto res_after_status;
    case S_RES_REASON: goto res_reason;
    case S_HDR_LINE: goto hdr_line;
    case S_HDR_NAME: goto hdr_name;
    case S_HDR_OWS: goto hdr_ows;
    case S_HDR_VALUE: goto hdr_value;
    case S_HDR_LF: goto hdr_lf;
    case S_HEAD_LF: goto head_lf;
    default: FAIL(500, "corrupt parser state");
    }

start:
    if (i >= lim) {
        s->state = S_START;
        goto need_more;
    }
    c = b[i];
    if (c == '\r' || c == '\n') {
        /* RFC 9112 2.2: a few empty lines before the start line are ignored. */
        if (++s->empty_lines > MAX_EMPTY_LINES) FAIL(400, "too many empty lines before the start line");
        i++;
        if (c == '\n') goto start;
    start_lf:
        if (i >= lim) {
            s->state = S_START_LF;
            goto need_more;
        }
        if (b[i] != '\n') FAIL(400, "CR without LF");
        i++;
        goto start;
    }
    s->line_start = (uint32_t)i;
    mark = (uint32_t)i;
    rl_end = i + p->limits.max_request_line;
    e = lim < rl_end ? lim : rl_end;
    if (s->kind == GALE_HTTP_RESPONSE) goto res_version;

method:
    i = span(tchar_tab, b, i, e);
    if (i == e) {
        s->state = S_METHOD;
        goto need_rl;
    }
    if (b[i] != ' ' || i == mark) FAIL(400, "invalid method");
    h->method_off = mark;
    h->method_len = (uint32_t)i - mark;
    if (h->method_len == 7 && memcmp(b + mark, "CONNECT", 7) == 0)
        s->method_id = M_CONNECT;
    else if (h->method_len == 7 && memcmp(b + mark, "OPTIONS", 7) == 0)
        s->method_id = M_OPTIONS;
    mark = (uint32_t)++i;

target:
    for (;;) {
        i = span(target_tab, b, i, e);
        if (i == e) {
            s->state = S_TARGET;
            goto need_rl;
        }
        if (b[i] != '?') break;
        if (!aux) aux = (uint32_t)i;
        i++;
    }
    c = b[i];
    if (c != ' ') FAIL(400, c == '#' ? "'#' in request-target" : "invalid byte in request-target");
    if (i == mark) FAIL(400, "empty request-target");
    h->target_off = mark;
    h->target_len = (uint32_t)i - mark;
    if ((r = classify_target(p, b, aux)) != 0) goto out_error;
    i++;

version:
    if (e - i < 8) {
        s->state = S_VERSION;
        goto need_rl;
    }
    if ((r = parse_version(p, b + i)) < 0) goto out_error;
    h->version_major = 1;
    h->version_minor = (uint8_t)r;
    i += 8;

version_end:
    if (i >= lim) {
        s->state = S_VERSION_END;
        goto need_more;
    }
    c = b[i++];
    if (c == '\n') goto hdr_line;
    if (c != '\r') FAIL(400, "invalid request-line");

rl_lf:
    if (i >= lim) {
        s->state = S_RL_LF;
        goto need_more;
    }
    if (b[i] != '\n') FAIL(400, "CR without LF");
    i++;
    goto hdr_line;

res_version:
    if (e - i < 9) {
        s->state = S_RES_VERSION;
        goto need_rl;
    }
    if ((r = parse_version(p, b + i)) < 0) goto out_error;
    if (b[i + 8] != ' ') FAIL(400, "invalid status-line");
    h->version_major = 1;
    h->version_minor = (uint8_t)r;
    i += 9;

res_status:
    if (e - i < 3) {
        s->state = S_RES_STATUS;
        goto need_rl;
    }
    if (!is_digit(b[i]) || !is_digit(b[i + 1]) || !is_digit(b[i + 2]))
        FAIL(400, "invalid status code");
    h->status = (uint16_t)((b[i] - '0') * 100 + (b[i + 1] - '0') * 10 + (b[i + 2] - '0'));
    if (h->status < 100) FAIL(400, "invalid status code");
    i += 3;

res_after_status:
    if (i >= lim) {
        s->state = S_RES_AFTER_STATUS;
        goto need_more;
    }
    c = b[i];
    if (c == ' ') {
        if (i >= e) FAIL(414, "status-line too long");
        mark = (uint32_t)++i;
        goto res_reason;
    }
    if (c != '\r' && c != '\n') FAIL(400, "invalid status-line");
    /* A missing SP before an empty reason phrase is tolerated. */
    mark = (uint32_t)i;

res_reason:
    i = scan_value(b, i, e);
    if (i == lim) {
        s->state = S_RES_REASON;
        goto need_more;
    }
    /* i < lim: b[i] exists, even when i == e (the byte right after max_request_line). */
    c = b[i];
    if (c == '\r' || c == '\n') {
        h->reason_off = mark;
        h->reason_len = (uint32_t)i - mark;
        i++;
        if (c == '\r') goto rl_lf;
        goto hdr_line;
    }
    if (i == e) FAIL(414, "status-line too long");
    FAIL(400, "invalid byte in reason-phrase");

hdr_line:
    if (i >= lim) {
        s->state = S_HDR_LINE;
        goto need_more;
    }
    c = b[i];
    if (tchar_tab[c]) {
        if (nf >= s->max_fields) FAIL(431, "too many header fields");
        mark = (uint32_t)i++;
        goto hdr_name;
    }
    if (c == '\r') {
        i++;
        goto head_lf;
    }
    if (c == '\n') {
        i++;
        goto head_done;
    }
    if (is_ows(c)) FAIL(400, "obsolete line folding");
    FAIL(400, c == ':' ? "empty field name" : "invalid byte in field name");

hdr_name:
    i = span(tchar_tab, b, i, lim);
    if (i >= lim) {
        s->state = S_HDR_NAME;
        goto need_more;
    }
    if (b[i] != ':') FAIL(400, is_ows(b[i]) ? "whitespace before colon" : "invalid byte in field name");
    {
        gale_http_field *f = &p->fields[nf];
        uint32_t name_len = (uint32_t)i - mark;
        f->name_off = mark;
        f->name_len = name_len;
        fid = classify_name(b + mark, name_len);
    }
    i++;
    if (i < lim && b[i] == ' ') i++; /* the usual single SP */

hdr_ows:
    while (i < lim && b[i] <= ' ' && is_ows(b[i])) i++;
    if (i >= lim) {
        s->state = S_HDR_OWS;
        goto need_more;
    }
    mark = (uint32_t)i;

hdr_value:
    i = scan_value(b, i, lim);
    if (i >= lim) {
        s->state = S_HDR_VALUE;
        goto need_more;
    }
    c = b[i];
    aux = (uint32_t)i;
    i++;
    if (c == '\n') goto hdr_done;
    if (c != '\r') FAIL(400, c == 0 ? "NUL in field value" : "control character in field value");

hdr_lf:
    if (i >= lim) {
        s->state = S_HDR_LF;
        goto need_more;
    }
    if (b[i] != '\n') FAIL(400, "CR without LF");
    i++;

hdr_done:
    {
        uint32_t ve = aux;
        while (is_ows(b[ve - 1]) && ve > mark) ve--; /* b[mark - 1] is ':' or OWS */
        gale_http_field *f = &p->fields[nf++];
        f->value_off = mark;
        f->value_len = ve - mark;
        if (fid != H_OTHER && (r = on_framing_field(p, fid, b + mark, ve - mark, lim - mark)) != 0)
            goto out_error;
    }
    goto hdr_line;

head_lf:
    if (i >= lim) {
        s->state = S_HEAD_LF;
        goto need_more;
    }
    if (b[i] != '\n') FAIL(400, "CR without LF");
    i++;

head_done:
    h->num_fields = nf;
    if ((r = finish_head(p)) != 0) return r;
    h->head_len = (uint32_t)i;
    s->pos = (uint32_t)i;
    s->state = S_DONE;
    return (int)i;

need_rl:
    /* Out of start-line bytes at e. If e is max_request_line (not the end of the data or of
     * the head window) the line is too long, whatever follows. */
    if (e < lim) FAIL(414, s->kind == GALE_HTTP_REQUEST ? "request-line too long" : "status-line too long");
need_more:
    s->pos = (uint32_t)i;
    s->mark = mark;
    s->aux = aux;
    s->field_id = (uint8_t)fid;
    h->num_fields = nf;
    if (lim < len) return fail(p, 431, "header section too large");
    return GALE_HTTP_NEED_MORE;

out_error:
    h->num_fields = nf;
    return r;
}

#undef FAIL

GALE_EXPORT int gale_http_find_field(const gale_http_parser *p, const char *base,
                                     const char *name, size_t name_len, uint32_t start) {
    const uint8_t *b = (const uint8_t *)base;
    const uint8_t *want = (const uint8_t *)name;
    for (uint32_t k = start; k < p->head.num_fields; k++) {
        const gale_http_field *f = &p->fields[k];
        if (f->name_len != name_len) continue;
        const uint8_t *n = b + f->name_off;
        size_t j = 0;
        while (j < name_len && lower_tab[n[j]] == lower_tab[want[j]]) j++;
        if (j == name_len) return k > 0x7fffffffu ? -1 : (int)k;
    }
    return -1;
}

/* ---- Chunked transfer coding ----------------------------------------------------------- */

enum {
    C_SIZE_FIRST, C_SIZE, C_SIZE_BWS, C_EXT_PRE_NAME, C_EXT_NAME, C_EXT_POST_NAME,
    C_EXT_PRE_VAL, C_EXT_VAL, C_EXT_QVAL, C_EXT_QESC, C_EXT_POST_QVAL, C_EXT_POST_VAL,
    C_SIZE_LF, C_DATA, C_DATA_CR, C_DATA_LF, C_TRL_LINE, C_TRL_NAME, C_TRL_VALUE, C_TRL_LF,
    C_END_LF, C_DONE, C_ERROR
};

GALE_EXPORT void gale_http_chunked_init(gale_http_chunked *d, uint32_t max_trailer_bytes) {
    memset(d, 0, sizeof *d);
    d->state = C_SIZE_FIRST;
    d->max_trailer_bytes = max_trailer_bytes;
}

static int chunked_fail(gale_http_chunked *d, size_t i, size_t *consumed, const char *why) {
    d->state = C_ERROR;
    d->error_reason = why;
    *consumed = i;
    return GALE_HTTP_ERROR;
}

GALE_EXPORT int gale_http_chunked_decode(gale_http_chunked *d, const char *buf, size_t len,
                                         size_t *consumed, gale_slice *data) {
    const uint8_t *b = (const uint8_t *)buf;
    size_t i = 0;

    data->ptr = NULL;
    data->len = 0;
    if (d->state == C_DONE) {
        *consumed = 0;
        return 0;
    }
    if (d->state == C_ERROR) {
        *consumed = 0;
        return GALE_HTTP_ERROR;
    }
    while (i < len) {
        unsigned c = b[i];
        unsigned st = d->state;
        /* chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] ) */
        if (st >= C_SIZE_BWS && st <= C_EXT_POST_VAL && ++d->ext_bytes > MAX_CHUNK_EXT)
            return chunked_fail(d, i, consumed, "chunk extensions too long");
        switch (st) {
        case C_SIZE_FIRST:
            if (hex_tab[c] == 0) return chunked_fail(d, i, consumed, "invalid chunk size");
            d->remaining = hex_tab[c] - 1u;
            d->digits = 1;
            d->state = C_SIZE;
            break;
        case C_SIZE:
            if (hex_tab[c]) {
                if (d->digits == 16) return chunked_fail(d, i, consumed, "chunk size too long");
                d->remaining = d->remaining << 4 | (hex_tab[c] - 1u);
                d->digits++;
            } else if (c == '\r') {
                d->state = C_SIZE_LF;
            } else if (c == ';') {
                d->state = C_EXT_PRE_NAME;
            } else if (is_ows(c)) {
                d->state = C_SIZE_BWS;
            } else {
                return chunked_fail(d, i, consumed, "invalid chunk size");
            }
            break;
        case C_SIZE_BWS:
        case C_EXT_POST_VAL:
            if (c == ';')
                d->state = C_EXT_PRE_NAME;
            else if (!is_ows(c))
                return chunked_fail(d, i, consumed, "invalid chunk extension");
            break;
        case C_EXT_PRE_NAME:
            if (tchar_tab[c])
                d->state = C_EXT_NAME;
            else if (!is_ows(c))
                return chunked_fail(d, i, consumed, "invalid chunk extension");
            break;
        case C_EXT_NAME:
        case C_EXT_POST_NAME:
            if (tchar_tab[c] && st == C_EXT_NAME)
                ;
            else if (is_ows(c))
                d->state = C_EXT_POST_NAME;
            else if (c == '=')
                d->state = C_EXT_PRE_VAL;
            else if (c == ';')
                d->state = C_EXT_PRE_NAME;
            else if (c == '\r' && st == C_EXT_NAME)
                d->state = C_SIZE_LF;
            else
                return chunked_fail(d, i, consumed, "invalid chunk extension");
            break;
        case C_EXT_PRE_VAL:
            if (tchar_tab[c])
                d->state = C_EXT_VAL;
            else if (c == '"')
                d->state = C_EXT_QVAL;
            else if (!is_ows(c))
                return chunked_fail(d, i, consumed, "invalid chunk extension");
            break;
        case C_EXT_VAL:
        case C_EXT_POST_QVAL:
            if (tchar_tab[c] && st == C_EXT_VAL)
                ;
            else if (is_ows(c))
                d->state = C_EXT_POST_VAL;
            else if (c == ';')
                d->state = C_EXT_PRE_NAME;
            else if (c == '\r')
                d->state = C_SIZE_LF;
            else
                return chunked_fail(d, i, consumed, "invalid chunk extension");
            break;
        case C_EXT_QVAL:
            /* qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text */
            if (c == '"')
                d->state = C_EXT_POST_QVAL;
            else if (c == '\\')
                d->state = C_EXT_QESC;
            else if (!value_tab[c])
                return chunked_fail(d, i, consumed, "invalid chunk extension");
            break;
        case C_EXT_QESC:
            if (!value_tab[c]) return chunked_fail(d, i, consumed, "invalid chunk extension");
            d->state = C_EXT_QVAL;
            break;
        case C_SIZE_LF:
            if (c != '\n') return chunked_fail(d, i, consumed, "chunk size line without CRLF");
            d->ext_bytes = 0;
            d->state = d->remaining ? C_DATA : C_TRL_LINE;
            break;
        case C_DATA: {
            size_t n = len - i;
            if (n > d->remaining) n = (size_t)d->remaining;
            data->ptr = buf + i;
            data->len = n;
            d->remaining -= n;
            if (d->remaining == 0) d->state = C_DATA_CR;
            *consumed = i + n;
            return 1;
        }
        case C_DATA_CR:
            if (c != '\r') return chunked_fail(d, i, consumed, "no CRLF after chunk data");
            d->state = C_DATA_LF;
            break;
        case C_DATA_LF:
            if (c != '\n') return chunked_fail(d, i, consumed, "no CRLF after chunk data");
            d->state = C_SIZE_FIRST;
            break;
        case C_TRL_LINE:
            if (c == '\r') {
                d->state = C_END_LF;
                break;
            }
            if (!tchar_tab[c])
                return chunked_fail(d, i, consumed, is_ows(c) ? "obsolete line folding in trailer"
                                                               : "invalid trailer field");
            d->state = C_TRL_NAME;
            goto trailer_byte;
        case C_TRL_NAME:
            if (c == ':')
                d->state = C_TRL_VALUE;
            else if (!tchar_tab[c])
                return chunked_fail(d, i, consumed, "invalid trailer field");
            goto trailer_byte;
        case C_TRL_VALUE:
            if (c == '\r')
                d->state = C_TRL_LF;
            else if (!value_tab[c])
                return chunked_fail(d, i, consumed, "invalid trailer field");
            goto trailer_byte;
        case C_TRL_LF:
            if (c != '\n') return chunked_fail(d, i, consumed, "trailer field without CRLF");
            d->state = C_TRL_LINE;
        trailer_byte:
            if (d->trailer_bytes >= d->max_trailer_bytes)
                return chunked_fail(d, i, consumed, "trailer section too large");
            d->trailer_bytes++;
            break;
        case C_END_LF:
            if (c != '\n') return chunked_fail(d, i, consumed, "trailer section without CRLF");
            d->state = C_DONE;
            *consumed = i + 1;
            return 0;
        default:
            return chunked_fail(d, i, consumed, "corrupt decoder state");
        }
        i++;
    }
    *consumed = i;
    return GALE_HTTP_NEED_MORE;
}
