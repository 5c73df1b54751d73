/* gale.h - libcore, Gale's C core on libevent: include this one header.
 *
 *   gale_common.h   errors, slices, addresses, the clock
 *   gale_loop.h     the event loop, cross-thread posts, signals
 *   gale_timer.h    one-shot and periodic timers
 *   gale_listener.h TCP and Unix listeners
 *   gale_stream.h   buffered streams and outbound connections
 *   gale_udp.h      UDP sockets on the loop
 *   gale_socket.h   the BSD socket calls, blocking, non-blocking or with timeouts
 *   gale_work.h     blocking work on helper threads
 *   gale_resolve.h  getaddrinfo/getnameinfo without blocking the loop, gethostname
 *   gale_http_parser.h  the HTTP/1.1 message parser and chunked decoder
 *   gale_http.h     the HTTP/1.1 server
 */
#ifndef GALE_H
#define GALE_H

#include "gale_common.h"
#include "gale_loop.h"
#include "gale_timer.h"
#include "gale_listener.h"
#include "gale_stream.h"
#include "gale_udp.h"
#include "gale_socket.h"
#include "gale_work.h"
#include "gale_resolve.h"
#include "gale_http_parser.h"
#include "gale_http.h"

#endif /* GALE_H */
