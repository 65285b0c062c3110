/* The physical floor of one span (see ddtrace_floor.h): what a span costs when nothing but the irreducible work
 * is done, in plain C, for the benchmarks to compare the Swift hot path against. */
#include "ddtrace_floor.h"
#include "ddtrace_runtime.h"

#include <stdlib.h>
#include <string.h>

#define SLOT_COUNT 256u   /* = the drain interval, so every slot written is read by the drain before reuse */
#define RING_SIZE 4096u   /* power of two: index by mask */
#define DRAIN_EVERY 256u

/* One span record, a cache-line multiple so that consecutive slots never share a line. */
typedef struct __attribute__((aligned(64))) floor_slot {
    uint64_t trace_id;
    uint64_t span_id;
    uint64_t parent_id;
    int64_t start_ns;
    int64_t duration_ns;
    const char *tag_key[2];
    const char *tag_value[2];
    unsigned char spare[256 - 9 * 8];
} floor_slot;

_Static_assert(sizeof(floor_slot) == 256, "a slot is 256 bytes");

typedef struct floor_ring {
    uint32_t entries[RING_SIZE];
    /* Producer and consumer indices on their own lines, as a real cross-thread ring would have them. */
    __attribute__((aligned(64))) uint64_t tail;
    __attribute__((aligned(64))) uint64_t head;
} floor_ring;

/* wyrand: one add and one 64x64->128 multiply per id; the tracer's span ids come from the same generator. */
static inline uint64_t wyrand(uint64_t *state) {
    *state += 0xa0761d6478bd642fULL;
    __uint128_t m = (__uint128_t)*state * (*state ^ 0xe7037ed1a0b428dbULL);
    return (uint64_t)(m >> 64) ^ (uint64_t)m;
}

/* The flusher's side: consume everything published so far. Acquire on the tail pairs with the producer's
 * release, so the slot contents read here are the ones written before the publish. */
static uint64_t drain(floor_ring *ring, floor_slot *slots) {
    uint64_t sum = 0;
    uint64_t head = __atomic_load_n(&ring->head, __ATOMIC_RELAXED);
    uint64_t tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
    for (; head != tail; head++) {
        const floor_slot *s = &slots[ring->entries[head & (RING_SIZE - 1)]];
        sum += s->span_id ^ (uint64_t)s->duration_ns ^ (uint64_t)(uintptr_t)s->tag_value[1];
    }
    /* Release: the producer may reuse the slots only after our reads of them. */
    __atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
    return sum;
}

uint64_t ddtrace_floor_spans(uint64_t iterations) {
    static const char k0[] = "env", v0[] = "prod", k1[] = "component", v1[] = "swift";

    floor_slot *slots = (floor_slot *)aligned_alloc(64, sizeof(floor_slot) * SLOT_COUNT);
    floor_ring *ring = (floor_ring *)aligned_alloc(64, sizeof(floor_ring));
    if (!slots || !ring) {
        free(slots);
        free(ring);
        return 0;
    }
    memset(slots, 0, sizeof(floor_slot) * SLOT_COUNT);
    memset(ring, 0, sizeof *ring);

    uint64_t rng;
    ddtrace_random_bytes(&rng, sizeof rng);
    uint64_t trace_id = wyrand(&rng) | 1;
    uint64_t parent_id = 0;
    uint64_t checksum = 0;

    for (uint64_t i = 0; i < iterations; i++) {
        int64_t start = ddtrace_monotonic_ns();
        uint64_t span_id = wyrand(&rng);
        uint64_t tail = __atomic_load_n(&ring->tail, __ATOMIC_RELAXED); /* only this thread writes it */
        uint32_t index = (uint32_t)(tail % SLOT_COUNT);
        floor_slot *s = &slots[index];
        s->trace_id = trace_id;
        s->span_id = span_id;
        s->parent_id = parent_id;
        s->start_ns = start;
        s->tag_key[0] = k0;
        s->tag_value[0] = v0;
        s->tag_key[1] = k1;
        s->tag_value[1] = v1;
        int64_t end = ddtrace_monotonic_ns();
        s->duration_ns = end - start;
        ring->entries[tail & (RING_SIZE - 1)] = index;
        /* Publish: the slot and the ring entry become visible to the consumer no earlier than the new tail. */
        __atomic_store_n(&ring->tail, tail + 1, __ATOMIC_RELEASE);
        parent_id = span_id;
        if ((tail + 1) % DRAIN_EVERY == 0) checksum += drain(ring, slots);
    }
    checksum += drain(ring, slots);
    checksum ^= __atomic_load_n(&ring->tail, __ATOMIC_RELAXED);

    free(slots);
    free(ring);
    return checksum;
}
