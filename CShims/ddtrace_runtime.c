/* Thread-local storage definitions and small system helpers (see ddtrace_runtime.h). */
#define _GNU_SOURCE
#include "ddtrace_runtime.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <sys/syscall.h>

__attribute__((tls_model("initial-exec"))) _Thread_local void *ddtrace_tls_engine = 0;
__attribute__((tls_model("initial-exec"))) _Thread_local void *ddtrace_tls_state = 0;

void ddtrace_random_bytes(void *buf, size_t len) {
    unsigned char *out = (unsigned char *)buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom(out + done, len - done, 0);
        if (n > 0) { done += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        break;
    }
    /* getrandom is unavailable (very old kernel or seccomp): mix the clocks and the thread id instead. The ids
     * only need to be unique, not unpredictable. */
    uint64_t x = (uint64_t)ddtrace_realtime_ns() ^ ((uint64_t)ddtrace_monotonic_ns() << 17) ^ (uint64_t)syscall(SYS_gettid);
    for (; done < len; done++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        out[done] = (unsigned char)(x >> 24);
    }
}

int32_t ddtrace_thread_id(void) { return (int32_t)syscall(SYS_gettid); }

void ddtrace_set_thread_name(const char *name) {
    char cut[16];
    strncpy(cut, name, sizeof cut - 1);
    cut[sizeof cut - 1] = 0;
    (void)pthread_setname_np(pthread_self(), cut);
}
