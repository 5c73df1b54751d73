/* loop_util.h - helpers the loop-driven C tests share (include after <gale.h> and "test.h"). */
#ifndef GALE_LOOP_UTIL_H
#define GALE_LOOP_UTIL_H

static const uint64_t MS = 1000000ull;

static void stop_timer_cb(gale_timer *t, void *ud) { gale_loop_stop(ud); }

/* Run the loop until stopped, or for at most ms milliseconds. @return 1 if it was stopped
 * before the deadline. */
static int run_for(gale_loop *loop, unsigned ms) {
    gale_timer *t;
    gale_timer_new(loop, stop_timer_cb, loop, NULL, &t);
    gale_timer_start(t, ms * MS, 0);
    uint64_t t0 = gale_now_ns();
    gale_loop_run(loop);
    gale_timer_free(t);
    return (gale_now_ns() - t0) < ms * MS;
}

#endif /* GALE_LOOP_UTIL_H */
