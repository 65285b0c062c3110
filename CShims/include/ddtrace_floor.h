/* The physical floor of one span, for the benchmarks: the irreducible work done in plain C. */
#ifndef DDTRACE_FLOOR_H
#define DDTRACE_FLOOR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Runs `iterations` times: two CLOCK_MONOTONIC reads (start and end), one random 64-bit span id, writing trace
 * id, span id, parent id, start, duration and two (key, value) tag pointer pairs into a 256-byte slot, and one
 * single-producer ring publish (a store-release of the tail); the ring (4096 entries) is drained every 256
 * publishes, as a flusher would. Returns a checksum so the work cannot be optimised away. */
uint64_t ddtrace_floor_spans(uint64_t iterations);

#ifdef __cplusplus
}
#endif
#endif
