/* Thread-local storage and clocks for the span hot path.
 *
 * Swift cannot import a `_Thread_local` variable, and `pthread_getspecific` costs a call; a `static inline`
 * accessor compiles to one %fs-relative load. The variables use the initial-exec TLS model so that the access
 * stays a single load even when the shim ends up in a shared object (the default for -fPIC code would be
 * general-dynamic, i.e. a call to __tls_get_addr). */
#ifndef DDTRACE_RUNTIME_H
#define DDTRACE_RUNTIME_H

#include <stdint.h>
#include <stddef.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The calling thread's cached (tracer engine, per-thread state) pair. Written only by the owning thread. */
extern __attribute__((tls_model("initial-exec"))) _Thread_local void *ddtrace_tls_engine;
extern __attribute__((tls_model("initial-exec"))) _Thread_local void *ddtrace_tls_state;

static inline __attribute__((always_inline)) void *ddtrace_tls_get_engine(void) { return ddtrace_tls_engine; }
static inline __attribute__((always_inline)) void *ddtrace_tls_get_state(void) { return ddtrace_tls_state; }
static inline __attribute__((always_inline)) void ddtrace_tls_set(void *engine, void *state) {
    ddtrace_tls_engine = engine;
    ddtrace_tls_state = state;
}

/* CLOCK_MONOTONIC in nanoseconds (vDSO, ~20 ns). Span durations come from two of these reads. */
static inline __attribute__((always_inline)) int64_t ddtrace_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + (int64_t)ts.tv_nsec;
}

/* CLOCK_REALTIME in nanoseconds since the Unix epoch. */
static inline __attribute__((always_inline)) int64_t ddtrace_realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + (int64_t)ts.tv_nsec;
}

static inline __attribute__((always_inline)) void ddtrace_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Prefetches the cache line at `address` for reading or writing. The flusher reads span slots that another core
 * just wrote, and app threads reuse slots the flusher just wrote: asking for the lines of the next slots while
 * working on the current one overlaps those cross-core transfers instead of paying them one after another. */
static inline __attribute__((always_inline)) void ddtrace_prefetch_read(const void *address) {
    __builtin_prefetch(address, 0, 3);
}
static inline __attribute__((always_inline)) void ddtrace_prefetch_write(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

/* Fills `buf` with `len` random bytes from getrandom(2); falls back to the clocks if the syscall fails. */
void ddtrace_random_bytes(void *buf, size_t len);

/* The kernel's thread id of the caller (gettid), for diagnostics. */
int32_t ddtrace_thread_id(void);

/* Names the calling thread (pthread_setname_np, which Swift's Glibc module does not export: it needs _GNU_SOURCE).
 * Linux keeps 15 bytes; a longer name is cut to its first 15 bytes instead of being refused with ERANGE. */
void ddtrace_set_thread_name(const char *name);

#ifdef __cplusplus
}
#endif
#endif
