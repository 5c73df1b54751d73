/* libevent as a Swift module. Gale's Swift code talks to libcore (CGale), not to libevent;
 * this module exists so SwiftPM finds libevent through pkg-config and links it. */
#ifndef GALE_CLIBEVENT_SHIM_H
#define GALE_CLIBEVENT_SHIM_H
#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/thread.h>
#endif
