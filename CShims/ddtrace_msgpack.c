/* Out-of-line half of the direct-append msgpack buffer (see ddtrace_msgpack.h). */
#define _GNU_SOURCE /* mremap */
#include "ddtrace_msgpack.h"

#include <stdlib.h>
#include <sys/mman.h>

/* Buffers of DDTRACE_MPBUF_MAP_MIN bytes or more (the flusher's payloads: 1 MiB and up) are anonymous mappings of
 * their own, not malloc memory, so that freeing one gives its pages back to the kernel at once. Taken from malloc,
 * they were not given back: glibc raises its mmap threshold to the size of the first such block freed, then serves
 * later ones from its arenas, whose free pages it rarely returns. After one slow spell of the agent had filled the
 * send queue towards its cap, resident memory stayed at that peak for the life of the process. A buffer's capacity
 * tells which kind it is: a mapped buffer's capacity is its mapping's length, a whole number of 4 KiB pages. */
static size_t mapped_length(size_t capacity) { return (capacity + 4095) & ~(size_t)4095; }

static char *map_buffer(size_t length) {
    void *p = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : (char *)p;
}

/* Storage for `capacity` bytes holding the first `size` bytes of `data` (of `old_capacity`), or NULL with `data`
 * untouched. `capacity` is already a mapped length if it is at least DDTRACE_MPBUF_MAP_MIN. */
static char *resize_buffer(char *data, size_t old_capacity, size_t size, size_t capacity) {
    if (capacity < DDTRACE_MPBUF_MAP_MIN) return (char *)realloc(data, capacity);
    if (data && old_capacity >= DDTRACE_MPBUF_MAP_MIN) {
        void *p = mremap(data, old_capacity, capacity, MREMAP_MAYMOVE);
        return p == MAP_FAILED ? NULL : (char *)p;
    }
    char *mapped = map_buffer(capacity);
    if (mapped && size) memcpy(mapped, data, size);
    if (mapped) free(data);
    return mapped;
}

void ddtrace_mpbuf_init(ddtrace_mpbuf *b, size_t initial_capacity) {
    size_t capacity = initial_capacity;
    if (capacity >= DDTRACE_MPBUF_MAP_MIN) {
        capacity = mapped_length(capacity);
        b->data = map_buffer(capacity);
    } else {
        b->data = capacity ? (char *)malloc(capacity) : NULL;
    }
    b->size = 0;
    b->capacity = b->data ? capacity : 0;
    b->failed = (capacity && !b->data) ? 1 : 0;
}

void ddtrace_mpbuf_destroy(ddtrace_mpbuf *b) {
    if (b->data && b->capacity >= DDTRACE_MPBUF_MAP_MIN) {
        munmap(b->data, b->capacity);
    } else {
        free(b->data);
    }
    b->data = NULL;
    b->size = b->capacity = 0;
}

int ddtrace_mpbuf_reserve(ddtrace_mpbuf *b, size_t len) {
    if (b->failed) return -1;
    if (b->capacity - b->size >= len) return 0;
    size_t wanted = b->size + len;
    size_t capacity = b->capacity ? b->capacity : 4096;
    while (capacity < wanted) capacity *= 2;
    if (capacity >= DDTRACE_MPBUF_MAP_MIN) capacity = mapped_length(capacity);
    char *grown = resize_buffer(b->data, b->capacity, b->size, capacity);
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

/* The size of an object whose size its marker byte alone gives (integers, floats, nil, booleans, fixstr), or 0
 * for the others (containers, longer strings, bin, ext, and the unused 0xc1). One load instead of a chain of
 * comparisons, for the values that make up nearly all of a span: ids and times, tag keys and values. Used by
 * object_size and by the stand-ins' payload check (mp_skip_scalar). */
#define FIXSTR_SIZES(base) \
    [base + 0] = base - 0xa0 + 1, [base + 1] = base - 0xa0 + 2, [base + 2] = base - 0xa0 + 3, \
    [base + 3] = base - 0xa0 + 4, [base + 4] = base - 0xa0 + 5, [base + 5] = base - 0xa0 + 6, \
    [base + 6] = base - 0xa0 + 7, [base + 7] = base - 0xa0 + 8
static const uint8_t scalar_size[256] = {
    [0x00 ... 0x7f] = 1, [0xe0 ... 0xff] = 1, [0xc0] = 1, [0xc2] = 1, [0xc3] = 1,
    [0xcc] = 2, [0xd0] = 2, [0xcd] = 3, [0xd1] = 3, [0xca] = 5, [0xce] = 5, [0xd2] = 5,
    [0xcb] = 9, [0xcf] = 9, [0xd3] = 9, [0xd4] = 3, [0xd5] = 4, [0xd6] = 6, [0xd7] = 10, [0xd8] = 18,
    FIXSTR_SIZES(0xa0), FIXSTR_SIZES(0xa8), FIXSTR_SIZES(0xb0), FIXSTR_SIZES(0xb8),
};
#undef FIXSTR_SIZES

static long object_size(const unsigned char *p, size_t len, int depth) {
    if (len == 0 || depth > 64) return -1;
    unsigned char marker = p[0];
    size_t header = 1;
    uint64_t payload = 0;   /* bytes after the header */
    uint64_t children = 0;  /* nested objects after the header */
    size_t fixed = scalar_size[marker];
    if (fixed) {
        return fixed <= len ? (long)fixed : -1;
    } else if ((marker & 0xf0) == 0x90) { children = marker & 0x0f;
    } else if ((marker & 0xf0) == 0x80) { children = 2 * (uint64_t)(marker & 0x0f);
    } else {
        switch (marker) {
        case 0xc4: case 0xd9: header = 2; break;
        case 0xc5: case 0xda: case 0xdc: case 0xde: header = 3; break;
        case 0xc6: case 0xdb: case 0xdd: case 0xdf: header = 5; break;
        case 0xc7: header = 3; break; case 0xc8: header = 4; break; case 0xc9: header = 6; break;
        default: return -1;
        }
        if (len < header) return -1;
        int width = (marker == 0xc7) ? 1 : (marker == 0xc8) ? 2 : (marker == 0xc9) ? 4 : (int)(header - 1);
        uint64_t n = read_be(p + 1, width);
        if (marker == 0xdc || marker == 0xdd) children = n;
        else if (marker == 0xde || marker == 0xdf) children = 2 * n;
        else payload = n; /* str, bin, ext: n bytes (ext's type byte is part of its header) */
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

/* ---- v0.5 string table ---------------------------------------------------------------------------------- */

/* Unaligned little-endian loads; memcpy of a constant size compiles to one move. */
static inline uint64_t load64(const unsigned char *p) { uint64_t w; memcpy(&w, p, 8); return w; }
static inline uint32_t load32(const unsigned char *p) { uint32_t w; memcpy(&w, p, 4); return w; }

/* Up to 8 bytes as one word without reading outside them: two overlapping 4-byte loads for 4..8 bytes, three
 * byte loads for 1..3. Different strings of the same length give different words, which is all the hash and
 * the comparison below need (the length is compared, and mixed into the hash, separately). */
static inline uint64_t short_word(const unsigned char *p, size_t len) {
    if (len >= 4) return (uint64_t)load32(p) | ((uint64_t)load32(p + len - 4) << 32);
    if (len > 0) return (uint64_t)p[0] | ((uint64_t)p[len / 2] << 8) | ((uint64_t)p[len - 1] << 16);
    return 0;
}

/* A fast non-cryptographic hash over 8-byte words (the strings are span names, tag keys and values, usually
 * under 32 bytes); collisions only cost a comparison. */
static inline uint32_t hash_bytes(const unsigned char *p, size_t len) {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)len;
    if (len <= 8) {
        h = (h ^ short_word(p, len)) * 0xc4ceb9fe1a85ec53ULL;
    } else {
        size_t left = len;
        while (left > 8) {
            h = (h ^ load64(p)) * 0xff51afd7ed558ccdULL;
            h ^= h >> 32;
            p += 8;
            left -= 8;
        }
        /* The last 8 bytes, overlapping the previous word when the length is not a multiple of 8. */
        h = (h ^ load64(p + left - 8)) * 0xc4ceb9fe1a85ec53ULL;
    }
    h ^= h >> 29;
    h *= 0xff51afd7ed558ccdULL;
    return (uint32_t)(h ^ (h >> 32));
}

/* Whether the `len` bytes at a and b are equal: word compares up to 16 bytes (most keys and values), memcmp
 * beyond. */
static inline int same_bytes(const unsigned char *a, const unsigned char *b, size_t len) {
    if (len <= 8) return short_word(a, len) == short_word(b, len);
    if (len <= 16) return load64(a) == load64(b) && load64(a + len - 8) == load64(b + len - 8);
    return memcmp(a, b, len) == 0;
}

static int strtab_grow_entries(ddtrace_strtab *t) {
    uint32_t capacity = t->entry_capacity ? t->entry_capacity * 2 : 256;
    ddtrace_strtab_entry *entries = (ddtrace_strtab_entry *)realloc(t->entries, capacity * sizeof *entries);
    if (!entries) return -1;
    t->entries = entries;
    t->entry_capacity = capacity;
    return 0;
}

/* Rebuilds the slot array at twice the size (load factor stays under 1/2). Each slot carries its entry's hash,
 * so nothing else is read to rebuild it. */
static int strtab_grow_slots(ddtrace_strtab *t) {
    uint32_t size = t->slots ? (t->slot_mask + 1) * 2 : 1024;
    uint64_t *slots = (uint64_t *)calloc(size, sizeof(uint64_t));
    if (!slots) return -1;
    if (t->slots) {
        for (uint32_t old = 0; old <= t->slot_mask; old++) {
            uint64_t value = t->slots[old];
            if (!value) continue;
            uint32_t slot = (uint32_t)(value >> 32) & (size - 1);
            while (slots[slot]) slot = (slot + 1) & (size - 1);
            slots[slot] = value;
        }
    }
    free(t->slots);
    t->slots = slots;
    t->slot_mask = size - 1;
    return 0;
}

int ddtrace_strtab_init(ddtrace_strtab *t, uint32_t initial_entries) {
    memset(t, 0, sizeof *t);
    ddtrace_mpbuf_init(&t->strings, 64 * 1024);
    while (t->entry_capacity < initial_entries) {
        if (strtab_grow_entries(t) != 0) { t->failed = 1; return -1; }
    }
    if (t->strings.failed || (t->entry_capacity == 0 && strtab_grow_entries(t) != 0) || strtab_grow_slots(t) != 0) {
        t->failed = 1;
        return -1;
    }
    ddtrace_strtab_reset(t);
    return t->failed ? -1 : 0;
}

void ddtrace_strtab_destroy(ddtrace_strtab *t) {
    ddtrace_mpbuf_destroy(&t->strings);
    free(t->slots);
    free(t->entries);
    memset(t, 0, sizeof *t);
}

void ddtrace_strtab_reset(ddtrace_strtab *t) {
    if (!t->slots) { t->failed = 1; return; }
    memset(t->slots, 0, (size_t)(t->slot_mask + 1) * sizeof(uint64_t));
    t->count = 0;
    t->strings.size = 0;
    t->strings.failed = 0;
    t->failed = 0;
    static const char header[5] = {(char)0xdd, 0, 0, 0, 0};
    ddtrace_mpbuf_append(&t->strings, header, 5);
    (void)ddtrace_strtab_intern(t, "", 0); /* index 0 */
}

uint32_t ddtrace_strtab_intern(ddtrace_strtab *t, const void *bytes, size_t len) {
    if (t->failed || len > UINT32_MAX) { t->failed = 1; return 0; }
    const unsigned char *p = (const unsigned char *)bytes;
    uint32_t hash = hash_bytes(p, len);
    uint32_t slot = hash & t->slot_mask;
    /* A slot holds (hash << 32) | (index + 1): a probe compares hashes without touching the entries, and reads
     * an entry and its bytes only on a full hash match. */
    for (;;) {
        uint64_t value = t->slots[slot];
        if (!value) break;
        if ((uint32_t)(value >> 32) == hash) {
            uint32_t index = (uint32_t)value - 1;
            ddtrace_strtab_entry entry = t->entries[index];
            if (entry.length == len && same_bytes((const unsigned char *)t->strings.data + entry.offset, p, len))
                return index;
        }
        slot = (slot + 1) & t->slot_mask;
    }
    if (t->count == t->entry_capacity && strtab_grow_entries(t) != 0) { t->failed = 1; return 0; }
    uint32_t index = t->count;
    ddtrace_mp_str(&t->strings, len);
    size_t offset = t->strings.size;
    ddtrace_mp_str_body(&t->strings, p, len);
    if (t->strings.failed || offset > UINT32_MAX) { t->failed = 1; return 0; }
    t->entries[index] = (ddtrace_strtab_entry){(uint32_t)offset, (uint32_t)len};
    t->slots[slot] = ((uint64_t)hash << 32) | (uint64_t)(index + 1);
    t->count++;
    if ((uint64_t)t->count * 2 > (uint64_t)t->slot_mask + 1 && strtab_grow_slots(t) != 0) {
        t->failed = 1;
        return 0;
    }
    return index;
}

void ddtrace_strtab_finish(ddtrace_strtab *t) {
    ddtrace_mpbuf_patch_u32_header(&t->strings, 0, 0xdd, t->count);
}

/* ---- v0.5 -> v0.4 ------------------------------------------------------------------------------------------ */

typedef struct reader {
    const unsigned char *p;
    size_t left;
    int bad;
} reader;

static int take(reader *r, size_t n, const unsigned char **out) {
    if (r->bad || r->left < n) { r->bad = 1; return -1; }
    *out = r->p;
    r->p += n;
    r->left -= n;
    return 0;
}

/* An array (`map` = 0) or map (`map` = 1) header's count. */
static uint32_t read_container(reader *r, int map) {
    const unsigned char *m;
    if (take(r, 1, &m) != 0) return 0;
    unsigned char marker = m[0];
    const unsigned char *n;
    if (!map && (marker & 0xf0) == 0x90) return marker & 0x0f;
    if (map && (marker & 0xf0) == 0x80) return marker & 0x0f;
    if (marker == (map ? 0xde : 0xdc)) return take(r, 2, &n) == 0 ? (uint32_t)read_be(n, 2) : 0;
    if (marker == (map ? 0xdf : 0xdd)) return take(r, 4, &n) == 0 ? (uint32_t)read_be(n, 4) : 0;
    r->bad = 1;
    return 0;
}

/* Any msgpack integer, as 64 bits (negative values keep their two's complement). */
static uint64_t read_integer(reader *r) {
    const unsigned char *m, *n;
    if (take(r, 1, &m) != 0) return 0;
    unsigned char marker = m[0];
    if (marker <= 0x7f) return marker;
    if (marker >= 0xe0) return (uint64_t)(int64_t)(int8_t)marker;
    switch (marker) {
    case 0xcc: return take(r, 1, &n) == 0 ? n[0] : 0;
    case 0xcd: return take(r, 2, &n) == 0 ? read_be(n, 2) : 0;
    case 0xce: return take(r, 4, &n) == 0 ? read_be(n, 4) : 0;
    case 0xcf: return take(r, 8, &n) == 0 ? read_be(n, 8) : 0;
    case 0xd0: return take(r, 1, &n) == 0 ? (uint64_t)(int64_t)(int8_t)n[0] : 0;
    case 0xd1: return take(r, 2, &n) == 0 ? (uint64_t)(int64_t)(int16_t)read_be(n, 2) : 0;
    case 0xd2: return take(r, 4, &n) == 0 ? (uint64_t)(int64_t)(int32_t)read_be(n, 4) : 0;
    case 0xd3: return take(r, 8, &n) == 0 ? read_be(n, 8) : 0;
    default: r->bad = 1; return 0;
    }
}

static double read_double(reader *r) {
    const unsigned char *m, *n;
    if (take(r, 1, &m) != 0) return 0;
    if (m[0] == 0xcb && take(r, 8, &n) == 0) {
        uint64_t bits = read_be(n, 8);
        double value;
        memcpy(&value, &bits, 8);
        return value;
    }
    if (m[0] == 0xca && take(r, 4, &n) == 0) {
        uint32_t bits = (uint32_t)read_be(n, 4);
        float value;
        memcpy(&value, &bits, 4);
        return value;
    }
    r->bad = 1;
    return 0;
}

typedef struct dict_entry {
    const unsigned char *bytes;
    uint32_t len;
} dict_entry;

/* Copies dictionary string `index` (already msgpack-encoded) to `out`. */
static void copy_string(reader *r, const dict_entry *dict, uint32_t count, ddtrace_mpbuf *out) {
    uint64_t index = read_integer(r);
    if (r->bad || index >= count) { r->bad = 1; return; }
    ddtrace_mp_string(out, dict[index].bytes, dict[index].len);
}

int ddtrace_mp_v05_to_v04(const char *dictionary, size_t dictionary_len, const char *traces, size_t traces_len,
                          ddtrace_mpbuf *out) {
    reader d = {(const unsigned char *)dictionary, dictionary_len, 0};
    uint32_t count = read_container(&d, 0);
    if (d.bad || count == 0 || (uint64_t)count > dictionary_len) return -1;
    dict_entry *dict = (dict_entry *)malloc((size_t)count * sizeof(dict_entry));
    if (!dict) return -1;
    for (uint32_t i = 0; i < count && !d.bad; i++) {
        const unsigned char *m, *n;
        if (take(&d, 1, &m) != 0) break;
        uint64_t len = 0;
        if ((m[0] & 0xe0) == 0xa0) len = m[0] & 0x1f;
        else if (m[0] == 0xd9 && take(&d, 1, &n) == 0) len = n[0];
        else if (m[0] == 0xda && take(&d, 2, &n) == 0) len = read_be(n, 2);
        else if (m[0] == 0xdb && take(&d, 4, &n) == 0) len = read_be(n, 4);
        else { d.bad = 1; break; }
        if (take(&d, (size_t)len, &n) != 0) break;
        dict[i].bytes = n;
        dict[i].len = (uint32_t)len;
    }
    if (d.bad) { free(dict); return -1; }

    reader r = {(const unsigned char *)traces, traces_len, 0};
    uint32_t chunks = read_container(&r, 0);
    /* The payload's chunk array always has the 5-byte header, as the encoder writes it (the flusher splits
     * payloads at chunk boundaries after that header). */
    static const char header[5] = {(char)0xdd, 0, 0, 0, 0};
    size_t header_offset = out->size;
    ddtrace_mp_raw(out, header, 5);
    ddtrace_mpbuf_patch_u32_header(out, header_offset, 0xdd, chunks);
    for (uint32_t c = 0; c < chunks && !r.bad; c++) {
        uint32_t spans = read_container(&r, 0);
        ddtrace_mp_array(out, spans);
        for (uint32_t s = 0; s < spans && !r.bad; s++) {
            if (read_container(&r, 0) != 12) { r.bad = 1; break; }
            ddtrace_mp_map(out, 12);
            static const char k_service[] = "\xa7" "service", k_name[] = "\xa4" "name",
                              k_resource[] = "\xa8" "resource", k_type[] = "\xa4" "type", k_meta[] = "\xa4" "meta",
                              k_metrics[] = "\xa7" "metrics";
            ddtrace_mp_raw(out, k_service, 8); copy_string(&r, dict, count, out);
            ddtrace_mp_raw(out, k_name, 5); copy_string(&r, dict, count, out);
            ddtrace_mp_raw(out, k_resource, 9); copy_string(&r, dict, count, out);
            uint64_t trace_id = read_integer(&r), span_id = read_integer(&r), parent_id = read_integer(&r);
            int64_t start = (int64_t)read_integer(&r), duration = (int64_t)read_integer(&r);
            int32_t error = (int32_t)read_integer(&r);
            ddtrace_mp_span_numbers(out, trace_id, span_id, parent_id, start, duration, error);
            ddtrace_mp_raw(out, k_meta, 5);
            uint32_t meta = read_container(&r, 1);
            ddtrace_mp_map(out, meta);
            for (uint32_t i = 0; i < meta && !r.bad; i++) {
                copy_string(&r, dict, count, out);
                copy_string(&r, dict, count, out);
            }
            ddtrace_mp_raw(out, k_metrics, 8);
            uint32_t metrics = read_container(&r, 1);
            ddtrace_mp_map(out, metrics);
            for (uint32_t i = 0; i < metrics && !r.bad; i++) {
                copy_string(&r, dict, count, out);
                ddtrace_mp_double(out, read_double(&r));
            }
            ddtrace_mp_raw(out, k_type, 5); copy_string(&r, dict, count, out);
        }
    }
    free(dict);
    if (r.bad || r.left != 0 || out->failed) return -1;
    return 0;
}

/* ---- Payload checking for agent stand-ins ------------------------------------------------------------------ */

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
} mp_cursor;

/* A container header: its element count (map entries count once), or -1. */
static long mp_header(mp_cursor *c, unsigned char fix_mask, unsigned char fix, unsigned char m16, unsigned char m32) {
    if (c->p >= c->end) return -1;
    unsigned char marker = *c->p;
    if ((marker & fix_mask) == fix) { c->p++; return marker & (unsigned char)~fix_mask; }
    int width = marker == m16 ? 2 : marker == m32 ? 4 : 0;
    if (!width || c->end - c->p < 1 + width) return -1;
    long n = (long)read_be(c->p + 1, width);
    c->p += 1 + width;
    return n;
}

static long mp_array(mp_cursor *c) { return mp_header(c, 0xf0, 0x90, 0xdc, 0xdd); }
static long mp_map(mp_cursor *c) { return mp_header(c, 0xf0, 0x80, 0xde, 0xdf); }

/* A string: its length, with *bytes at its first byte; or -1. */
static inline long mp_str(mp_cursor *c, const unsigned char **bytes) {
    if (c->p >= c->end) return -1;
    unsigned char marker = *c->p;
    size_t header, n;
    if ((marker & 0xe0) == 0xa0) { header = 1; n = marker & 0x1f; }
    else if (marker == 0xd9 && c->end - c->p >= 2) { header = 2; n = c->p[1]; }
    else if (marker == 0xda && c->end - c->p >= 3) { header = 3; n = (size_t)read_be(c->p + 1, 2); }
    else if (marker == 0xdb && c->end - c->p >= 5) { header = 5; n = (size_t)read_be(c->p + 1, 4); }
    else return -1;
    if ((size_t)(c->end - c->p) - header < n) return -1;
    *bytes = c->p + header;
    c->p += header + n;
    return (long)n;
}

/* Skips one object that is not a container and returns 0, or returns -1 for a container, a bad marker or
 * truncated input. The caller checked that c->p < c->end. */
static inline int mp_skip_scalar(mp_cursor *c) {
    size_t left = (size_t)(c->end - c->p);
    size_t size = scalar_size[*c->p];
    if (size == 0) {
        /* str 8/16/32 and bin 8/16/32: a length, then that many bytes. */
        unsigned char marker = *c->p;
        int width = (marker == 0xd9 || marker == 0xc4) ? 1 : (marker == 0xda || marker == 0xc5) ? 2
                    : (marker == 0xdb || marker == 0xc6) ? 4 : 0;
        if (width == 0 || left < 1 + (size_t)width) return -1;
        size = 1 + (size_t)width + (size_t)read_be(c->p + 1, width);
    }
    if (left < size) return -1;
    c->p += size;
    return 0;
}

/* Skips a container, or anything mp_skip_scalar refused. Maps and arrays of scalars (meta, metrics) take the
 * table; anything else (nested containers, ext) goes through object_size, which bounds the depth. */
static __attribute__((noinline)) int mp_skip_container(mp_cursor *c) {
    const unsigned char *start = c->p;
    unsigned char marker = *start;
    long children = -1;
    if ((marker & 0xf0) == 0x80 || marker == 0xde || marker == 0xdf) {
        long entries = mp_map(c);
        children = entries < 0 ? -1 : 2 * entries;
    } else if ((marker & 0xf0) == 0x90 || marker == 0xdc || marker == 0xdd) {
        children = mp_array(c);
    }
    if (children >= 0) {
        long skipped = 0;
        while (skipped < children && c->p < c->end && mp_skip_scalar(c) == 0) skipped++;
        if (skipped == children) return 0;
        c->p = start;
    }
    long size = object_size(c->p, (size_t)(c->end - c->p), 1);
    if (size < 0) return -1;
    c->p += size;
    return 0;
}

/* Skips one object. */
static inline int mp_skip(mp_cursor *c) {
    if (c->p >= c->end) return -1;
    if (mp_skip_scalar(c) == 0) return 0;
    return mp_skip_container(c);
}

/* An unsigned integer (positive fixint, uint8/16/32), or -1. */
static long mp_uint(mp_cursor *c) {
    if (c->p >= c->end) return -1;
    unsigned char marker = *c->p;
    if (marker <= 0x7f) { c->p++; return marker; }
    int width = marker == 0xcc ? 1 : marker == 0xcd ? 2 : marker == 0xce ? 4 : 0;
    if (!width || c->end - c->p < 1 + width) return -1;
    long n = (long)read_be(c->p + 1, width);
    c->p += 1 + width;
    return n;
}

/* The bit of a span key the agent requires (trace_id 1, span_id 2, start 4, duration 8), or 0. Dispatches on the
 * length first: most keys (service, name, meta, ...) are rejected by one comparison. */
static inline int required_key_bit(const unsigned char *key, long n) {
    switch (n) {
    case 8:
        if (memcmp(key, "trace_id", 8) == 0) return 1;
        if (memcmp(key, "duration", 8) == 0) return 8;
        return 0;
    case 7: return memcmp(key, "span_id", 7) == 0 ? 2 : 0;
    case 5: return memcmp(key, "start", 5) == 0 ? 4 : 0;
    default: return 0;
    }
}

long ddtrace_mp_count_spans(const char *data, size_t len, int v05) {
    mp_cursor c = {(const unsigned char *)data, (const unsigned char *)data + len};
    long strings = 0;
    if (v05) {
        if (mp_array(&c) != 2) return -1;
        strings = mp_array(&c);
        if (strings < 1) return -1;
        for (long i = 0; i < strings; i++) {
            const unsigned char *bytes;
            if (mp_str(&c, &bytes) < 0) return -1;
        }
    }
    long chunks = mp_array(&c);
    if (chunks < 0) return -1;
    long spans = 0;
    for (long i = 0; i < chunks; i++) {
        long count = mp_array(&c);
        if (count < 0) return -1;
        for (long j = 0; j < count; j++) {
            if (v05) {
                if (mp_array(&c) != 12) return -1;
                for (int field = 0; field < 3; field++) {
                    long index = mp_uint(&c);
                    if (index < 0 || index >= strings) return -1;
                }
                for (int field = 3; field < 12; field++)
                    if (mp_skip(&c) != 0) return -1;
            } else {
                long entries = mp_map(&c);
                if (entries < 0) return -1;
                int required = 0;
                for (long k = 0; k < entries; k++) {
                    const unsigned char *key;
                    long n = mp_str(&c, &key);
                    if (n < 0) return -1;
                    required |= required_key_bit(key, n);
                    if (mp_skip(&c) != 0) return -1;
                }
                if (required != 15) return -1;
            }
        }
        spans += count;
    }
    return c.p == c.end ? spans : -1;
}
