/* gale_stream.h - buffered, non-blocking byte streams (TCP or Unix) on libevent: a bufferevent
 * holds the output queue; reads go straight from the socket to the callback.
 *
 * Reading: on_data hands out the bytes as they arrive (up to 64 KiB at a time), as slices
 * valid during the call. Pause reading to apply backpressure upstream: the socket is then not
 * read at all (the kernel's window closes on the peer) until reading resumes; nothing is held
 * in user space meanwhile.
 * Writing: by copy or by reference (zero-copy, with a free callback). Writes are queued and
 * sent as the socket allows. The queue has a high-water mark: a write that leaves the queue
 * at or above it returns 1, and on_writable fires once the queue drains to the low-water
 * mark. libevent does not stop writers at its watermark; this contract is how callers do.
 *
 * Lifetime: a stream is closed by gale_stream_close (now) or gale_stream_close_after_flush;
 * on_close then runs once, from the loop (never inside the close call), followed by
 * ud_free(ud), and the handle is gone. Every call on a closing stream is a harmless no-op or
 * returns -EPIPE. Loop thread only.
 */
#ifndef GALE_STREAM_H
#define GALE_STREAM_H

#include "gale_loop.h"

#ifdef __cplusplus
extern "C" {
#endif

GALE_ASSUME_NONNULL_BEGIN

typedef struct gale_stream gale_stream;

/** Which timeout elapsed (gale_stream_callbacks.on_timeout). */
enum { GALE_TIMEOUT_READ = 1, GALE_TIMEOUT_WRITE = 2, GALE_TIMEOUT_IDLE = 3 };

/** What a stream tells its owner. Any member may be NULL. The struct must outlive the stream
 *  (a static const table is the usual way). */
typedef struct gale_stream_callbacks {
    /** Bytes arrived (len > 0). data is valid during the call only. */
    void (*GALE_NULLABLE on_data)(gale_stream *s, const void *data, size_t len, void *GALE_NULLABLE ud);
    /** The peer shut down its sending side. Writing still works; close when done. */
    void (*GALE_NULLABLE on_eof)(gale_stream *s, void *GALE_NULLABLE ud);
    /** The write queue drained to the low-water mark after a write returned 1. */
    void (*GALE_NULLABLE on_writable)(gale_stream *s, void *GALE_NULLABLE ud);
    /** The connection failed (-ECONNRESET, -EPIPE, ...). Reading and writing have stopped;
     *  queued output is dropped when the stream closes. Close it. */
    void (*GALE_NULLABLE on_error)(gale_stream *s, int err, void *GALE_NULLABLE ud);
    /** A timeout set with gale_stream_set_timeouts elapsed (GALE_TIMEOUT_*). The stream is
     *  left as it was; close it or carry on (the timeout restarts). */
    void (*GALE_NULLABLE on_timeout)(gale_stream *s, int which, void *GALE_NULLABLE ud);
    /** The last callback: the stream is closed. ud_free(ud) follows. */
    void (*GALE_NULLABLE on_close)(gale_stream *s, void *GALE_NULLABLE ud);
} gale_stream_callbacks;

/** Releases a buffer given to gale_stream_write_ref (same shape as libevent's). */
typedef void (*gale_ref_free_fn)(const void *data, size_t len, void *GALE_NULLABLE ud);

/** Defaults: high-water mark 256 KiB, low-water mark 64 KiB. */
#define GALE_STREAM_HIGH_WATER_DEFAULT (256u * 1024u)
#define GALE_STREAM_LOW_WATER_DEFAULT (64u * 1024u)

/** Wrap a connected socket. The stream owns fd from now on (also on error: it is closed).
 *  TCP sockets get TCP_NODELAY (responses go out when written; the stream already batches
 *  writes made in one loop iteration). Nothing is read until gale_stream_start.
 *  @return 0 or -errno. */
GALE_EXPORT int gale_stream_new(gale_loop *loop, int fd, gale_stream *GALE_NULLABLE *GALE_NONNULL out);

/** Set the callbacks and start reading. ud is released with ud_free after on_close. Call once. */
GALE_EXPORT void gale_stream_start(gale_stream *s, const gale_stream_callbacks *cbs,
                                   void *GALE_NULLABLE ud, gale_free_fn GALE_NULLABLE ud_free);

/** Write data[0..len): a write of 4 KiB or more with nothing queued goes to the socket at once
 *  and only what it does not take is copied to the queue; anything else is queued and leaves
 *  with the loop iteration's other writes. @return 0 if the queue is below the high-water mark,
 *  1 if it is at or above it (stop writing until on_writable), -EPIPE if the stream is
 *  closing, shut down for writing, or failed. */
GALE_EXPORT int gale_stream_write(gale_stream *s, const void *data, size_t len);

/** Queue data without copying: free_fn(data, len, free_ud) runs once the bytes are sent or
 *  dropped. Same return as gale_stream_write; on -EPIPE free_fn is not called (the buffer
 *  is still the caller's). */
GALE_EXPORT int gale_stream_write_ref(gale_stream *s, const void *data, size_t len,
                                      gale_ref_free_fn GALE_NULLABLE free_fn, void *GALE_NULLABLE free_ud);

/** Bytes queued and not yet handed to the kernel. */
GALE_EXPORT size_t gale_stream_write_queue(const gale_stream *s);

/** 1 if the write queue is below the high-water mark, else 0. */
GALE_EXPORT int gale_stream_is_writable(const gale_stream *s);

/** Set the write queue's marks (low <= high; high 0 means "no limit": writes never return 1).
 *  @return 0 or -EINVAL. */
GALE_EXPORT int gale_stream_set_watermarks(gale_stream *s, size_t low, size_t high);

/** Stop reading from the socket (on_data will not run) / start again. Every byte read has
 *  been handed to on_data, so pausing holds nothing back in user space. */
GALE_EXPORT void gale_stream_pause_reading(gale_stream *s);
GALE_EXPORT void gale_stream_resume_reading(gale_stream *s);
GALE_EXPORT int gale_stream_is_reading(const gale_stream *s);

/** Largest single read from the socket (default and maximum 64 KiB). */
GALE_EXPORT void gale_stream_set_read_size(gale_stream *s, size_t max);

/** Half-close: once the write queue is empty, shut down the sending side (the peer reads
 *  EOF); reading goes on. Further writes return -EPIPE. @return 0 or -EPIPE if closing. */
GALE_EXPORT int gale_stream_shutdown(gale_stream *s);

/** Timeouts in nanoseconds, 0 to disable: read (no bytes arrive while reading is on),
 *  write (queued bytes make no progress), idle (neither reads nor writes happen). */
GALE_EXPORT int gale_stream_set_timeouts(gale_stream *s, uint64_t read_ns, uint64_t write_ns, uint64_t idle_ns);

/** TCP_NODELAY on (1) or off (0). @return 0 or -errno (-EOPNOTSUPP on Unix sockets). */
GALE_EXPORT int gale_stream_set_nodelay(gale_stream *s, int on);

/** SO_KEEPALIVE with the idle time before probes, the interval between them and their count
 *  (0 keeps the system's value). @return 0 or -errno. */
GALE_EXPORT int gale_stream_set_keepalive(gale_stream *s, int on, unsigned idle_s, unsigned interval_s, unsigned count);

/** Local and peer addresses. @return 0 or -errno. */
GALE_EXPORT int gale_stream_local_addr(const gale_stream *s, gale_addr *out);
GALE_EXPORT int gale_stream_peer_addr(const gale_stream *s, gale_addr *out);

/** The socket (still owned by the stream), the loop, and the user pointer. */
GALE_EXPORT int gale_stream_fd(const gale_stream *s);
GALE_EXPORT gale_loop *gale_stream_loop(const gale_stream *s);
GALE_EXPORT void *GALE_NULLABLE gale_stream_ud(const gale_stream *s);

/** Close now: queued output is dropped, the socket closed; on_close follows from the loop. */
GALE_EXPORT void gale_stream_close(gale_stream *GALE_NULLABLE s);

/** Close gracefully: stop reading, send what is queued, shut down the sending side, wait
 *  briefly (up to linger_ns, 0 for the 2 s default) for the peer's EOF so that a close with
 *  unread input does not reset the connection under the peer's last read, then close. */
GALE_EXPORT void gale_stream_close_after_flush(gale_stream *GALE_NULLABLE s, uint64_t linger_ns);

/** 1 once close or close_after_flush has been called. */
GALE_EXPORT int gale_stream_is_closing(const gale_stream *s);

/* ---- Outbound connections ------------------------------------------------------------- */

typedef struct gale_connect gale_connect;

/** The outcome: s is a started-less stream (call gale_stream_start) and err 0, or s NULL and
 *  err -ECONNREFUSED, -ETIMEDOUT, -ENETUNREACH, -EHOSTUNREACH, a resolver error, ...
 *  The request is freed after the callback returns (then ud_free runs). */
typedef void (*gale_connect_cb)(gale_connect *req, gale_stream *GALE_NULLABLE s, int err,
                                void *GALE_NULLABLE ud);

/** Connect over TCP to host:port. host is a numeric address or a name, resolved off the loop
 *  thread (getaddrinfo on a helper thread; the loop never blocks); each address is tried in
 *  turn until one answers. timeout_ns bounds the whole attempt (0: no limit beyond the
 *  kernel's). out may be NULL if the request will never be cancelled.
 *  @return 0 (cb will run exactly once, from the loop, never inside this call) or -errno
 *  (cb never runs, ud_free is not called). */
GALE_EXPORT int gale_connect_tcp(gale_loop *loop, const char *host, int port, uint64_t timeout_ns,
                                 gale_connect_cb cb, void *GALE_NULLABLE ud, gale_free_fn GALE_NULLABLE ud_free,
                                 gale_connect *GALE_NULLABLE *GALE_NULLABLE out);

/** Connect to an address (IPv4, IPv6 or Unix path). Same contract as gale_connect_tcp. */
GALE_EXPORT int gale_connect_addr(gale_loop *loop, const gale_addr *addr, uint64_t timeout_ns,
                                  gale_connect_cb cb, void *GALE_NULLABLE ud, gale_free_fn GALE_NULLABLE ud_free,
                                  gale_connect *GALE_NULLABLE *GALE_NULLABLE out);

/** Abandon a pending connect: cb will not run; ud_free(ud) runs now. Only before cb ran. */
GALE_EXPORT void gale_connect_cancel(gale_connect *req);

GALE_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* GALE_STREAM_H */
