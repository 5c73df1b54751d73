/* timer.c - gale_timer: a libevent timeout event allocated right behind its handle. */
#include "internal.h"

struct gale_timer {
    gale__handle h;
    gale_timer_cb cb;
    void *ud;
    gale_free_fn ud_free;
    uint64_t repeat_ns;
    uint64_t due_ns; /* when the pending tick is due, for periodic cadence */
    unsigned active : 1, in_cb : 1, dead : 1;
    /* struct event follows */
};

static inline struct event *timer_ev(gale_timer *t) { return (struct event *)(t + 1); }

static void destroy(gale_timer *t) {
    event_del(timer_ev(t));
    if (t->ud_free) t->ud_free(t->ud);
    free(t);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
    gale_timer *t = arg;
    if (t->repeat_ns) {
        /* Next tick on the original cadence; ticks missed while the loop was busy are
         * skipped rather than run back to back. */
        uint64_t now = gale_now_ns();
        uint64_t next = t->due_ns + t->repeat_ns;
        if (next <= now) next += ((now - next) / t->repeat_ns + 1) * t->repeat_ns;
        t->due_ns = next;
        struct timeval tv = gale__tv(next - now);
        event_add(timer_ev(t), &tv);
    } else {
        t->active = 0;
    }
    t->in_cb = 1;
    t->cb(t, t->ud);
    t->in_cb = 0;
    if (t->dead) destroy(t);
}

static void force_close(gale__handle *h) { gale_timer_free((gale_timer *)h); }

GALE_EXPORT int gale_timer_new(gale_loop *loop, gale_timer_cb cb, void *ud, gale_free_fn ud_free,
                               gale_timer **out) {
    gale_timer *t = malloc(sizeof *t + gale__event_size());
    if (!t) return -ENOMEM;
    memset(t, 0, sizeof *t);
    if (event_assign(timer_ev(t), gale_loop_base(loop), -1, 0, on_timer, t) < 0) {
        free(t);
        return -EINVAL;
    }
    t->cb = cb;
    t->ud = ud;
    t->ud_free = ud_free;
    gale__handle_link(loop, &t->h, force_close);
    *out = t;
    return 0;
}

GALE_EXPORT int gale_timer_start(gale_timer *t, uint64_t after_ns, uint64_t repeat_ns) {
    if (t->dead) return -EINVAL;
    t->repeat_ns = repeat_ns;
    t->due_ns = gale_now_ns() + after_ns;
    struct timeval tv = gale__tv(after_ns);
    if (event_add(timer_ev(t), &tv) < 0) return -ENOMEM;
    t->active = 1;
    return 0;
}

GALE_EXPORT void gale_timer_stop(gale_timer *t) {
    if (!t->active) return;
    event_del(timer_ev(t));
    t->active = 0;
    t->repeat_ns = 0;
}

GALE_EXPORT int gale_timer_is_active(const gale_timer *t) { return t->active; }

GALE_EXPORT gale_loop *gale_timer_loop(const gale_timer *t) { return t->h.loop; }

GALE_EXPORT void gale_timer_free(gale_timer *t) {
    if (!t || t->dead) return;
    t->dead = 1;
    t->active = 0;
    gale__handle_unlink(&t->h);
    if (t->in_cb) {
        event_del(timer_ev(t)); /* a periodic timer re-armed itself before the callback */
        return;
    }
    destroy(t);
}
