/* gale_loop.h - the event loop: one libevent event_base driven by one thread.
 *
 * Threading: a loop and everything created on it (timers, listeners, streams, ...) belong to
 * the thread that runs it. The only calls allowed from other threads are gale_loop_post()
 * and gale_loop_in_loop_thread(). Create and free a loop on any thread while it is not running.
 *
 * Creating the first loop sets SIGPIPE to be ignored if it still has its default action, so
 * that writing to a vanished peer is an -EPIPE error instead of the end of the process.
 */
#ifndef GALE_LOOP_H
#define GALE_LOOP_H

#include "gale_common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

GALE_ASSUME_NONNULL_BEGIN

typedef struct gale_loop gale_loop;
typedef struct gale_signal gale_signal;

typedef void (*gale_loop_fn)(void *GALE_NULLABLE ud);
typedef void (*gale_signal_cb)(gale_signal *sig, int signum, void *GALE_NULLABLE ud);

/** Create a loop. @return 0 or -errno (-ENOMEM, or the error creating the backend). */
GALE_EXPORT int gale_loop_new(gale_loop *GALE_NULLABLE *GALE_NONNULL out);

/** Free a loop that is not running. Handles still open on it are closed first (their close
 *  callbacks and free functions run), then posted work that never ran is released with its
 *  free function. NULL-safe. */
GALE_EXPORT void gale_loop_free(gale_loop *GALE_NULLABLE loop);

/** Run until gale_loop_stop() (a loop with nothing to do sleeps; it does not return on its
 *  own, because posts may arrive from other threads). The calling thread becomes the loop
 *  thread. @return 0, or -EBUSY if the loop is already running, or a backend -errno. */
GALE_EXPORT int gale_loop_run(gale_loop *loop);

/** Run one iteration: wait for events (if block is non-zero and nothing is pending), run
 *  their callbacks, and return. Loop thread. @return 0 or -errno. */
GALE_EXPORT int gale_loop_run_once(gale_loop *loop, int block);

/** Make gale_loop_run() return after the current iteration. Loop thread; from another
 *  thread, post a function that calls it. */
GALE_EXPORT void gale_loop_stop(gale_loop *loop);

/** Run fn(ud) on the loop thread, soon. Thread-safe; wakes a sleeping loop. Work is run in
 *  the order posted. If the loop is freed before fn runs, ud_free(ud) is called instead.
 *  @return 0, or -ENOMEM (nothing was queued; ud is still the caller's). */
GALE_EXPORT int gale_loop_post(gale_loop *loop, gale_loop_fn fn, void *GALE_NULLABLE ud,
                               gale_free_fn GALE_NULLABLE ud_free);

/** Run fn(ud) on the loop thread later in this same iteration, after the callback that is
 *  running now returns. Loop thread only; cheaper than gale_loop_post (no lock, no wakeup).
 *  @return 0 or -ENOMEM. */
GALE_EXPORT int gale_loop_defer(gale_loop *loop, gale_loop_fn fn, void *GALE_NULLABLE ud);

/** Run every deferred function now (including ones they defer in turn). Loop thread. Lets
 *  a protocol finish work that was handed to deferred code before it returns to the loop. */
GALE_EXPORT void gale_loop_run_deferred(gale_loop *loop);

/** 1 if the calling thread is running this loop, else 0. Thread-safe. */
GALE_EXPORT int gale_loop_in_loop_thread(const gale_loop *loop);

/** The loop whose thread is calling, or NULL. */
GALE_EXPORT gale_loop *GALE_NULLABLE gale_loop_current(void);

/** Monotonic time in nanoseconds (CLOCK_MONOTONIC), the clock timers run on. Thread-safe. */
GALE_EXPORT uint64_t gale_loop_now(const gale_loop *loop);

/** Watch a signal (SIGINT, SIGTERM, SIGHUP, ...) on this loop: cb runs on the loop thread
 *  each time it is delivered, instead of the default action. Only one loop in a process
 *  should watch signals (a libevent limit). @return 0 or -errno; on error cb never runs. */
GALE_EXPORT int gale_signal_start(gale_loop *loop, int signum, gale_signal_cb cb,
                                  void *GALE_NULLABLE ud, gale_free_fn GALE_NULLABLE ud_free,
                                  gale_signal *GALE_NULLABLE *GALE_NONNULL out);

/** Stop watching and free the watcher (the default action is restored); ud_free(ud) runs.
 *  Safe inside its own callback. NULL-safe. Loop thread. */
GALE_EXPORT void gale_signal_stop(gale_signal *GALE_NULLABLE sig);

/** Attach a user pointer to the loop (released with data_free when replaced or when the loop
 *  is freed). Language bindings keep their loop object here. */
GALE_EXPORT void gale_loop_set_data(gale_loop *loop, void *GALE_NULLABLE data, gale_free_fn GALE_NULLABLE data_free);
GALE_EXPORT void *GALE_NULLABLE gale_loop_get_data(const gale_loop *loop);

/** How many CPUs this process may run on (its affinity mask: `taskset -c 0` gives 1), for
 *  sizing one loop per core. At least 1. Thread-safe. */
GALE_EXPORT int gale_available_cpus(void);

/** Let the C allocator keep up to `bytes` of freed memory for reuse instead of handing it
 *  back to the kernel at once (glibc: the trim threshold, and no mmap for blocks under
 *  bytes/16). A server that allocates and frees large buffers per message (64 KiB reads) would
 *  otherwise pay page faults for every one: measured, that halves echo throughput. A process
 *  setting: programs call it at start (gale and hello-server do), a library never should.
 *  @return 0, or -ENOTSUP where the allocator has no such knobs. Call before starting threads. */
GALE_EXPORT int gale_malloc_keep_freed(size_t bytes);

/** The event_base under the loop, for code that mixes in raw libevent (loop thread only). */
GALE_EXPORT struct event_base *gale_loop_base(gale_loop *loop);

GALE_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* GALE_LOOP_H */
