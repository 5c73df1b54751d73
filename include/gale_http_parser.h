/* gale_http_parser.h - a strict, incremental, allocation-free HTTP/1.1 message-head parser
 * and chunked-body decoder.
 *
 * The parser never allocates and never stores a pointer into the message: every result is an
 * offset from the first byte of the message, so the caller may move the bytes (realloc, copy
 * from a scratch buffer) between calls. Each call resumes where the previous one stopped; a
 * head that arrives in one piece is parsed in one pass, and a head fed in small pieces costs
 * the same in total (each byte is examined a bounded number of times, the values of the six
 * framing fields once more when their line completes).
 *
 * Strictness (RFC 9112 / RFC 9110; this is a request-smuggling boundary):
 *  - Line endings are CRLF. A bare LF is accepted as a line terminator in the head (RFC 9112
 *    2.2); a CR not followed by LF is an error. The chunked framing needs CRLF exactly.
 *  - Up to 4 empty lines before the start line are skipped; a fifth is an error.
 *  - method = token, single SP separators, version exactly "HTTP/1.0" or "HTTP/1.1"
 *    ("HTTP/" DIGIT "." DIGIT otherwise: 505; anything else: 400). The request-target is
 *    0x21-0x7E except '#' (no CTL, SP, DEL or byte >= 0x80): origin-form, absolute-form
 *    (http/https scheme only, no userinfo), authority-form for CONNECT (host ":" port) and
 *    asterisk-form for OPTIONS only.
 *  - field-name = 1*tchar directly followed by ':'; field-value bytes are VCHAR, obs-text,
 *    SP and HTAB; obs-fold is rejected. The value slice excludes leading and trailing OWS.
 *  - Content-Length: 1*DIGIT, at most 2^63-1; repeated fields or a comma list only if every
 *    value is the same. Transfer-Encoding in a request: one field, exactly "chunked"
 *    (case-insensitive); other codings 501; "chunked" twice, chunked not last, TE in an
 *    HTTP/1.0 request or TE with Content-Length: 400. An HTTP/1.1 request needs exactly one
 *    Host (valid uri-host [":" port], possibly empty). Expect other than "100-continue": 417.
 *  - Connection: a comma list of tokens (close, keep-alive, upgrade set flags; others are
 *    ignored; anything but tokens, commas and OWS: 400).
 *  - Responses: "HTTP/1.x SP 3DIGIT [SP reason]"; status 100-999 (the caller should treat
 *    600-999 like 5xx). 1xx, 204, 304 and responses to HEAD have no body. Otherwise
 *    Transfer-Encoding with chunked last: chunked; with another final coding: read until
 *    close. Both Transfer-Encoding and Content-Length: TE wins and the connection is not
 *    kept alive (RFC 9112 6.3); an HTTP/1.0 response with TE likewise. Neither: read until
 *    close. Host and Expect are not interpreted in responses. A response parser reports
 *    its failures with the same status codes; they only classify the failure there.
 *
 * Threading: a parser or decoder is a plain value; use one from one thread at a time. */
#ifndef GALE_HTTP_PARSER_H
#define GALE_HTTP_PARSER_H

#include "gale_common.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

GALE_ASSUME_NONNULL_BEGIN

/** One header field line: offsets are from the first byte of the message. */
typedef struct gale_http_field {
    uint32_t name_off, name_len;
    uint32_t value_off, value_len; /**< without leading/trailing SP and HTAB */
} gale_http_field;

/** Message kinds for gale_http_parser_init(). */
enum { GALE_HTTP_REQUEST = 0, GALE_HTTP_RESPONSE = 1 };

/** Results of gale_http_parser_execute() and gale_http_chunked_decode() besides >= 0. */
enum { GALE_HTTP_NEED_MORE = -2, GALE_HTTP_ERROR = -1 };

/** How the body of a message is delimited (gale_http_head.body_kind). */
enum {
    GALE_HTTP_BODY_NONE = 0,       /**< no body follows the head */
    GALE_HTTP_BODY_LENGTH = 1,     /**< content_length bytes follow (possibly 0) */
    GALE_HTTP_BODY_CHUNKED = 2,    /**< use gale_http_chunked_decode() */
    GALE_HTTP_BODY_UNTIL_CLOSE = 3 /**< responses only: the body ends when the connection closes */
};

/** gale_http_head.flags, computed while parsing. */
enum {
    /** The connection may carry another message after this one: HTTP/1.1 without
     *  "Connection: close", or HTTP/1.0 with "Connection: keep-alive". Never set for a
     *  response read until close, nor for a response with both TE and Content-Length. */
    GALE_HTTP_F_KEEP_ALIVE = 1 << 0,
    GALE_HTTP_F_CONN_CLOSE = 1 << 1,      /**< Connection has the "close" option */
    GALE_HTTP_F_CONN_KEEP_ALIVE = 1 << 2, /**< Connection has the "keep-alive" option */
    GALE_HTTP_F_CONN_UPGRADE = 1 << 3,    /**< Connection has the "upgrade" option */
    GALE_HTTP_F_UPGRADE = 1 << 4,         /**< an Upgrade field is present */
    GALE_HTTP_F_EXPECT_CONTINUE = 1 << 5, /**< "Expect: 100-continue" in an HTTP/1.1 request */
    GALE_HTTP_F_HOST = 1 << 6,            /**< a Host field is present */
    GALE_HTTP_F_ABSOLUTE_FORM = 1 << 7,   /**< request-target "http://authority/path?query" */
    GALE_HTTP_F_AUTHORITY_FORM = 1 << 8,  /**< CONNECT host:port */
    GALE_HTTP_F_ASTERISK_FORM = 1 << 9,   /**< OPTIONS * */
    GALE_HTTP_F_CONTENT_LENGTH = 1 << 10, /**< a Content-Length field is present */
    GALE_HTTP_F_TRANSFER_ENCODING = 1 << 11, /**< a Transfer-Encoding field is present */
    GALE_HTTP_F_IF_NONE_MATCH = 1 << 12      /**< an If-None-Match field is present (a request
                                              *   that may be answered 304: a server computing
                                              *   Etags need not look for it otherwise) */
};

/** Size limits. A zero member means "the default". */
typedef struct gale_http_limits {
    uint32_t max_request_line; /**< bytes of the start line without CRLF; default 8192 (414) */
    uint32_t max_header_bytes; /**< the whole head incl. start line and empty lines; default
                                    65536, at most 2^31-1 (431) */
    uint32_t max_headers;      /**< field lines; default 100; also bounded by fields_cap (431) */
} gale_http_limits;

/** Fill l with the defaults: 8192, 65536, 100. */
GALE_EXPORT void gale_http_limits_default(gale_http_limits *l);

/** The parsed head. Filled as parsing proceeds; final once execute() returned > 0.
 *  Every offset/length pair is a slice of the message (see gale_http_slice()). */
typedef struct gale_http_head {
    uint32_t method_off, method_len; /**< requests */
    uint32_t target_off, target_len; /**< the request-target as sent */
    /** The path: origin-form and absolute-form up to '?'; "*" for asterisk-form; empty for
     *  authority-form. An absolute-form target without a path ("http://h" or "http://h?q")
     *  gets the one-byte path "/" that points at the second slash of "://". */
    uint32_t path_off, path_len;
    /** The query after the first '?', without the '?'. query_off == 0 means no '?' at all;
     *  "/p?" has query_off != 0 and query_len == 0. */
    uint32_t query_off, query_len;
    uint32_t authority_off, authority_len; /**< absolute- or authority-form target, else 0 */
    uint32_t reason_off, reason_len;       /**< responses; may be empty */
    uint16_t status;                       /**< responses: 100-999 */
    uint8_t version_major, version_minor;  /**< 1.0 or 1.1 */
    uint8_t body_kind;                     /**< GALE_HTTP_BODY_* */
    /** The Content-Length value (0 if absent). The body length only when body_kind is
     *  GALE_HTTP_BODY_LENGTH; a response to HEAD keeps the value it announces. The caller
     *  enforces its own body limit (413). */
    uint64_t content_length;
    uint32_t flags;      /**< GALE_HTTP_F_* */
    uint32_t num_fields; /**< fields[0..num_fields) are valid */
    uint32_t head_len;   /**< bytes of the head incl. the final empty line; set when complete */
} gale_http_head;

/** Private state of the parser: plain integers, no pointers into the message. */
typedef struct gale_http_parser_state {
    uint32_t pos;        /**< next byte to examine */
    uint32_t mark;       /**< start of the token or value being scanned */
    uint32_t line_start; /**< start of the start line */
    uint32_t aux;        /**< first '?' of the target; end of the value before CR */
    uint32_t max_fields; /**< min(limits.max_headers, fields_cap) */
    uint8_t state, kind, response_to_head, empty_lines;
    uint8_t method_id, field_id, host_count, te_fields;
    uint8_t te_chunked, te_last_chunked, te_other, cl_seen;
} gale_http_parser_state;

/** An HTTP/1 head parser. Initialize with gale_http_parser_init(); read head, error_status
 *  and error_reason; leave st alone. */
typedef struct gale_http_parser {
    gale_http_parser_state st; /**< private */
    gale_http_limits limits;
    gale_http_field *GALE_NULLABLE fields; /**< caller-owned array of fields_cap entries */
    uint32_t fields_cap;
    gale_http_head head;
    /** After GALE_HTTP_ERROR: the status to answer with (400, 414, 417, 431, 501, 505; 500
     *  for a misuse of the API). For a response parser it only classifies the failure. */
    uint16_t error_status;
    const char *GALE_NULLABLE error_reason; /**< after GALE_HTTP_ERROR: static text */
} gale_http_parser;

/** Prepare p for the first message.
 *  @param kind     GALE_HTTP_REQUEST or GALE_HTTP_RESPONSE.
 *  @param limits   copied; NULL (or zero members) for the defaults.
 *  @param fields   caller-owned storage for the field lines, borrowed until the parser is no
 *                  longer used; may be NULL when fields_cap is 0 (then any field is 431). */
GALE_EXPORT void gale_http_parser_init(gale_http_parser *p, int kind,
                                       const gale_http_limits *GALE_NULLABLE limits,
                                       gale_http_field *GALE_NULLABLE fields, uint32_t fields_cap);

/** Ready for the next message: keeps kind, limits and fields; clears the head, the error
 *  and the response-to-HEAD mark. */
GALE_EXPORT void gale_http_parser_reset(gale_http_parser *p);

/** Give p another field array between messages (after init or reset): the cheap way to lend
 *  it storage only while a message is being parsed. */
GALE_EXPORT void gale_http_parser_set_fields(gale_http_parser *p, gale_http_field *GALE_NULLABLE fields,
                                             uint32_t fields_cap);

/** Mark the response being parsed as the answer to a HEAD request (or a 2xx to CONNECT):
 *  it has no body whatever its fields say. Call before the head completes; reset clears it. */
GALE_EXPORT void gale_http_parser_set_response_to_head(gale_http_parser *p, int yes);

/** Parse (more of) a message head.
 *  @param buf  the FIRST byte of the message: the same bytes as in the previous call, possibly
 *              at another address, with more appended.
 *  @param len  every byte available; may extend past the head (body, a pipelined message).
 *              Must not be smaller than in the previous call.
 *  @return the head length (> 0, bytes up to and including the empty line) once the head is
 *          complete: p->head is final and fields[0..head.num_fields) are valid; calling again
 *          returns the same. GALE_HTTP_NEED_MORE if the head is not complete yet.
 *          GALE_HTTP_ERROR with p->error_status and p->error_reason set; the error is sticky
 *          until gale_http_parser_reset(). Limits are checked as bytes arrive: a start line
 *          longer than max_request_line fails as soon as max_request_line + 1 bytes of it
 *          are there. */
GALE_EXPORT int gale_http_parser_execute(gale_http_parser *p, const char *buf, size_t len);

/** Find a field by name, case-insensitively, among fields[start..num_fields).
 *  @param base  the message's first byte (as passed to execute).
 *  @return the index of the first match, or -1. Pass index + 1 as start to find duplicates. */
GALE_EXPORT int gale_http_find_field(const gale_http_parser *p, const char *base,
                                     const char *name, size_t name_len, uint32_t start);

/** The slice (base + off, len). */
static inline gale_slice gale_http_slice(const char *base, uint32_t off, uint32_t len) {
    gale_slice s;
    s.ptr = base + off;
    s.len = len;
    return s;
}

/** The name of field f of the message at base. */
static inline gale_slice gale_http_field_name(const gale_http_field *f, const char *base) {
    return gale_http_slice(base, f->name_off, f->name_len);
}

/** The value of field f of the message at base (OWS trimmed). */
static inline gale_slice gale_http_field_value(const gale_http_field *f, const char *base) {
    return gale_http_slice(base, f->value_off, f->value_len);
}

/** The method of a parsed request at base. */
static inline gale_slice gale_http_head_method(const gale_http_head *h, const char *base) {
    return gale_http_slice(base, h->method_off, h->method_len);
}

/** The request-target as sent. */
static inline gale_slice gale_http_head_target(const gale_http_head *h, const char *base) {
    return gale_http_slice(base, h->target_off, h->target_len);
}

/** The path (see gale_http_head.path_off). */
static inline gale_slice gale_http_head_path(const gale_http_head *h, const char *base) {
    return gale_http_slice(base, h->path_off, h->path_len);
}

/** The query without '?'; ptr is NULL when the target has no '?'. */
static inline gale_slice gale_http_head_query(const gale_http_head *h, const char *base) {
    gale_slice s = gale_http_slice(base, h->query_off, h->query_len);
    if (h->query_off == 0) s.ptr = NULL;
    return s;
}

/** The authority of an absolute-form or authority-form target (empty otherwise). */
static inline gale_slice gale_http_head_authority(const gale_http_head *h, const char *base) {
    return gale_http_slice(base, h->authority_off, h->authority_len);
}

/** The reason phrase of a response. */
static inline gale_slice gale_http_head_reason(const gale_http_head *h, const char *base) {
    return gale_http_slice(base, h->reason_off, h->reason_len);
}

/* ---- Chunked transfer coding ----------------------------------------------------------- */

/** Private state of the chunked decoder. */
typedef struct gale_http_chunked {
    uint8_t state;              /**< private */
    uint8_t digits;             /**< private: hex digits of the chunk size so far */
    uint16_t ext_bytes;         /**< private: bytes of chunk extensions on this line */
    uint64_t remaining;         /**< payload bytes left in the current chunk */
    uint32_t trailer_bytes;     /**< bytes of trailer fields so far */
    uint32_t max_trailer_bytes; /**< bound on trailer_bytes */
    const char *GALE_NULLABLE error_reason; /**< after GALE_HTTP_ERROR: static text */
} gale_http_chunked;

/** Prepare d for a chunked body.
 *  @param max_trailer_bytes  bound on the trailer field lines (their final CRLF excluded);
 *                            0 rejects any trailer field. Extensions on one chunk-size line
 *                            are bounded by 4096 bytes (counted after the first ";" or
 *                            whitespace), chunk sizes by 16 hex digits. */
GALE_EXPORT void gale_http_chunked_init(gale_http_chunked *d, uint32_t max_trailer_bytes);

/** Consume chunked framing from buf[0..len).
 *  @param consumed  out: bytes of buf used by this call, including any payload returned.
 *  @param data      out: the payload piece when the result is 1 (len > 0, points into buf),
 *                   else {NULL, 0}.
 *  @return 1 with a payload piece; 0 when the last chunk and the trailer section are consumed
 *          (the message is complete; bytes after *consumed belong to the next message, and
 *          later calls return 0 consuming nothing); GALE_HTTP_NEED_MORE when buf is used up
 *          (*consumed == len); GALE_HTTP_ERROR on bad framing (sticky; error_reason set).
 *          Call again with buf + *consumed and the rest. Trailer fields are validated like
 *          header fields and skipped. */
GALE_EXPORT int gale_http_chunked_decode(gale_http_chunked *d, const char *buf, size_t len,
                                         size_t *consumed, gale_slice *data);

GALE_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* GALE_HTTP_PARSER_H */
