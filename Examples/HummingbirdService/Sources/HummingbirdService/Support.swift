import DDTrace
import Foundation
import Logging

/// Command-line options: `frontend|backend --port N [--backend URL]`.
struct Options {
    enum Mode: String {
        case frontend, backend
    }

    struct UsageError: Error, CustomStringConvertible {
        let description: String
    }

    let mode: Mode
    let port: Int
    let backend: String

    init(_ arguments: [String]) throws {
        let usage = "usage: hummingbird-service frontend|backend --port N [--backend http://127.0.0.1:8081]"
        guard arguments.count >= 2, let mode = Mode(rawValue: arguments[1]) else { throw UsageError(description: usage) }
        self.mode = mode
        var port = mode == .frontend ? 8080 : 8081
        var backend = "http://127.0.0.1:8081"
        var rest = arguments.dropFirst(2).makeIterator()
        while let flag = rest.next() {
            guard let value = rest.next() else { throw UsageError(description: usage) }
            switch flag {
            case "--port": port = try Int(value).orThrow(UsageError(description: "bad port \(value)"))
            case "--backend": backend = value
            default: throw UsageError(description: usage)
            }
        }
        self.port = port
        self.backend = backend
    }
}

extension Optional {
    fileprivate func orThrow(_ error: some Error) throws -> Wrapped {
        guard let self else { throw error }
        return self
    }
}

/// One line per record on standard output: `<time> <LEVEL> <label>: <message> <metadata>`, with the correlation keys
/// at the end in dd-trace-py's format, `[dd.service=… dd.env=… dd.version=… dd.trace_id=… dd.span_id=…]`, which
/// Datadog's log pipeline parses.
struct CorrelatedLogHandler: LogHandler {
    let label: String
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .info

    init(label: String, metadataProvider: Logger.MetadataProvider?) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        merged.merge(metadataProvider?.get() ?? [:]) { $1 }
        merged.merge(event.metadata ?? [:]) { $1 }
        let correlation = merged.filter { $0.key.hasPrefix("dd.") }
        let others = merged.filter { !$0.key.hasPrefix("dd.") }.sorted { $0.key < $1.key }
            .map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        var line = "\(Date().ISO8601Format()) \(event.level.rawValue.uppercased()) \(label): \(event.message)"
        if !others.isEmpty { line += " " + others }
        if !correlation.isEmpty {
            line += " " + DDLogCorrelation.format(correlation.mapValues { "\($0)" })
        }
        // One unbuffered write per record: lines are complete even when stdout is a file or a pipe.
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
