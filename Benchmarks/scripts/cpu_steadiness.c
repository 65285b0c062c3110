// How steady is this machine? Each of 40 rounds times three loops that do nothing of the tracer, and prints their
// cost per step, then the spread of each:
//  - the core: a fixed chain of dependent multiplies and shifts (registers only: no memory, no system calls). It
//    uses a fraction of the core's width, so it sees the core's clock, hardly what else runs on the core;
//  - the core at full width: eight independent chains, more work per cycle than the core can issue, as the
//    encoder (about 4 instructions per cycle). It slows when a thread on the same physical core (an SMT sibling:
//    on a VM, another tenant's vCPU) takes issue slots. On this machine class it has measured 1.5x slower in some
//    rounds while the dependent chain stayed within 5 %, and the encoder's two speeds follow it;
//  - memory: a chain of dependent loads, each from a random cache line of a 4 MiB buffer: beyond a core's L2 (1 MiB
//    on the AMD EPYC machines here), within the L3 (32 MiB) that the VM shares with the host's other tenants. From
//    the L3 a load takes about 20 ns; a line another tenant's work has evicted comes from DRAM, about 170 ns.
// On a steady machine the rounds agree within a few percent. On a shared VM, a spread of tens of percent means
// benchmark medians taken at the same time will move by as much, whatever the code does. Pin it with `taskset -c N`
// to see one vCPU: the two vCPUs of a VM need not be in the same phase. See docs/PERFORMANCE.md, "Run-to-run
// variation".
//
//   cc -O2 -o /tmp/cpu_steadiness Benchmarks/scripts/cpu_steadiness.c && /tmp/cpu_steadiness

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

enum { rounds = 40, core_steps = 20000000, memory_steps = 2000000, line_words = 8 };

/* Eight independent chains of two single-cycle operations: more work per cycle than the core can issue, so this
 * loop runs at the core's full width, as the encoder does (about 4 instructions per cycle), where the dependent
 * chain above uses a fraction of it. A thread that shares the physical core (an SMT sibling: another tenant's
 * vCPU) takes issue slots from this loop, hardly from the chain. */
__attribute__((optimize("no-tree-vectorize", "no-tree-slp-vectorize"))) static double wide_round(void) {
    uint64_t x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint64_t start = now_ns();
    for (long i = 0; i < core_steps; i++) {
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) x[k] = (x[k] + 0x9E3779B97F4A7C15u) ^ (x[k] >> 3);
    }
    volatile uint64_t sink = x[0] + x[1] + x[2] + x[3] + x[4] + x[5] + x[6] + x[7];
    (void)sink;
    return (double)(now_ns() - start) / core_steps;
}

static double core_round(void) {
    uint64_t a = 1, b = 2, c = 3, d = 4;
    uint64_t start = now_ns();
    for (long i = 0; i < core_steps; i++) {
        a = a * 6364136223846793005u + b;
        b ^= a >> 7;
        c += a ^ d;
        d = (d << 1) | (c >> 63);
    }
    volatile uint64_t sink = a + b + c + d;
    (void)sink;
    return (double)(now_ns() - start) / core_steps;
}

/* One cycle through every line of the buffer in a random order (Sattolo's shuffle), so that each load depends on
 * the one before and neither the prefetcher nor out-of-order execution can hide its latency. */
static uint64_t *make_chain(uint32_t lines) {
    uint64_t *buffer = aligned_alloc(64, (size_t)lines * 64);
    uint32_t *order = malloc((size_t)lines * sizeof *order);
    if (!buffer || !order) exit(1);
    for (uint32_t i = 0; i < lines; i++) order[i] = i;
    uint64_t state = 0x9E3779B97F4A7C15u;
    for (uint32_t i = lines - 1; i > 0; i--) {
        state = state * 6364136223846793005u + 1442695040888963407u;
        uint32_t j = (uint32_t)((state >> 33) % i);
        uint32_t t = order[i]; order[i] = order[j]; order[j] = t;
    }
    for (uint32_t i = 0; i < lines; i++) buffer[(size_t)order[i] * line_words] = (uint64_t)order[(i + 1) % lines] * line_words;
    free(order);
    return buffer;
}

static double memory_round(const uint64_t *chain) {
    uint64_t at = 0;
    uint64_t start = now_ns();
    for (long i = 0; i < memory_steps; i++) at = chain[at];
    volatile uint64_t sink = at;
    (void)sink;
    return (double)(now_ns() - start) / memory_steps;
}

static void report(const char *name, const char *unit, const double *values) {
    double fastest = 1e9, slowest = 0;
    printf("%s:", name);
    for (int round = 0; round < rounds; round++) {
        if (values[round] < fastest) fastest = values[round];
        if (values[round] > slowest) slowest = values[round];
        printf(" %.2f", values[round]);
    }
    printf("\n%s, %s: fastest %.2f, slowest %.2f, slowest/fastest %.2fx\n", name, unit, fastest, slowest,
           slowest / fastest);
}

int main(void) {
    uint64_t *chain = make_chain((4 << 20) / 64);
    memory_round(chain); /* fault the buffer in */
    double core[rounds], wide[rounds], memory[rounds];
    for (int round = 0; round < rounds; round++) {
        core[round] = core_round();
        wide[round] = wide_round();
        memory[round] = memory_round(chain);
    }
    report("core", "ns per iteration", core);
    report("core, full width", "ns per iteration", wide);
    report("memory (4 MiB)", "ns per dependent load", memory);
    free(chain);
    return 0;
}
