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

/* Reads a big-endian unsigned integer of `width` bytes at p (the caller checked the bounds). */
static uint64_t read_be(const unsigned char *p, int width) {
    uint64_t value = 0;
    for (int i = 0; i < width; i++) value = (value << 8) | p[i];
    return value;
}

static long object_size(const unsigned char *p, size_t len, int depth) {
    if (len == 0 || depth > 64) return -1;
    unsigned char marker = p[0];
    size_t header = 1;
    uint64_t payload = 0;   /* bytes after the header */
    uint64_t children = 0;  /* nested objects after the header */
    if (marker <= 0x7f || marker >= 0xe0 || marker == 0xc0 || marker == 0xc2 || marker == 0xc3) {
        return 1;
    } else if ((marker & 0xe0) == 0xa0) { payload = marker & 0x1f;
    } else if ((marker & 0xf0) == 0x90) { children = marker & 0x0f;
    } else if ((marker & 0xf0) == 0x80) { children = 2 * (uint64_t)(marker & 0x0f);
    } else {
        switch (marker) {
        case 0xcc: case 0xd0: payload = 1; break;
        case 0xcd: case 0xd1: payload = 2; break;
        case 0xca: case 0xce: case 0xd2: payload = 4; break;
        case 0xcb: case 0xcf: case 0xd3: payload = 8; break;
        case 0xd4: payload = 2; break; case 0xd5: payload = 3; break; case 0xd6: payload = 5; break;
        case 0xd7: payload = 9; break; case 0xd8: payload = 17; break;
        case 0xc4: case 0xd9: header = 2; break;
        case 0xc5: case 0xda: case 0xdc: case 0xde: header = 3; break;
        case 0xc6: case 0xdb: case 0xdd: case 0xdf: header = 5; break;
        case 0xc7: header = 3; break; case 0xc8: header = 4; break; case 0xc9: header = 6; break;
        default: return -1;
        }
        if (header > 1) {
            if (len < header) return -1;
            int width = (marker == 0xc7) ? 1 : (marker == 0xc8) ? 2 : (marker == 0xc9) ? 4 : (int)(header - 1);
            uint64_t n = read_be(p + 1, width);
            if (marker == 0xdc || marker == 0xdd) children = n;
            else if (marker == 0xde || marker == 0xdf) children = 2 * n;
            else payload = n + ((marker >= 0xc7 && marker <= 0xc9) ? 1 : 0); /* ext: type byte */
        }
    }
    if (payload > len - header) return -1;
    size_t offset = header + (size_t)payload;
    for (uint64_t i = 0; i < children; i++) {
        long child = object_size(p + offset, len - offset, depth + 1);
        if (child < 0) return -1;
        offset += (size_t)child;
    }
    return (long)offset;
}

long ddtrace_mp_object_size(const char *data, size_t len) {
    return object_size((const unsigned char *)data, len, 0);
}
