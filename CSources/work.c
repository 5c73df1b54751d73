/* work.c - gale_work: a process-wide pool of helper threads for blocking calls.
 *
 * States, all changed under the pool lock: QUEUED (in the pool's FIFO) -> RUNNING (a thread
 * runs work) -> POSTED (handed to the loop with gale_loop_post). An item is also a handle on
 * its loop, so freeing the loop reaches it in any state: QUEUED items are dropped, RUNNING
 * ones are orphaned (the helper thread releases them), POSTED ones are released by the
 * loop's post queue. */
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

enum { W_QUEUED, W_RUNNING, W_POSTED, W_DEFERRED };

struct gale_work {
    gale__handle h;
    gale_work_fn work;
    gale_work_done_fn done;
    void *ud;
    gale_free_fn ud_free;
    gale_work *qnext;
    int state;
    int cancelled;
    int orphaned;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    gale_work *head, *tail;
    int nthreads, idle, max;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0, 0};

static void release(gale_work *w) {
    if (w->ud_free) w->ud_free(w->ud);
    free(w);
}

/* The loop thread: report and release. */
static void finish(void *arg) {
    gale_work *w = arg;
    gale__handle_unlink(&w->h);
    w->done(w, w->cancelled, w->ud);
    release(w);
}

/* The loop was freed before a posted item ran. */
static void release_posted(void *arg) { release(arg); }

static void *worker(void *arg) {
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&pool.lock);
        pool.idle++;
        while (!pool.head) pthread_cond_wait(&pool.cond, &pool.lock);
        pool.idle--;
        gale_work *w = pool.head;
        pool.head = w->qnext;
        if (!pool.head) pool.tail = NULL;
        w->state = W_RUNNING;
        pthread_mutex_unlock(&pool.lock);

        w->work(w->ud);

        pthread_mutex_lock(&pool.lock);
        if (w->orphaned) {
            pthread_mutex_unlock(&pool.lock);
            release(w);
            continue;
        }
        w->state = W_POSTED;
        /* Posting under the pool lock keeps the loop from being freed between the check
         * above and the post (gale_loop_free orphans items under this lock first). Once
         * posted, the item belongs to the loop: do not touch it again. */
        int posted = 0;
        while (!w->orphaned) {
            if (gale_loop_post(w->h.loop, finish, w, release_posted) == 0) {
                posted = 1;
                break;
            }
            pthread_mutex_unlock(&pool.lock);
            usleep(1000); /* out of memory: try again shortly rather than lose the item */
            pthread_mutex_lock(&pool.lock);
        }
        pthread_mutex_unlock(&pool.lock);
        if (!posted) release(w);
    }
    return NULL;
}

static int pool_max(void) {
    if (pool.max == 0) {
        const char *env = getenv("GALE_THREADPOOL_SIZE");
        int n = env ? atoi(env) : 4;
        pool.max = n < 1 ? 1 : n > 128 ? 128 : n;
    }
    return pool.max;
}

/* Called with the lock held. */
static int maybe_start_thread(void) {
    if (pool.idle > 0 || pool.nthreads >= pool_max()) return 0;
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    /* Helper threads take no signals: those belong to the loops that watch them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int r = pthread_create(&t, &attr, worker, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (r != 0) return pool.nthreads > 0 ? 0 : -r;
    pool.nthreads++;
    return 0;
}

static void force_close(gale__handle *h) {
    gale_work *w = (gale_work *)h;
    pthread_mutex_lock(&pool.lock);
    int state = w->state;
    if (state == W_QUEUED) {
        gale_work **pp = &pool.head, *prev = NULL;
        while (*pp && *pp != w) {
            prev = *pp;
            pp = &(*pp)->qnext;
        }
        if (*pp) *pp = w->qnext;
        if (pool.tail == w) pool.tail = prev;
    } else if (state == W_RUNNING) {
        w->orphaned = 1;
    }
    pthread_mutex_unlock(&pool.lock);
    if (state == W_QUEUED) release(w);
    /* W_POSTED: the loop's post queue releases it. W_DEFERRED: the deferred finish runs. */
}

GALE_EXPORT int gale_work_queue(gale_loop *loop, gale_work_fn work, gale_work_done_fn done, void *ud,
                                gale_free_fn ud_free, gale_work **out) {
    gale_work *w = calloc(1, sizeof *w);
    if (!w) return -ENOMEM;
    w->work = work;
    w->done = done;
    w->ud = ud;
    w->ud_free = ud_free;
    w->state = W_QUEUED;
    pthread_mutex_lock(&pool.lock);
    int r = maybe_start_thread();
    if (r < 0) {
        pthread_mutex_unlock(&pool.lock);
        free(w);
        return r;
    }
    if (pool.tail) pool.tail->qnext = w;
    else pool.head = w;
    pool.tail = w;
    gale__handle_link(loop, &w->h, force_close);
    pthread_cond_signal(&pool.cond);
    pthread_mutex_unlock(&pool.lock);
    if (out) *out = w;
    return 0;
}

GALE_EXPORT void gale_work_cancel(gale_work *w) {
    pthread_mutex_lock(&pool.lock);
    w->cancelled = 1;
    int was_queued = w->state == W_QUEUED;
    if (was_queued) {
        gale_work **pp = &pool.head, *prev = NULL;
        while (*pp && *pp != w) {
            prev = *pp;
            pp = &(*pp)->qnext;
        }
        if (*pp) *pp = w->qnext;
        if (pool.tail == w) pool.tail = prev;
        w->state = W_DEFERRED;
    }
    pthread_mutex_unlock(&pool.lock);
    if (was_queued && gale_loop_defer(w->h.loop, finish, w) < 0) {
        /* Cannot defer (out of memory): finish now rather than leak; done still sees the
         * cancel, only earlier than promised. */
        finish(w);
    }
}
