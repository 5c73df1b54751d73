/* udp_bench.h - the plain-C parts of the UDP benchmark: filling a socket's receive buffer, and
 * the baseline receiver, a blocking recvfrom loop. */
#ifndef UDP_BENCH_H
#define UDP_BENCH_H

#include <stddef.h>
#include <stdint.h>

/** Give fd a receive buffer of `bytes` (SO_RCVBUFFORCE when allowed, else SO_RCVBUF up to
 *  net.core.rmem_max). The size in effect. */
int bench_set_rcvbuf(int fd, int bytes);

/** Send n datagrams of payload bytes to 127.0.0.1:port (sendmmsg, 64 at a time). The number sent. */
uint64_t bench_fill(int port, size_t payload, uint64_t n);

/** The baseline: recvfrom(fd) in a loop until n datagrams arrived or none came for 200 ms.
 *  *last_ns gets the time the last one arrived. The datagrams received. */
uint64_t bench_recvfrom_loop(int fd, uint64_t n, uint64_t *last_ns);

/** Monotonic nanoseconds. */
uint64_t bench_now_ns(void);

#endif
