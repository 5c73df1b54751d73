/* gale_work.h - run blocking work on a helper thread, then finish on the loop.
 *
 * A small process-wide pool of threads (started on first use, at most 4 by default or
 * GALE_THREADPOOL_SIZE) runs work functions; each finished item goes back to its loop, which
 * calls done there. This is how libcore resolves names without blocking a loop.
 */
#ifndef GALE_WORK_H
#define GALE_WORK_H

#include "gale_loop.h"

#ifdef __cplusplus
extern "C" {
#endif

GALE_ASSUME_NONNULL_BEGIN

typedef struct gale_work gale_work;

/** Runs on a helper thread: it must not touch the loop or its handles. */
typedef void (*gale_work_fn)(void *GALE_NULLABLE ud);
/** Runs on the loop thread after work returned (cancelled 0), or instead of it if the item
 *  was cancelled before it started (cancelled 1). The item is freed after done returns. */
typedef void (*gale_work_done_fn)(gale_work *w, int cancelled, void *GALE_NULLABLE ud);

/** Queue work. ud is released with ud_free once the item is finished: after done, or, if the
 *  loop is freed first, by the loop or the helper thread without calling done.
 *  @return 0 or -errno (-ENOMEM, -EAGAIN if no thread could start); on error nothing is
 *  kept and neither done nor ud_free runs. Loop thread. */
GALE_EXPORT int gale_work_queue(gale_loop *loop, gale_work_fn work, gale_work_done_fn done,
                                void *GALE_NULLABLE ud, gale_free_fn GALE_NULLABLE ud_free,
                                gale_work *GALE_NULLABLE *GALE_NULLABLE out);

/** Cancel: if the work has not started it never will, and done runs (from the loop, not
 *  inside this call) with cancelled 1. If it is running or finished, done runs normally
 *  with cancelled 1 as well, so callers can tell their result is unwanted.
 *  Loop thread; only before done ran. */
GALE_EXPORT void gale_work_cancel(gale_work *w);

GALE_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* GALE_WORK_H */
