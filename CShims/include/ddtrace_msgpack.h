/* msgpack-c's pack template, specialised to append straight into a flat, growable byte buffer.
 *
 * Stock msgpack-c packs through `msgpack_packer`, whose `callback` is an indirect call for every token; with
 * the packer stored on the heap the compiler cannot see through it and a span costs ~150-180 ns. Here the
 * template's `msgpack_pack_append_buffer` is a `static inline` bounds check plus memcpy, so Swift code that
 * calls `ddtrace_mp_*` gets every token inlined. Only buffer growth is out of line. */
#ifndef DDTRACE_MSGPACK_H
#define DDTRACE_MSGPACK_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <limits.h> /* CHAR_MIN/CHAR_MAX, which msgpack/pack_template.h requires */
#include <msgpack/sysdep.h>
#include <msgpack/timestamp.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A growable output buffer. `data` is owned (malloc, or a mapping of its own from DDTRACE_MPBUF_MAP_MIN bytes on:
 * free it with ddtrace_mpbuf_destroy only); `size` bytes are in use; `failed` becomes 1 when an
 * allocation failed, after which appends are ignored (the payload is then dropped and counted). */
typedef struct ddtrace_mpbuf {
    char *data;
    size_t size;
    size_t capacity;
    int failed;
} ddtrace_mpbuf;

/* From this capacity on, a buffer is an anonymous mapping of its own (mmap), which its destruction gives back to the
 * kernel; below it, malloc memory (see ddtrace_msgpack.c). */
#define DDTRACE_MPBUF_MAP_MIN ((size_t)256 * 1024)

void ddtrace_mpbuf_init(ddtrace_mpbuf *b, size_t initial_capacity);
void ddtrace_mpbuf_destroy(ddtrace_mpbuf *b);
/* Out-of-line slow path: grows to at least `size + len` and appends. Returns 0, or -1 on allocation failure. */
int ddtrace_mpbuf_append_slow(ddtrace_mpbuf *b, const char *bytes, size_t len);
/* Makes room for `len` more bytes; returns 0 or -1. */
int ddtrace_mpbuf_reserve(ddtrace_mpbuf *b, size_t len);

static inline __attribute__((always_inline)) int ddtrace_mpbuf_append(ddtrace_mpbuf *b, const char *bytes, size_t len) {
    if (__builtin_expect(b->capacity - b->size >= len, 1)) {
        memcpy(b->data + b->size, bytes, len);
        b->size += len;
        return 0;
    }
    return ddtrace_mpbuf_append_slow(b, bytes, len);
}

/* The size in bytes of the msgpack object starting at data[0], or -1 if it is truncated or malformed (nesting
 * deeper than 64 counts as malformed). Used to split an encoded payload at chunk boundaries when the agent
 * answers 413; never reads past data[len - 1]. */
long ddtrace_mp_object_size(const char *data, size_t len);

/* Writes a map or array header with a 32-bit length at `offset` (always the 5-byte form), so that a count that
 * is only known after the elements were written can be patched in place. */
static inline void ddtrace_mpbuf_patch_u32_header(ddtrace_mpbuf *b, size_t offset, unsigned char marker, uint32_t n) {
    if (b->failed || offset + 5 > b->size) return;
    unsigned char *p = (unsigned char *)b->data + offset;
    p[0] = marker;
    p[1] = (unsigned char)(n >> 24); p[2] = (unsigned char)(n >> 16); p[3] = (unsigned char)(n >> 8); p[4] = (unsigned char)n;
}

/* Instantiate msgpack-c's template as ddtrace_mp_<type>(ddtrace_mpbuf *, ...). */
/* always_inline: without it LLVM keeps the larger template functions (str, uint64) out of line when Swift calls
 * them, which costs a call per token. */
#define msgpack_pack_inline_func(name) static inline __attribute__((always_inline)) int ddtrace_mp ## name
#define msgpack_pack_inline_func_cint(name) static inline __attribute__((always_inline)) int ddtrace_mp ## name
#define msgpack_pack_inline_func_fixint(name) static inline __attribute__((always_inline)) int ddtrace_mp_fix ## name
#define msgpack_pack_user ddtrace_mpbuf *
#define msgpack_pack_append_buffer(user, buf, len) return ddtrace_mpbuf_append((user), (const char *)(buf), (len))
#include <msgpack/pack_template.h>

/* Copies `len` <= 32 bytes with at most two overlapping fixed-size moves per size class, inline. Span strings
 * (keys, names, short values) are mostly under 32 bytes, and a libc memcpy call per token was a tenth of the
 * encoder's instructions (callgrind). Never reads or writes outside [src, src + len) / [dst, dst + len). */
static inline __attribute__((always_inline)) void ddtrace_copy_short(char *dst, const void *source, size_t len) {
    const char *src = (const char *)source;
    if (len >= 16) {
        char head[16], tail[16];
        memcpy(head, src, 16); memcpy(tail, src + len - 16, 16);
        memcpy(dst, head, 16); memcpy(dst + len - 16, tail, 16);
    } else if (len >= 8) {
        uint64_t head, tail;
        memcpy(&head, src, 8); memcpy(&tail, src + len - 8, 8);
        memcpy(dst, &head, 8); memcpy(dst + len - 8, &tail, 8);
    } else if (len >= 4) {
        uint32_t head, tail;
        memcpy(&head, src, 4); memcpy(&tail, src + len - 4, 4);
        memcpy(dst, &head, 4); memcpy(dst + len - 4, &tail, 4);
    } else if (len > 0) {
        dst[0] = src[0]; dst[len / 2] = src[len / 2]; dst[len - 1] = src[len - 1];
    }
}

/* A marker byte and a big-endian 64-bit value. */
static inline __attribute__((always_inline)) void ddtrace_mp_put_be64(char *p, unsigned char marker, uint64_t v) {
    p[0] = (char)marker;
    uint64_t be = __builtin_bswap64(v);
    memcpy(p + 1, &be, 8);
}

/* ---- Cursor writers ------------------------------------------------------------------------------------------
 * The encoder writes a chunk through a cursor (TraceEncoder.Cursor) that keeps the write position and the end of
 * the buffer in locals. Writing through `ddtrace_mpbuf *` reloads size, capacity and data after every token (a
 * char store may alias them), which chains each token's address to the previous token's store; with the cursor in
 * registers the tokens of a span are independent (docs/PERFORMANCE.md, "Encoder"). Each writer puts one token at
 * `p`, for which the caller has made room, and returns the new position. */

static inline __attribute__((always_inline)) char *ddtrace_put_raw(char *p, const void *bytes, size_t len) {
    if (__builtin_expect(len <= 32, 1)) ddtrace_copy_short(p, bytes, len);
    else memcpy(p, bytes, len);
    return p + len;
}

/* A string header and body: room for len + 5. */
static inline __attribute__((always_inline)) char *ddtrace_put_str(char *p, const void *bytes, size_t len) {
    if (__builtin_expect(len < 32, 1)) {
        *p++ = (char)(0xa0 | len);
    } else if (len < 256) {
        p[0] = (char)0xd9; p[1] = (char)len; p += 2;
    } else if (len < 65536) {
        p[0] = (char)0xda; p[1] = (char)(len >> 8); p[2] = (char)len; p += 3;
    } else {
        uint32_t be = __builtin_bswap32((uint32_t)len);
        p[0] = (char)0xdb; memcpy(p + 1, &be, 4); p += 5;
    }
    return ddtrace_put_raw(p, bytes, len);
}

/* A Swift small string: up to 15 UTF-8 bytes stored in the 16-byte `String` value itself (the last byte holds its
 * flags and length; see StringLayout.swift). Header plus one fixed 16-byte copy of the whole value, no
 * length-dependent branches; the bytes after the body are scratch that the next token overwrites (hence room for
 * 17, not len + 1). */
static inline __attribute__((always_inline)) char *ddtrace_put_small_string(char *p, const void *value16, size_t len) {
    p[0] = (char)(0xa0 | len);
    memcpy(p + 1, value16, 16);
    return p + 1 + len;
}

/* float64: room for 9. */
static inline __attribute__((always_inline)) char *ddtrace_put_double(char *p, double value) {
    uint64_t bits;
    memcpy(&bits, &value, 8);
    ddtrace_mp_put_be64(p, 0xcb, bits);
    return p + 9;
}

/* An unsigned integer in its smallest form, as msgpack_pack_uint32 writes it (v0.5 string indexes): room for 5. */
static inline __attribute__((always_inline)) char *ddtrace_put_uint32(char *p, uint32_t value) {
    if (value < 128) { p[0] = (char)value; return p + 1; }
    if (value < 256) { p[0] = (char)0xcc; p[1] = (char)value; return p + 2; }
    if (value < 65536) { p[0] = (char)0xcd; p[1] = (char)(value >> 8); p[2] = (char)value; return p + 3; }
    uint32_t be = __builtin_bswap32(value);
    p[0] = (char)0xce; memcpy(p + 1, &be, 4);
    return p + 5;
}

/* An array header in its smallest form (fixarray, array16 or array32): room for 5. */
static inline __attribute__((always_inline)) char *ddtrace_put_array_header(char *p, uint32_t count) {
    if (count < 16) { p[0] = (char)(0x90 | count); return p + 1; }
    if (count < 65536) { p[0] = (char)0xdc; p[1] = (char)(count >> 8); p[2] = (char)count; return p + 3; }
    uint32_t be = __builtin_bswap32(count);
    p[0] = (char)0xdd; memcpy(p + 1, &be, 4);
    return p + 5;
}

/* A map32 (0xdf) or array32 (0xdd) header with a count of 0, patched later: room for 5. */
static inline __attribute__((always_inline)) char *ddtrace_put_header32(char *p, unsigned char marker) {
    p[0] = (char)marker; p[1] = p[2] = p[3] = p[4] = 0;
    return p + 5;
}

/* The buffer-level forms of two writers, for the code that does not hold a cursor (pre-encoded constants, the
 * v0.5 -> v0.4 conversion): make room, write, advance `size`. Return 0, or -1 when the buffer could not grow. */
static inline __attribute__((always_inline)) int ddtrace_mp_string(ddtrace_mpbuf *b, const void *bytes, size_t len) {
    if (b->capacity - b->size < len + 5 && ddtrace_mpbuf_reserve(b, len + 5) != 0) return -1;
    b->size = (size_t)(ddtrace_put_str(b->data + b->size, bytes, len) - b->data);
    return 0;
}

static inline __attribute__((always_inline)) int ddtrace_mp_raw(ddtrace_mpbuf *b, const void *bytes, size_t len) {
    if (b->capacity - b->size < len && ddtrace_mpbuf_reserve(b, len) != 0) return -1;
    b->size = (size_t)(ddtrace_put_raw(b->data + b->size, bytes, len) - b->data);
    return 0;
}

/* The six numeric fields of a v0.5 span (array elements 3-8, no keys), fixed widths as in v0.4: room for 50. */
static inline __attribute__((always_inline)) char *ddtrace_put_span_numbers_v05(
    char *p, uint64_t trace_id, uint64_t span_id, uint64_t parent_id, int64_t start, int64_t duration,
    int32_t error) {
    ddtrace_mp_put_be64(p, 0xcf, trace_id);
    ddtrace_mp_put_be64(p + 9, 0xcf, span_id);
    ddtrace_mp_put_be64(p + 18, 0xcf, parent_id);
    ddtrace_mp_put_be64(p + 27, 0xd3, (uint64_t)start);
    ddtrace_mp_put_be64(p + 36, 0xd3, (uint64_t)duration);
    p[45] = (char)0xd2;
    uint32_t be = __builtin_bswap32((uint32_t)error);
    memcpy(p + 46, &be, 4);
    return p + 50;
}

/* The six numeric fields of a v0.4 span, keys included: trace_id, span_id and parent_id as uint64 (0xcf), start
 * and duration as int64 (0xd3), error as int32 (0xd2). Fixed widths are valid msgpack and what the agent's
 * decoder reads fastest; the block is 98 bytes, followed (with_type_key) by the key of the `type` string that
 * comes next in the encoder's span map: room for 98 (+ 5). */
static inline __attribute__((always_inline)) char *ddtrace_put_span_numbers(
    char *p, uint64_t trace_id, uint64_t span_id, uint64_t parent_id, int64_t start, int64_t duration,
    int32_t error, int with_type_key) {
    /* Each key with its fixstr header (0xa0 | length); split literals stop the hex escape at the header byte. */
    static const char k_trace[] = "\xa8" "trace_id", k_span[] = "\xa7" "span_id", k_parent[] = "\xa9" "parent_id",
                      k_start[] = "\xa5" "start", k_duration[] = "\xa8" "duration", k_error[] = "\xa5" "error";
    memcpy(p, k_trace, 9); ddtrace_mp_put_be64(p + 9, 0xcf, trace_id); p += 18;
    memcpy(p, k_span, 8); ddtrace_mp_put_be64(p + 8, 0xcf, span_id); p += 17;
    memcpy(p, k_parent, 10); ddtrace_mp_put_be64(p + 10, 0xcf, parent_id); p += 19;
    memcpy(p, k_start, 6); ddtrace_mp_put_be64(p + 6, 0xd3, (uint64_t)start); p += 15;
    memcpy(p, k_duration, 9); ddtrace_mp_put_be64(p + 9, 0xd3, (uint64_t)duration); p += 18;
    memcpy(p, k_error, 6); p[6] = (char)0xd2;
    uint32_t be = __builtin_bswap32((uint32_t)error);
    memcpy(p + 7, &be, 4); p += 11;
    if (with_type_key) { memcpy(p, "\xa4" "type", 5); p += 5; }
    return p;
}

/* For the v0.5 -> v0.4 conversion (ddtrace_mp_v05_to_v04), which writes through the buffer. */
static inline __attribute__((always_inline)) int ddtrace_mp_span_numbers(
    ddtrace_mpbuf *b, uint64_t trace_id, uint64_t span_id, uint64_t parent_id, int64_t start, int64_t duration,
    int32_t error) {
    if (b->capacity - b->size < 98 && ddtrace_mpbuf_reserve(b, 98) != 0) return -1;
    char *p = ddtrace_put_span_numbers(b->data + b->size, trace_id, span_id, parent_id, start, duration, error, 0);
    b->size = (size_t)(p - b->data);
    return 0;
}

/* The other constant runs of the encoder's v0.4 span map, one copy each: the 12-entry map header with the first
 * key (room for 9), and the `meta` and `metrics` keys each with the 5-byte map32 header that follows it (count
 * patched later; room for 10 and 13). */
static inline __attribute__((always_inline)) char *ddtrace_put_v04_span_head(char *p) {
    static const char head[] = "\x8c\xa7" "service";
    memcpy(p, head, 9);
    return p + 9;
}

static inline __attribute__((always_inline)) char *ddtrace_put_v04_meta_head(char *p) {
    static const char head[] = "\xa4" "meta" "\xdf\0\0\0\0";
    memcpy(p, head, 10);
    return p + 10;
}

static inline __attribute__((always_inline)) char *ddtrace_put_v04_metrics_head(char *p) {
    static const char head[] = "\xa7" "metrics" "\xdf\0\0\0\0";
    memcpy(p, head, 13);
    return p + 13;
}

/* ---- /v0.5/traces ----------------------------------------------------------------------------------------
 * A v0.5 payload is `[dictionary, traces]`: every string appears once in `dictionary` (an array of str) and spans
 * refer to it by index. The flusher writes `traces` into an ordinary ddtrace_mpbuf as for v0.4 and interns strings
 * into a ddtrace_strtab; at send time the request body is `0x92`, the table's array, then `traces` (sent as two
 * iovecs, so the traces are never copied). Index 0 is always "" (the agent's decoder and dd-trace-py rely on it
 * for unset fields). */
/* Where an interned string's bytes are in the dictionary (for comparisons on a hash match). */
typedef struct ddtrace_strtab_entry {
    uint32_t offset;
    uint32_t length;
} ddtrace_strtab_entry;

typedef struct ddtrace_strtab {
    /* The dictionary array: a 5-byte array32 header (patched by ddtrace_strtab_finish), then each string
     * msgpack-encoded in index order. */
    ddtrace_mpbuf strings;
    uint32_t count;
    /* Open addressing over `slot_mask + 1` slots: 0 = empty, else (hash << 32) | (index + 1). */
    uint64_t *slots;
    uint32_t slot_mask;
    /* Per index. */
    ddtrace_strtab_entry *entries;
    uint32_t entry_capacity;
    int failed;
} ddtrace_strtab;

/* Returns 0, or -1 if memory could not be allocated (then `failed` is set and interning returns 0). */
int ddtrace_strtab_init(ddtrace_strtab *t, uint32_t initial_entries);
void ddtrace_strtab_destroy(ddtrace_strtab *t);
/* Back to the dictionary `[""]`, keeping the memory. */
void ddtrace_strtab_reset(ddtrace_strtab *t);
/* The index of `bytes` in the dictionary, adding it if new. Returns 0 (the empty string) and sets `failed` when
 * memory runs out; the payload is then dropped and counted, like an encoding failure in v0.4. */
uint32_t ddtrace_strtab_intern(ddtrace_strtab *t, const void *bytes, size_t len);
/* Patches the dictionary's element count into its header. */
void ddtrace_strtab_finish(ddtrace_strtab *t);

/* Rewrites a v0.5 payload (its dictionary array and its traces array, as the encoder produced them) as a v0.4
 * payload appended to `out` (chunk array with a 5-byte array32 header, like the encoder's), for an agent that answered 404/415 to /v0.5/traces: the spans already encoded are
 * sent rather than dropped. Returns 0, or -1 if the input is not a v0.5 payload this tracer wrote (or memory ran
 * out); `out` is then in an unspecified state. */
int ddtrace_mp_v05_to_v04(const char *dictionary, size_t dictionary_len, const char *traces, size_t traces_len,
                          ddtrace_mpbuf *out);

/* For agent stand-ins (the benchmarks' and `dd-trace bench --sink --verify`): checks that `data` is one whole
 * trace payload as the agent reads it and returns its span count, or -1. v0.4 (`v05` == 0): an array of chunks,
 * each an array of span maps whose keys are strings and which carry trace_id, span_id, start and duration. v0.5:
 * `[strings, chunks]`, the table an array of strings, each span an array of 12 whose service, name and resource
 * are indexes into the table. Every value is walked (nesting up to 64), nothing may follow the payload. Written
 * independently of the encoder so that a stand-in checks what arrived rather than trusting the sender. */
long ddtrace_mp_count_spans(const char *data, size_t len, int v05);

#ifdef __cplusplus
}
#endif
#endif
