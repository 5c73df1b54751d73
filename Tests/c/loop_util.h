/* loop_util.h - helpers the loop-driven C tests share (include after <gale.h> and "test.h").
 * Everything is static inline: a test that uses none of it still builds warning-free. */
#ifndef GALE_LOOP_UTIL_H
#define GALE_LOOP_UTIL_H

#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

static const uint64_t MS = 1000000ull;

static inline void stop_timer_cb(gale_timer *t, void *ud) { gale_loop_stop(ud); }

/* Run the loop until stopped, or for at most ms milliseconds. @return 1 if it was stopped
 * before the deadline. */
static inline int run_for(gale_loop *loop, unsigned ms) {
    gale_timer *t;
    gale_timer_new(loop, stop_timer_cb, loop, NULL, &t);
    gale_timer_start(t, ms * MS, 0);
    uint64_t t0 = gale_now_ns();
    gale_loop_run(loop);
    gale_timer_free(t);
    return (gale_now_ns() - t0) < ms * MS;
}

/* Sleep until *count reaches want (a counter another thread bumps), for at most ms
 * milliseconds, or ten times that under valgrind, which slows those threads as much.
 * @return 1 if it got there. */
static inline int wait_count(const volatile int *count, int want, unsigned ms) {
    unsigned steps = (getenv("GALE_UNDER_VALGRIND") ? 10u : 1u) * ms / 10u;
    for (unsigned i = 0; i < steps && *count < want; i++) usleep(10000);
    return *count >= want;
}

/* CPU time (user + system) this process has used, in seconds. */
static inline double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* The most CPU a window of `wall` seconds may use if the loop sleeps: an absolute bound, or,
 * under valgrind (which multiplies every instruction's cost), a share of the wall time well
 * below what a spinning loop would burn (all of it). */
static inline double idle_cpu_bound(double plain, double wall) {
    return getenv("GALE_UNDER_VALGRIND") ? wall * 0.6 : plain;
}

#endif /* GALE_LOOP_UTIL_H */
