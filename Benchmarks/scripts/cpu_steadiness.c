// How steady is this machine's CPU? Times a fixed chain of dependent multiplies and shifts (registers only: no
// memory, no system calls, nothing of the tracer) in 40 rounds of 20 million iterations, and prints ns per
// iteration for each round, then the spread. On a steady machine the rounds agree within a few percent; on a shared
// VM, a spread of tens of percent means benchmark medians taken at the same time will move by as much, whatever
// the code does (docs/PERFORMANCE.md, "Run-to-run variation").
//
//   cc -O2 -o /tmp/cpu_steadiness Benchmarks/scripts/cpu_steadiness.c && /tmp/cpu_steadiness

#include <stdint.h>
#include <stdio.h>
#include <time.h>

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

int main(void) {
    enum { rounds = 40, iterations = 20000000 };
    double fastest = 1e9, slowest = 0;
    volatile uint64_t sink;
    for (int round = 0; round < rounds; round++) {
        uint64_t a = 1, b = 2, c = 3, d = 4;
        uint64_t start = now_ns();
        for (long i = 0; i < iterations; i++) {
            a = a * 6364136223846793005u + b;
            b ^= a >> 7;
            c += a ^ d;
            d = (d << 1) | (c >> 63);
        }
        sink = a + b + c + d;
        double ns = (double)(now_ns() - start) / iterations;
        if (ns < fastest) fastest = ns;
        if (ns > slowest) slowest = ns;
        printf("%.2f%s", ns, round + 1 < rounds ? " " : "\n");
    }
    (void)sink;
    printf("ns per iteration: fastest %.2f, slowest %.2f, slowest/fastest %.2fx\n", fastest, slowest, slowest / fastest);
    return 0;
}
