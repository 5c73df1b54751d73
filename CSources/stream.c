/* stream.c - gale_stream: a bufferevent for the output side, our own read event for the
 * input side, with explicit backpressure, half-close, timeouts and a graceful close.
 *
 * Why reads bypass the bufferevent: libevent 2.1's evbuffer_read reads at most 4096 bytes
 * per call (EVBUFFER_MAX_READ), one call per readiness, which caps a bufferevent near
 * 500 MiB/s on loopback. We read up to 64 KiB at a time into the loop's scratch buffer and
 * hand the bytes straight to on_data: no input evbuffer, no copy, and pausing simply stops
 * watching the socket, so nothing piles up in user space and the read high-water busy loop
 * (libevent#891) cannot happen. The write watermark does not stop writers (#1466), so
 * gale_stream_write reports the queue crossing our high-water mark itself. */
#include "internal.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#define READ_SIZE_DEFAULT (64u * 1024u)
#define LINGER_DEFAULT_NS (2000u * 1000000ull)

struct gale_stream {
    gale__handle h;
    struct bufferevent *bev; /* the output queue, its write event and write timeout */
    struct event *rev;       /* our read event (persistent; its timeout is the read timeout) */
    uint64_t read_timeout_ns;
    size_t read_size;
    const gale_stream_callbacks *cbs;
    void *ud;
    gale_free_fn ud_free;
    int fd;
    size_t low, high;
    uint64_t idle_ns, last_activity, linger_ns;
    struct event *idle_ev;   /* idle timeout, created on demand */
    struct event *linger_ev; /* graceful close deadline, created on demand */
    int in_cb;
    unsigned started : 1, paused : 1, want_writable : 1, shut_pending : 1, shut_done : 1,
        eof : 1, failed : 1, closing : 1, flushing : 1, lingering : 1;
    size_t write_lowmark; /* what the bufferevent has now */
};

static const gale_stream_callbacks no_callbacks;

/* ---- calling the owner ------------------------------------------------------------------ */

#define CALL GALE__CALL

static void touch(gale_stream *s) {
    if (s->idle_ns) s->last_activity = gale_now_ns();
}

/* The write callback fires when the queue is at or below the low watermark; we want it at our
 * low-water mark while a writer waits, and at zero while a shutdown or close waits. */
static void set_write_lowmark(gale_stream *s) {
    size_t mark = s->want_writable ? s->low : 0;
    if (mark != s->write_lowmark) {
        bufferevent_setwatermark(s->bev, EV_WRITE, mark, 0);
        s->write_lowmark = mark;
    }
}

/* ---- closing ---------------------------------------------------------------------------- */

static void finalize(void *arg) {
    gale_stream *s = arg;
    gale__handle_unlink(&s->h);
    if (s->idle_ev) event_free(s->idle_ev);
    if (s->linger_ev) event_free(s->linger_ev);
    event_free(s->rev);
    bufferevent_free(s->bev); /* closes the socket; drops (and releases) queued output */
    if (s->cbs->on_close) s->cbs->on_close(s, s->ud);
    if (s->ud_free) s->ud_free(s->ud);
    free(s);
}

GALE_EXPORT void gale_stream_close(gale_stream *s) {
    if (!s || s->closing) return;
    s->closing = 1;
    event_del(s->rev);
    bufferevent_disable(s->bev, EV_READ | EV_WRITE);
    bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
    if (s->idle_ev) event_del(s->idle_ev);
    if (s->linger_ev) event_del(s->linger_ev);
    if (gale__loop_release_later(s->h.loop, finalize, s) < 0) {
        /* Out of memory for the queue: finalize now unless a callback of ours is running,
         * in which case the stream leaks rather than risk a use after free. */
        if (s->in_cb == 0) finalize(s);
    }
}

static void on_linger_timeout(evutil_socket_t fd, short what, void *arg) { gale_stream_close(arg); }

static void watch_reads(gale_stream *s);

/* The queue is empty: shut down our side and wait a little for the peer's EOF. */
static void begin_linger(gale_stream *s) {
    if (!s->shut_done) {
        shutdown(s->fd, SHUT_WR);
        s->shut_done = 1;
    }
    if (s->eof || s->failed) {
        gale_stream_close(s);
        return;
    }
    s->lingering = 1;
    if (!s->linger_ev) s->linger_ev = evtimer_new(gale_loop_base(s->h.loop), on_linger_timeout, s);
    if (!s->linger_ev) {
        gale_stream_close(s);
        return;
    }
    struct timeval tv = gale__tv(s->linger_ns);
    evtimer_add(s->linger_ev, &tv);
    s->read_timeout_ns = 0;
    watch_reads(s); /* read and discard until EOF */
}

GALE_EXPORT void gale_stream_close_after_flush(gale_stream *s, uint64_t linger_ns) {
    if (!s || s->closing || s->flushing) return;
    if (s->failed) {
        gale_stream_close(s);
        return;
    }
    s->flushing = 1;
    s->linger_ns = linger_ns ? linger_ns : LINGER_DEFAULT_NS;
    event_del(s->rev);
    if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
        begin_linger(s);
    } else {
        s->want_writable = 0;
        set_write_lowmark(s);
    }
}

GALE_EXPORT int gale_stream_is_closing(const gale_stream *s) { return s->closing || s->flushing; }

/* ---- bufferevent callbacks -------------------------------------------------------------- */

/* Watch the socket for reading (again), with the read timeout if there is one. */
static void watch_reads(gale_stream *s) {
    struct timeval tv = gale__tv(s->read_timeout_ns);
    event_add(s->rev, s->read_timeout_ns ? &tv : NULL);
}

static void on_readable(evutil_socket_t fd, short what, void *arg) {
    gale_stream *s = arg;
    if (what & EV_TIMEOUT) {
        if (s->flushing) {
            gale_stream_close(s);
            return;
        }
        CALL(s, on_timeout, s, GALE_TIMEOUT_READ, s->ud); /* the persistent event re-arms */
        return;
    }
    touch(s);
    char *buf = gale__loop_scratch(s->h.loop);
    if (!buf) return; /* out of memory: try again on the next readiness */
    /* A few reads per wakeup while they fill the buffer: fewer loop turns for bulk data,
     * and still fair to other connections. */
    for (int i = 0; i < 4; i++) {
        ssize_t n = read((int)fd, buf, s->read_size);
        if (n > 0) {
            if (s->lingering) continue; /* closing gracefully: discard */
            CALL(s, on_data, s, buf, (size_t)n, s->ud);
            if (s->paused || s->closing || s->flushing || (size_t)n < s->read_size) return;
            continue;
        }
        if (n == 0) {
            s->eof = 1;
            event_del(s->rev);
            if (s->flushing) {
                if (s->lingering) gale_stream_close(s);
                return;
            }
            CALL(s, on_eof, s, s->ud);
            return;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        int err = gale__neg_errno();
        s->failed = 1;
        event_del(s->rev);
        bufferevent_disable(s->bev, EV_WRITE);
        if (s->flushing) {
            gale_stream_close(s);
            return;
        }
        CALL(s, on_error, s, err, s->ud);
        return;
    }
}

static void on_bev_write(struct bufferevent *bev, void *arg) {
    gale_stream *s = arg;
    touch(s);
    size_t queued = evbuffer_get_length(bufferevent_get_output(bev));
    if (s->want_writable && queued <= s->low) {
        s->want_writable = 0;
        CALL(s, on_writable, s, s->ud);
        if (s->closing) return;
    }
    if (queued == 0) {
        if (s->shut_pending && !s->shut_done) {
            shutdown(s->fd, SHUT_WR);
            s->shut_done = 1;
        }
        if (s->flushing && !s->lingering) begin_linger(s);
    }
    if (!s->closing) set_write_lowmark(s);
}

static int socket_error(gale_stream *s) {
    int e = EVUTIL_SOCKET_ERROR();
    if (e == 0 || e == EAGAIN) {
        int so = 0;
        socklen_t len = sizeof so;
        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &so, &len) == 0 && so) e = so;
    }
    return e ? -e : -ECONNRESET;
}

/* The bufferevent reports only write-side events: reading is ours. */
static void on_bev_event(struct bufferevent *bev, short what, void *arg) {
    gale_stream *s = arg;
    if (what & BEV_EVENT_TIMEOUT) {
        if (s->flushing) {
            gale_stream_close(s);
            return;
        }
        CALL(s, on_timeout, s, GALE_TIMEOUT_WRITE, s->ud);
        /* libevent turned writing off; turn it back on so the timeout restarts. */
        if (!s->closing && !s->failed) bufferevent_enable(bev, EV_WRITE);
        return;
    }
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
        int err = socket_error(s);
        s->failed = 1;
        event_del(s->rev);
        bufferevent_disable(bev, EV_READ | EV_WRITE);
        if (s->flushing) {
            gale_stream_close(s);
            return;
        }
        CALL(s, on_error, s, err, s->ud);
    }
}

static void on_idle(evutil_socket_t fd, short what, void *arg) {
    gale_stream *s = arg;
    uint64_t now = gale_now_ns(), quiet = now - s->last_activity;
    if (quiet < s->idle_ns) {
        struct timeval tv = gale__tv(s->idle_ns - quiet);
        evtimer_add(s->idle_ev, &tv);
        return;
    }
    s->last_activity = now;
    struct timeval tv = gale__tv(s->idle_ns);
    evtimer_add(s->idle_ev, &tv);
    CALL(s, on_timeout, s, GALE_TIMEOUT_IDLE, s->ud);
}

/* ---- creation --------------------------------------------------------------------------- */

static void force_close(gale__handle *h) { gale_stream_close((gale_stream *)h); }

GALE_EXPORT int gale_stream_new(gale_loop *loop, int fd, gale_stream **out) {
    gale_stream *s = calloc(1, sizeof *s);
    if (!s) {
        gale__close_fd(fd);
        return -ENOMEM;
    }
    int err = gale__set_nonblock_cloexec(fd);
    if (err < 0) {
        free(s);
        gale__close_fd(fd);
        return err;
    }
    s->bev = bufferevent_socket_new(gale_loop_base(loop), fd, BEV_OPT_CLOSE_ON_FREE);
    if (!s->bev) {
        free(s);
        gale__close_fd(fd);
        return -ENOMEM;
    }
    s->rev = event_new(gale_loop_base(loop), fd, EV_READ | EV_PERSIST, on_readable, s);
    if (!s->rev) {
        bufferevent_free(s->bev);
        free(s);
        return -ENOMEM;
    }
    s->fd = fd;
    s->read_size = READ_SIZE_DEFAULT;
    s->cbs = &no_callbacks;
    s->low = GALE_STREAM_LOW_WATER_DEFAULT;
    s->high = GALE_STREAM_HIGH_WATER_DEFAULT;
    bufferevent_set_max_single_write(s->bev, 4u * READ_SIZE_DEFAULT);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails harmlessly on Unix */
    gale__handle_link(loop, &s->h, force_close);
    *out = s;
    return 0;
}

GALE_EXPORT void gale_stream_start(gale_stream *s, const gale_stream_callbacks *cbs, void *ud,
                                   gale_free_fn ud_free) {
    if (s->started || s->closing) return;
    s->started = 1;
    s->cbs = cbs;
    s->ud = ud;
    s->ud_free = ud_free;
    bufferevent_setcb(s->bev, NULL, on_bev_write, on_bev_event, s);
    bufferevent_enable(s->bev, EV_WRITE);
    if (!s->paused) watch_reads(s);
}

/* ---- writing ---------------------------------------------------------------------------- */

static int writable(const gale_stream *s) {
    return !(s->closing || s->flushing || s->failed || s->shut_pending);
}

static int after_write(gale_stream *s) {
    if (!s->high) return 0;
    if (evbuffer_get_length(bufferevent_get_output(s->bev)) < s->high) return 0;
    if (!s->want_writable) {
        s->want_writable = 1;
        set_write_lowmark(s);
    }
    return 1;
}

/* A large write with nothing queued: offer the bytes to the socket first and queue only what
 * it did not take. That saves the copy into the output buffer (whose fresh chains glibc keeps
 * returning to the kernel and faulting back in), the write event's epoll_ctl pair and a turn
 * of the loop. Small writes still queue, so several made in one callback leave in one
 * syscall. An error is left for the queued write to report through the usual event. */
#define WRITE_NOW_MIN 4096u

static size_t write_now(gale_stream *s, const void *data, size_t len) {
    if (len < WRITE_NOW_MIN || !s->started || evbuffer_get_length(bufferevent_get_output(s->bev)) != 0) return 0;
    ssize_t n = send(s->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0) return 0;
    touch(s);
    return (size_t)n;
}

GALE_EXPORT int gale_stream_write(gale_stream *s, const void *data, size_t len) {
    if (!writable(s)) return -EPIPE;
    size_t done = write_now(s, data, len);
    if (done < len && bufferevent_write(s->bev, (const char *)data + done, len - done) < 0) return -ENOMEM;
    return after_write(s);
}

GALE_EXPORT int gale_stream_write_ref(gale_stream *s, const void *data, size_t len, gale_ref_free_fn free_fn,
                                      void *free_ud) {
    if (!writable(s)) return -EPIPE;
    if (len == 0) {
        if (free_fn) free_fn(data, len, free_ud);
        return after_write(s);
    }
    if (evbuffer_add_reference(bufferevent_get_output(s->bev), data, len, free_fn, free_ud) < 0) return -ENOMEM;
    return after_write(s);
}

GALE_EXPORT size_t gale_stream_write_queue(const gale_stream *s) {
    return evbuffer_get_length(bufferevent_get_output(s->bev));
}

GALE_EXPORT int gale_stream_is_writable(const gale_stream *s) {
    return writable(s) && (!s->high || gale_stream_write_queue(s) < s->high);
}

GALE_EXPORT int gale_stream_set_watermarks(gale_stream *s, size_t low, size_t high) {
    if (high && low > high) return -EINVAL;
    s->low = low;
    s->high = high;
    if (s->want_writable) {
        if (!high || gale_stream_write_queue(s) <= low) s->want_writable = 0;
        if (!s->closing) set_write_lowmark(s);
    }
    return 0;
}

GALE_EXPORT int gale_stream_shutdown(gale_stream *s) {
    if (s->closing || s->flushing || s->failed) return -EPIPE;
    if (s->shut_pending) return 0;
    s->shut_pending = 1;
    if (gale_stream_write_queue(s) == 0) {
        shutdown(s->fd, SHUT_WR);
        s->shut_done = 1;
    } else {
        s->want_writable = 0;
        set_write_lowmark(s);
    }
    return 0;
}

/* ---- reading ---------------------------------------------------------------------------- */

GALE_EXPORT void gale_stream_pause_reading(gale_stream *s) {
    if (s->closing || s->flushing) return;
    s->paused = 1;
    event_del(s->rev);
}

GALE_EXPORT void gale_stream_resume_reading(gale_stream *s) {
    if (!s->paused || s->closing || s->flushing) return;
    s->paused = 0;
    if (s->started && !s->eof && !s->failed) watch_reads(s);
}

GALE_EXPORT int gale_stream_is_reading(const gale_stream *s) {
    return s->started && !s->paused && !s->closing && !s->flushing && !s->eof && !s->failed;
}

GALE_EXPORT void gale_stream_set_read_size(gale_stream *s, size_t max) {
    s->read_size = max == 0 || max > GALE__SCRATCH_SIZE ? GALE__SCRATCH_SIZE : max;
}

/* ---- options ---------------------------------------------------------------------------- */

GALE_EXPORT int gale_stream_set_timeouts(gale_stream *s, uint64_t read_ns, uint64_t write_ns, uint64_t idle_ns) {
    if (s->closing) return -EPIPE;
    struct timeval w = gale__tv(write_ns);
    if (bufferevent_set_timeouts(s->bev, NULL, write_ns ? &w : NULL) < 0) return -EINVAL;
    s->read_timeout_ns = read_ns;
    if (gale_stream_is_reading(s)) watch_reads(s);
    s->idle_ns = idle_ns;
    if (idle_ns) {
        if (!s->idle_ev) s->idle_ev = evtimer_new(gale_loop_base(s->h.loop), on_idle, s);
        if (!s->idle_ev) return -ENOMEM;
        s->last_activity = gale_now_ns();
        struct timeval tv = gale__tv(idle_ns);
        evtimer_add(s->idle_ev, &tv);
    } else if (s->idle_ev) {
        evtimer_del(s->idle_ev);
    }
    return 0;
}

GALE_EXPORT int gale_stream_set_nodelay(gale_stream *s, int on) {
    on = on ? 1 : 0;
    if (setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0) {
        return errno == ENOPROTOOPT || errno == EOPNOTSUPP ? -EOPNOTSUPP : gale__neg_errno();
    }
    return 0;
}

GALE_EXPORT int gale_stream_set_keepalive(gale_stream *s, int on, unsigned idle_s, unsigned interval_s,
                                          unsigned count) {
    on = on ? 1 : 0;
    if (setsockopt(s->fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) < 0) return gale__neg_errno();
    if (!on) return 0;
#ifdef TCP_KEEPIDLE
    int v;
    if (idle_s && (v = (int)idle_s, setsockopt(s->fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof v) < 0))
        return gale__neg_errno();
    if (interval_s && (v = (int)interval_s, setsockopt(s->fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, sizeof v) < 0))
        return gale__neg_errno();
    if (count && (v = (int)count, setsockopt(s->fd, IPPROTO_TCP, TCP_KEEPCNT, &v, sizeof v) < 0))
        return gale__neg_errno();
#endif
    return 0;
}

GALE_EXPORT int gale_stream_local_addr(const gale_stream *s, gale_addr *out) { return gale_socket_local_addr(s->fd, out); }

GALE_EXPORT int gale_stream_peer_addr(const gale_stream *s, gale_addr *out) { return gale_socket_peer_addr(s->fd, out); }

GALE_EXPORT int gale_stream_fd(const gale_stream *s) { return s->fd; }

GALE_EXPORT gale_loop *gale_stream_loop(const gale_stream *s) { return s->h.loop; }

GALE_EXPORT void *gale_stream_ud(const gale_stream *s) { return s->ud; }
