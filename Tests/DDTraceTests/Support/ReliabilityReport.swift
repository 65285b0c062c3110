// Rows for docs/RELIABILITY.md. Tests that exercise a fault or a bad input record what they tried, what happened
// and their figures; `scripts/reliability-report.sh` runs them with DDTRACE_RELIABILITY_REPORT set to a file and
// renders the rows (scripts/render_reliability.py). Without the variable, recording does nothing.

import Foundation

@_spi(Benchmarks) @testable import DDTrace

#if canImport(Glibc)
    import Glibc
#endif

enum ReliabilityReport {
    private static let lock = LockedValue(())

    /// Appends one row: `area` groups rows in the document, `fault` is what was tried, `outcome` what happened.
    static func record(area: String, fault: String, outcome: String, figures: [(String, String)] = []) {
        guard let path = ProcessInfo.processInfo.environment["DDTRACE_RELIABILITY_REPORT"], !path.isEmpty else { return }
        let row: [String: Any] = [
            "area": area, "fault": fault, "outcome": outcome,
            "figures": figures.map { ["name": $0.0, "value": $0.1] },
        ]
        guard var line = try? JSONSerialization.data(withJSONObject: row, options: [.sortedKeys]) else { return }
        line.append(UInt8(ascii: "\n"))
        lock.withLock { _ in
            if !FileManager.default.fileExists(atPath: path) {
                _ = FileManager.default.createFile(atPath: path, contents: nil)
            }
            guard let handle = FileHandle(forWritingAtPath: path) else { return }
            handle.seekToEndOfFile()
            handle.write(line)
            try? handle.close()
        }
    }

    /// Resident memory of this process in MiB (/proc/self/statm).

    /// Median ns per span of `batches` batches of `perBatch` root spans with 2 tags, on the calling thread, with
    /// `pause` between batches (untimed) so that a debug-build flusher keeps up and the pool is not the subject.
    static func hotPathNanoseconds(
        _ tracer: DDTracer, batches: Int = 21, perBatch: Int = 1_000, pause: Duration = .milliseconds(10)
    ) -> Double {
        var samples: [Double] = []
        for batch in 0..<batches {
            if batch > 0 { usleep(UInt32(pause.components.attoseconds / 1_000_000_000_000) + UInt32(pause.components.seconds) * 1_000_000) }
            let start = ContinuousClock.now
            for _ in 0..<perBatch {
                let span = tracer.startSpan("hot.path", ignoreActive: true)
                span.setTag("http.method", "GET")
                span.setTag("component", "reliability")
                span.finish()
            }
            let elapsed = ContinuousClock.now - start
            samples.append(Double(elapsed.components.attoseconds / 1_000_000_000 + elapsed.components.seconds * 1_000_000_000) / Double(perBatch))
        }
        return samples.sorted()[samples.count / 2]
    }

    static func format(_ value: Double, digits: Int = 0) -> String { String(format: "%.\(digits)f", value) }
}
