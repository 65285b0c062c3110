/* Out-of-line half of the direct-append msgpack buffer (see ddtrace_msgpack.h). */
#include "ddtrace_msgpack.h"

#include <stdlib.h>

void ddtrace_mpbuf_init(ddtrace_mpbuf *b, size_t initial_capacity) {
    b->data = initial_capacity ? (char *)malloc(initial_capacity) : NULL;
    b->size = 0;
    b->capacity = b->data ? initial_capacity : 0;
    b->failed = (initial_capacity && !b->data) ? 1 : 0;
}

void ddtrace_mpbuf_destroy(ddtrace_mpbuf *b) {
    free(b->data);
    b->data = NULL;
    b->size = b->capacity = 0;
}

int ddtrace_mpbuf_reserve(ddtrace_mpbuf *b, size_t len) {
    if (b->failed) return -1;
    if (b->capacity - b->size >= len) return 0;
    size_t wanted = b->size + len;
    size_t capacity = b->capacity ? b->capacity : 4096;
    while (capacity < wanted) capacity *= 2;
    char *grown = (char *)realloc(b->data, capacity);
    if (!grown) { b->failed = 1; return -1; }
    b->data = grown;
    b->capacity = capacity;
    return 0;
}

int ddtrace_mpbuf_append_slow(ddtrace_mpbuf *b, const char *bytes, size_t len) {
    if (ddtrace_mpbuf_reserve(b, len) != 0) return -1;
    memcpy(b->data + b->size, bytes, len);
    b->size += len;
    return 0;
}
