/* gale_timer.h - one-shot and periodic timers on a loop.
 *
 * A timer is a handle: create it once, start/stop it any number of times, free it when done.
 * Loop thread only. A timer may stop or free itself (or any other timer) from its callback.
 */
#ifndef GALE_TIMER_H
#define GALE_TIMER_H

#include "gale_loop.h"

#ifdef __cplusplus
extern "C" {
#endif

GALE_ASSUME_NONNULL_BEGIN

typedef struct gale_timer gale_timer;
typedef void (*gale_timer_cb)(gale_timer *t, void *GALE_NULLABLE ud);

/** Create a stopped timer. ud is released with ud_free when the timer is freed (or when the
 *  loop is freed with the timer still open). @return 0 or -ENOMEM; on error nothing is kept
 *  and ud_free is not called. */
GALE_EXPORT int gale_timer_new(gale_loop *loop, gale_timer_cb cb, void *GALE_NULLABLE ud,
                               gale_free_fn GALE_NULLABLE ud_free,
                               gale_timer *GALE_NULLABLE *GALE_NONNULL out);

/** Start (or restart) the timer: cb runs after_ns from now, then every repeat_ns if
 *  repeat_ns > 0 (a periodic timer keeps its cadence: a late tick does not shift the next).
 *  @return 0 or -errno. */
GALE_EXPORT int gale_timer_start(gale_timer *t, uint64_t after_ns, uint64_t repeat_ns);

/** Stop the timer if it is pending; it can be started again. */
GALE_EXPORT void gale_timer_stop(gale_timer *t);

/** 1 if the timer will fire (pending or periodic), else 0. */
GALE_EXPORT int gale_timer_is_active(const gale_timer *t);

/** Stop and free the timer; ud_free(ud) runs now, or after the callback returns if called
 *  from inside it. NULL-safe. */
GALE_EXPORT void gale_timer_free(gale_timer *GALE_NULLABLE t);

/** The loop a timer belongs to. */
GALE_EXPORT gale_loop *gale_timer_loop(const gale_timer *t);

GALE_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* GALE_TIMER_H */
