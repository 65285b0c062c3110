// The fixed-memory histogram behind `dd-trace bench`'s ns/span median and p99 (DDLatencyHistogram).

import Foundation
import Testing

@_spi(Benchmarks) import DDTrace

@Suite("dd-trace bench's latency histogram")
struct LatencyHistogramTests {
    /// A deterministic spread like batch timings: mostly 60-200, a tail up to 100,000.
    private func timings(_ count: Int) -> [Double] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let unit = Double(state >> 11) / Double(1 << 53)
            return unit < 0.98 ? 60 + 140 * unit : 200 + 99_800 * (unit - 0.98) / 0.02
        }
    }

    @Test("percentiles are within 0.5 % of the exact nearest-rank ones")
    func percentilesAreClose() {
        let values = timings(100_000)
        var histogram = DDLatencyHistogram()
        for value in values { histogram.record(value) }
        let sorted = values.sorted()
        #expect(histogram.count == 100_000)
        for percent in [1.0, 50, 90, 99, 99.9, 100] {
            let exact = sorted[Int((percent / 100 * Double(sorted.count)).rounded(.up)) - 1]
            let reported = histogram.percentile(percent)
            #expect(abs(reported - exact) / exact <= 0.0051, "p\(percent): \(reported) against \(exact)")
        }
    }

    @Test("merging equals recording everything in one; nothing recorded reports 0; the ends are clamped")
    func mergeAndEdges() {
        let values = timings(10_000)
        var whole = DDLatencyHistogram()
        var first = DDLatencyHistogram()
        var second = DDLatencyHistogram()
        for (index, value) in values.enumerated() {
            whole.record(value)
            if index % 3 == 0 { first.record(value) } else { second.record(value) }
        }
        first.merge(second)
        #expect(first.count == whole.count)
        for percent in [10.0, 50, 99] { #expect(first.percentile(percent) == whole.percentile(percent)) }
        #expect(DDLatencyHistogram().percentile(50) == 0)
        var edges = DDLatencyHistogram()
        edges.record(0)
        edges.record(1e12)
        #expect(edges.percentile(50) < 1.01)
        #expect(edges.percentile(100) > 0.99e10)
    }
}
