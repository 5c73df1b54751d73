/* internal.h - what libcore's objects share and users never see (gale__ prefix). */
#ifndef GALE_INTERNAL_H
#define GALE_INTERNAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>

#include "gale.h"

/* Every object that lives on a loop starts with a handle, so gale_loop_free can close what
 * its owner left open (and valgrind sees no leak from an early exit). */
typedef struct gale__handle gale__handle;
struct gale__handle {
    gale__handle *prev, *next;
    gale_loop *loop;
    void (*force_close)(gale__handle *h);
};

void gale__handle_link(gale_loop *loop, gale__handle *h, void (*force_close)(gale__handle *));
void gale__handle_unlink(gale__handle *h);

/* libevent's struct event is opaque to us (its size may change between releases), so
 * objects allocate it right behind themselves: one malloc per object. */
size_t gale__event_size(void);

/* Rounded up to the next microsecond: a timeout never expires early (and never means "now"). */
static inline struct timeval gale__tv(uint64_t ns) {
    struct timeval tv;
    uint64_t us = (ns % 1000000000u + 999u) / 1000u; /* at most 1000000 */
    tv.tv_sec = (time_t)(ns / 1000000000u + us / 1000000u);
    tv.tv_usec = (suseconds_t)(us % 1000000u);
    return tv;
}

static inline int gale__neg_errno(void) { return errno > 0 ? -errno : -EIO; }

int gale__set_nonblock_cloexec(int fd);
void gale__close_fd(int fd);

/* An interface by name or number ("lo", "1"; also an IPv6 scope) (addr.c). @return its index,
 * or 0 if there is no such interface. */
unsigned gale__iface_index(const char *name);

/* Called once before the first event_base: libevent's global state (signals, debug maps)
 * is then safe to touch from several loop threads. */
void gale__libevent_init(void);

/* Call the owner's callback `member` of an object with `cbs`, `closing` and `in_cb` fields,
 * unless it has none or the object is closing; in_cb counts the calls on the stack. */
#define GALE__CALL(obj, member, ...)                                                         \
    do {                                                                                     \
        if ((obj)->cbs->member && !(obj)->closing) {                                         \
            (obj)->in_cb++;                                                                  \
            (obj)->cbs->member(__VA_ARGS__);                                                 \
            (obj)->in_cb--;                                                                  \
        }                                                                                    \
    } while (0)

/* A per-loop buffer that socket reads land in before their bytes are handed to a callback
 * (valid until the callback returns; never held across loop turns). */
#define GALE__SCRATCH_SIZE (64u * 1024u)
char *gale__loop_scratch(gale_loop *loop);

/* SHA-1 of data (sha1.c), for entity tags. */
void gale__sha1(const void *data, size_t len, unsigned char out[20]);

/* A second deferred queue that gale_loop_run_deferred does not run: objects release
 * themselves through it, so a release never happens under a callback of theirs that is
 * still on the stack, even if that callback runs the deferred queue. */
int gale__loop_release_later(gale_loop *loop, gale_loop_fn fn, void *ud);
/* Promise a run of the deferred queue before returning to libevent (the caller is about to
 * call out and then run it): work deferred meanwhile does not arm the queue's event, which
 * would cost a pass through libevent's active queue to find nothing left. Pair each hold
 * with one gale__loop_defer_unhold_and_run. */
void gale__loop_defer_hold(gale_loop *loop);
void gale__loop_defer_unhold_and_run(gale_loop *loop);

#endif /* GALE_INTERNAL_H */
