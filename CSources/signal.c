/* signal.c - gale_signal: a signal delivered as a callback on the loop thread. */
#include "internal.h"

struct gale_signal {
    gale__handle h;
    struct event *ev;
    int signum;
    gale_signal_cb cb;
    void *ud;
    gale_free_fn ud_free;
    int in_cb, dead;
};

static void destroy(gale_signal *sig) {
    event_free(sig->ev);
    if (sig->ud_free) sig->ud_free(sig->ud);
    free(sig);
}

static void on_signal(evutil_socket_t signum, short what, void *arg) {
    gale_signal *sig = arg;
    sig->in_cb++;
    sig->cb(sig, (int)signum, sig->ud);
    sig->in_cb--;
    if (sig->dead && sig->in_cb == 0) destroy(sig);
}

static void force_close(gale__handle *h) { gale_signal_stop((gale_signal *)h); }

GALE_EXPORT int gale_signal_start(gale_loop *loop, int signum, gale_signal_cb cb, void *ud,
                                  gale_free_fn ud_free, gale_signal **out) {
    gale_signal *sig = calloc(1, sizeof *sig);
    if (!sig) return -ENOMEM;
    sig->ev = evsignal_new(gale_loop_base(loop), signum, on_signal, sig);
    if (!sig->ev) {
        free(sig);
        return -EINVAL;
    }
    if (evsignal_add(sig->ev, NULL) < 0) {
        event_free(sig->ev);
        free(sig);
        return -EINVAL;
    }
    sig->signum = signum;
    sig->cb = cb;
    sig->ud = ud;
    sig->ud_free = ud_free;
    gale__handle_link(loop, &sig->h, force_close);
    *out = sig;
    return 0;
}

GALE_EXPORT void gale_signal_stop(gale_signal *sig) {
    if (!sig || sig->dead) return;
    sig->dead = 1;
    gale__handle_unlink(&sig->h);
    evsignal_del(sig->ev);
    if (sig->in_cb == 0) destroy(sig);
}
