/* gale_http.h - an HTTP/1.1 server: keep-alive, pipelining, chunked bodies both ways,
 * 100-continue, timeouts, limits and backpressure, with a strict parser (gale_http_parser.h).
 *
 * Ownership: a server owns its connections. Each request is handed to on_request and stays
 * valid until the owner calls gale_http_response_end() on it - exactly once per request, even
 * if the connection went away meanwhile (on_abort says so; the response calls then return
 * -EPIPE and change nothing). Requests on one connection are delivered one at a time, in
 * order: the next is delivered after the previous response ended, so responses to pipelined
 * requests go out in order. Loop thread only; response calls may come after on_request
 * returns (from a later callback, timer or task on the loop thread).
 */
#ifndef GALE_HTTP_H
#define GALE_HTTP_H

#include "gale_http_parser.h"
#include "gale_listener.h"

#ifdef __cplusplus
extern "C" {
#endif

GALE_ASSUME_NONNULL_BEGIN

typedef struct gale_http_server gale_http_server;
typedef struct gale_http_request gale_http_request;

/** How a request's body reaches the owner (gale_http_callbacks.on_head's answer). */
enum {
    /** Read the whole body first (up to max_body_size, else 413), then call on_request with
     *  it available from gale_http_request_body(). The default. */
    GALE_HTTP_BODY_BUFFER = 0,
    /** Call on_request at once; the body follows through on_body/on_body_end, at the pace
     *  the owner allows (gale_http_request_pause_body). */
    GALE_HTTP_BODY_STREAM = 1,
};

/** What the server tells its owner. Any member but on_request may be NULL. */
typedef struct gale_http_callbacks {
    /** A request with a body has arrived (head only): choose GALE_HTTP_BODY_BUFFER or
     *  GALE_HTTP_BODY_STREAM. Not called for requests without a body. */
    int (*GALE_NULLABLE on_head)(gale_http_request *req, void *GALE_NULLABLE ud);
    /** A request to answer. Respond now or later; end it with gale_http_response_end. */
    void (*on_request)(gale_http_request *req, void *GALE_NULLABLE ud);
    /** Streamed body bytes (valid during the call). */
    void (*GALE_NULLABLE on_body)(gale_http_request *req, const void *data, size_t len, void *GALE_NULLABLE ud);
    /** The streamed body is complete. */
    void (*GALE_NULLABLE on_body_end)(gale_http_request *req, void *GALE_NULLABLE ud);
    /** The response's queue drained to the low-water mark after a write returned 1. */
    void (*GALE_NULLABLE on_writable)(gale_http_request *req, void *GALE_NULLABLE ud);
    /** The connection failed or timed out before the response ended (err is -errno or
     *  -ETIMEDOUT). Stop producing; still call gale_http_response_end to release req. */
    void (*GALE_NULLABLE on_abort)(gale_http_request *req, int err, void *GALE_NULLABLE ud);
    /** The client closed its sending side (EOF) while this request was in flight, with nothing
     *  sent after it. Usually the client has gone away (Tornado's on_connection_close); one
     *  that only half-closed still reads the answer, so the response may still be sent, and
     *  must still be ended. At most once per request. */
    void (*GALE_NULLABLE on_peer_eof)(gale_http_request *req, void *GALE_NULLABLE ud);
} gale_http_callbacks;

/** Server settings. Zero members take the defaults shown. */
typedef struct gale_http_config {
    gale_http_limits limits;       /* request line 8 KiB (414), head 64 KiB / 100 fields (431) */
    uint64_t max_body_size;        /* 100 MiB, like Tornado; larger bodies get 413 */
    uint64_t header_timeout_ns;    /* 30 s from a request's first byte to its complete head: 408 */
    uint64_t idle_timeout_ns;      /* 60 s between requests on a kept-alive connection: closed.
                                      While a response is going out, 60 s without the client
                                      reading any of it: closed, and a response still in
                                      flight is aborted (on_abort, -ETIMEDOUT) */
    uint64_t body_timeout_ns;      /* 60 s without body progress while one is being read: 408 */
    uint32_t max_connections;      /* 0: no limit; past it, new connections get 503 and close
                                      (those do not count against the limit while they close) */
    uint32_t max_pipelined;        /* 64 KiB of requests buffered behind the current one */
    size_t write_high_water;       /* 256 KiB: gale_http_response_write returns 1 at or above */
    size_t write_low_water;        /* 64 KiB: on_writable once drained to here */
    uint64_t drain_timeout_ns;     /* 1 s: on shutdown, an idle keep-alive connection may send one
                                      more request (answered with Connection: close) this long */
    const char *GALE_NULLABLE server_name; /* the Server header ("" for none); default "Gale";
                                              a field value of at most 85 bytes, else -EINVAL */
} gale_http_config;

/** Create a server on a loop. cbs must outlive the server; ud is released with ud_free when
 *  the server is freed. Connections come from gale_http_server_listen, or are handed over
 *  with gale_http_server_adopt. @return 0 or -errno. */
GALE_EXPORT int gale_http_server_new(gale_loop *loop, const gale_http_config *GALE_NULLABLE config,
                                     const gale_http_callbacks *cbs, void *GALE_NULLABLE ud,
                                     gale_free_fn GALE_NULLABLE ud_free,
                                     gale_http_server *GALE_NULLABLE *GALE_NONNULL out);

/** Listen on host:port (see gale_listener_open) and serve what arrives. The listener is the
 *  server's; read it back with out_listener if you want its port (may be NULL).
 *  @return 0 or -errno / a resolver error. */
GALE_EXPORT int gale_http_server_listen(gale_http_server *srv, const char *GALE_NULLABLE host, int port,
                                        int backlog, unsigned flags,
                                        gale_listener *GALE_NULLABLE *GALE_NULLABLE out_listener);

/** Serve what arrives on an already listening socket: one passed by systemd socket
 *  activation, inherited across exec, or shared by several loops (give each its own dup()).
 *  The server owns fd from now on, also on error (it is closed). @return 0 or -errno. */
GALE_EXPORT int gale_http_server_listen_fd(gale_http_server *srv, int fd,
                                           gale_listener *GALE_NULLABLE *GALE_NULLABLE out_listener);

/** Serve an already accepted, connected socket (the server owns fd from now on).
 *  @return 0 or -errno (fd is closed). */
GALE_EXPORT int gale_http_server_adopt(gale_http_server *srv, int fd);

/** Graceful stop: close the listeners; let requests in flight finish, their responses carrying
 *  Connection: close; give idle keep-alive connections drain_timeout_ns to send one more
 *  request (answered the same way) before closing them - a client whose next request was
 *  already on its way does not lose it; and call done(ud) once every connection is gone - or,
 *  after deadline_ns (0: no deadline), close what is left (on_abort runs). done runs once,
 *  after the last connection's on_abort; it may free the server. With no connection open,
 *  done runs before this returns; if gale_http_server_free comes first, it runs from there. */
GALE_EXPORT void gale_http_server_shutdown(gale_http_server *srv, uint64_t deadline_ns,
                                           gale_loop_fn GALE_NULLABLE done, void *GALE_NULLABLE ud);

/** Close everything now and free the server (on_abort for requests in flight; those must
 *  still be ended). A gale_http_server_shutdown still waiting has its done(ud) called, once,
 *  after those on_aborts. ud_free(ud) runs before this returns. Safe inside the server's own
 *  callbacks (a handler, on_abort, done): the memory goes later in this loop turn.
 *  gale_loop_free frees a server still open, with its listeners. NULL-safe. */
GALE_EXPORT void gale_http_server_free(gale_http_server *GALE_NULLABLE srv);

/** Open connections and requests served so far. */
GALE_EXPORT uint32_t gale_http_server_connections(const gale_http_server *srv);
GALE_EXPORT uint64_t gale_http_server_requests(const gale_http_server *srv);

/* ---- the request (borrowed slices, valid until gale_http_response_end) ------------------ */

GALE_EXPORT gale_slice gale_http_request_method(const gale_http_request *req);
/** The request-target as sent ("/a/b?x=1", or the absolute form). */
GALE_EXPORT gale_slice gale_http_request_target(const gale_http_request *req);
/** The path ("/a/b"), without the query. */
GALE_EXPORT gale_slice gale_http_request_path(const gale_http_request *req);
/** The query without '?' (empty if none). */
GALE_EXPORT gale_slice gale_http_request_query(const gale_http_request *req);
/** 10 for HTTP/1.0, 11 for HTTP/1.1. */
GALE_EXPORT int gale_http_request_version(const gale_http_request *req);
GALE_EXPORT uint32_t gale_http_request_header_count(const gale_http_request *req);
/** The i-th header field as sent (name case as received, value without surrounding space).
 *  @return 0, or -EINVAL if i is out of range. */
GALE_EXPORT int gale_http_request_header(const gale_http_request *req, uint32_t i, gale_slice *name, gale_slice *value);
/** The first field named name (case-insensitive). @return 1 if found, else 0. */
GALE_EXPORT int gale_http_request_find_header(const gale_http_request *req, const char *name, size_t name_len,
                                              gale_slice *value);
/** The whole head as received (request line through the blank line), for bindings that
 *  copy it once and then read fields from their own copy. These bytes and the fields below
 *  stay in place until the response ends and, when it ends inside on_request, until
 *  on_request returns (a binding that answers there may read them in place and copy only
 *  what outlives the callback); the server frees none of it before then. */
GALE_EXPORT gale_slice gale_http_request_head(const gale_http_request *req);
/** The parsed head (offsets into gale_http_request_head: method, target, path, query,
 *  version, flags, fields), for bindings that read it all in one call. Valid as the head is. */
GALE_EXPORT const gale_http_head *gale_http_request_parsed(const gale_http_request *req);
/** The parser's fields (offsets into gale_http_request_head) and their count. */
GALE_EXPORT const gale_http_field *gale_http_request_fields(const gale_http_request *req, uint32_t *count);
/** A buffered body (GALE_HTTP_BODY_BUFFER), or an empty slice. */
GALE_EXPORT gale_slice gale_http_request_body(const gale_http_request *req);
/** Whether the connection stays open after this response (HTTP/1.1 without "close", or 1.0
 *  with "keep-alive"), as things stand: not while a streamed body is still unread, nor once
 *  the head went out with Connection: close - the same decision the server makes. */
GALE_EXPORT int gale_http_request_keep_alive(const gale_http_request *req);
/** The client's address. */
GALE_EXPORT const gale_addr *gale_http_request_peer(const gale_http_request *req);
/** Pause / resume a streamed body: while paused the socket is not read. */
GALE_EXPORT void gale_http_request_pause_body(gale_http_request *req);
GALE_EXPORT void gale_http_request_resume_body(gale_http_request *req);
/** Attach user data to the request; free runs when the request is ended. */
GALE_EXPORT void gale_http_request_set_ud(gale_http_request *req, void *GALE_NULLABLE ud, gale_free_fn GALE_NULLABLE free);
GALE_EXPORT void *GALE_NULLABLE gale_http_request_ud(const gale_http_request *req);
/** Attach user data to the request's connection (shared by every request on it); free runs
 *  once the connection is closed and its last request ended. Bindings keep per-connection
 *  state here. */
GALE_EXPORT void gale_http_request_set_connection_ud(gale_http_request *req, void *GALE_NULLABLE ud,
                                                     gale_free_fn GALE_NULLABLE free);
GALE_EXPORT void *GALE_NULLABLE gale_http_request_connection_ud(const gale_http_request *req);

/** 1 once the connection is gone (on_abort ran); the response calls then do nothing. */
GALE_EXPORT int gale_http_request_aborted(const gale_http_request *req);

/* ---- the response ---------------------------------------------------------------------- */

/** Begin the response: status 100..999 (not 1xx; 100-continue is automatic) and the reason
 *  phrase (NULL: the standard one). Once per request, before anything else.
 *  @return 0, -EINVAL, -EALREADY if begun, -EPIPE if the connection is gone. */
GALE_EXPORT int gale_http_response_start(gale_http_request *req, int status, const char *GALE_NULLABLE reason);

/** Add a header. Names must be tokens and values must not contain CR, LF or NUL (-EINVAL:
 *  no header injection). Date, Server and framing (Content-Length/Transfer-Encoding,
 *  Connection) are added by the server unless you set them; a Content-Length you set must
 *  match the body you send. Only before the head is sent. */
GALE_EXPORT int gale_http_response_header(gale_http_request *req, const char *name, size_t name_len,
                                          const char *value, size_t value_len);

/** gale_http_response_header for a caller that has already checked the name and value by the
 *  same rules (a language binding that validates headers when they are set): no second scan
 *  of the bytes. Framing and Connection are handled as above. A header that breaks the rules
 *  makes a malformed response, so take headers from clients or users through the checked call. */
GALE_EXPORT int gale_http_response_header_checked(gale_http_request *req, const char *name, size_t name_len,
                                                  const char *value, size_t value_len);

/** Body bytes (copied). Held until flush or end, so a response written in pieces still goes
 *  out with a Content-Length. @return 0, 1 if the connection's queue is at or above the
 *  high-water mark (wait for on_writable), or -EPIPE / -EINVAL (204/304 take no body; bytes
 *  past a Content-Length you set are refused, nothing of them is sent). */
GALE_EXPORT int gale_http_response_write(gale_http_request *req, const void *data, size_t len);

/** Send the head and what is held now. Without a Content-Length the body goes on chunked
 *  (HTTP/1.1) or until close (HTTP/1.0): for long polling and server-sent events.
 *  @return like gale_http_response_write. */
GALE_EXPORT int gale_http_response_flush(gale_http_request *req);

/** The last body bytes (data may be NULL, len 0) and the end of the response; releases req.
 *  A request that was never started gets "200 OK". @return 0, or -EPIPE (the connection
 *  was gone; req is released all the same), or -EINVAL (a Content-Length you set does not
 *  match: the connection is closed, as the framing would be a lie). */
GALE_EXPORT int gale_http_response_end(gale_http_request *req, const void *GALE_NULLABLE data, size_t len);

/** The status sent or about to be, and whether the head has gone out. */
GALE_EXPORT int gale_http_response_status(const gale_http_request *req);
GALE_EXPORT int gale_http_response_head_sent(const gale_http_request *req);

/** The standard reason phrase for a status ("Not Found"), or "Unknown". */
GALE_EXPORT const char *gale_http_reason(int status);

/** The strong entity tag Tornado computes for a body: '"' + hex SHA-1 + '"', 42 chars and a
 *  NUL into out (at least 43 bytes). Recently seen bodies are remembered per thread, so a
 *  page served again and again is hashed once. */
GALE_EXPORT void gale_http_etag(const void *data, size_t len, char *out);

GALE_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* GALE_HTTP_H */
