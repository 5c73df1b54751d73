/* c_timers.c - the cost of scheduling and cancelling one-shot timers through libcore's C API:
 * on the loop thread, N times gale_timer_new + gale_timer_start (delays spread over ~1 s,
 * 10 s away, so none fires), then N times gale_timer_free. The Swift counterpart is
 * bench/swift/Sources/timers-bench (loop.schedule(after:) + cancel()).
 *
 *   c_timers [N=1000000] [ROUNDS=1]
 * prints per round:
 *   result round=R n=N schedule_ns=<per timer> cancel_ns=<per timer> total_ns=<per timer>
 * Timed with clock_gettime(CLOCK_MONOTONIC). Also meant for callgrind (no timing needed there:
 * bench/timers.sh runs N and 2N and takes the difference of the instruction counts). */
#include <gale.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static size_t n = 1000000;
static int rounds = 1;
static gale_timer **timers;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void never(gale_timer *t, void *ud) {
    (void)t; (void)ud;
    fprintf(stderr, "c_timers: a timer fired\n");
    abort();
}

/* The same delays as the Swift side: 10 s + (i * 7919 mod 1,000,003) us. */
static uint64_t delay_ns(size_t i) { return 10000000000ull + (uint64_t)(i * 7919u % 1000003u) * 1000u; }

static void bench(void *arg) {
    gale_loop *loop = arg;
    for (int r = 1; r <= rounds; r++) {
        uint64_t t0 = now_ns();
        for (size_t i = 0; i < n; i++) {
            if (gale_timer_new(loop, never, NULL, NULL, &timers[i]) < 0 ||
                gale_timer_start(timers[i], delay_ns(i), 0) < 0) {
                fprintf(stderr, "c_timers: out of memory\n");
                exit(1);
            }
        }
        uint64_t t1 = now_ns();
        for (size_t i = 0; i < n; i++) gale_timer_free(timers[i]);
        uint64_t t2 = now_ns();
        printf("result round=%d n=%zu schedule_ns=%.1f cancel_ns=%.1f total_ns=%.1f\n", r, n,
               (double)(t1 - t0) / (double)n, (double)(t2 - t1) / (double)n, (double)(t2 - t0) / (double)n);
        fflush(stdout);
    }
    gale_loop_stop(loop);
}

int main(int argc, char **argv) {
    if (argc > 1) n = (size_t)strtoull(argv[1], NULL, 10);
    if (argc > 2) rounds = atoi(argv[2]);
    if (n == 0 || rounds < 1) {
        fprintf(stderr, "usage: c_timers [N] [ROUNDS]\n");
        return 2;
    }
    timers = malloc(n * sizeof *timers);
    gale_loop *loop;
    if (!timers || gale_loop_new(&loop) < 0) return 1;
    /* This thread becomes the loop thread; the benchmark runs as posted work on it. */
    gale_loop_post(loop, bench, loop, NULL);
    int r = gale_loop_run(loop);
    gale_loop_free(loop);
    free(timers);
    return r < 0 ? 1 : 0;
}
