// Log correlation: the swift-log metadata provider (DD_LOGS_INJECTION), the text format, and
// `logCorrelationContext()` (ddtrace's get_log_correlation_context).

import Logging
import Synchronization
import Testing
import Tracing

@testable import DDTrace

@Suite("Logging: correlation")
struct LoggingCorrelationTests {
    @Test func recordsInsideASpanCarryTheCorrelationKeys() throws {
        let tracer = try IntegrationTest.offlineTracer(provider: DDTaskLocalContextProvider())
        defer { tracer.shutdown(timeout: .milliseconds(100)) }
        let handler = CapturingLogHandler()
        handler.metadataProvider = tracer.logMetadataProvider
        let logger = Logger(label: "test", factory: { _ in handler })
        logger.info("outside")
        tracer.trace("request") { span in
            logger.info("inside", metadata: ["user": "u-1"])
            let metadata = handler.records.last?.metadata ?? [:]
            #expect(metadata["dd.trace_id"] == .string(span.traceId.hexString))
            #expect(span.traceId.high != 0 && span.traceId.hexString.count == 32)
            #expect(metadata["dd.span_id"] == .string(String(span.spanId)))
            #expect(metadata["dd.service"] == "offline-svc")
            #expect(metadata["dd.env"] == "test")
            #expect(metadata["dd.version"] == "9.9")
            #expect(metadata["user"] == "u-1")
        }
        #expect(handler.records.first?.metadata.isEmpty == true, "no keys outside a span")
    }

    @Test func aSixtyFourBitTraceIdIsDecimal() throws {
        let tracer = try IntegrationTest.offlineTracer(provider: DDTaskLocalContextProvider())
        defer { tracer.shutdown(timeout: .milliseconds(100)) }
        let remote = DDTraceContext(traceId: DDTraceID(high: 0, low: 1234567890123), spanId: 77)
        tracer.withActiveContext(remote) {
            let context = tracer.logCorrelationContext()
            #expect(context["dd.trace_id"] == "1234567890123")
            #expect(context["dd.span_id"] == "77")
        }
        #expect(DDLogCorrelation.traceIdText(DDTraceID(high: 0x6b07_4e7d_0000_0000, low: 0x946e_73b2_ef39_8fa8))
            == "6b074e7d00000000946e73b2ef398fa8")
    }

    @Test func tracingSpansAreCorrelatedEvenWithTheTaskLocalProvider() throws {
        let tracer = try IntegrationTest.offlineTracer(provider: DDTaskLocalContextProvider())
        defer { tracer.shutdown(timeout: .milliseconds(100)) }
        tracer.withSpan("tracing", ofKind: .server) { span in
            #expect(tracer.logCorrelationContext()["dd.span_id"] == String(span.span.spanId))
        }
    }

    @Test func noActiveSpanGivesZerosAndEmptyStrings() throws {
        let tracer = try IntegrationTest.offlineTracer()
        defer { tracer.shutdown(timeout: .milliseconds(100)) }
        #expect(
            tracer.logCorrelationContext()
                == ["dd.trace_id": "0", "dd.span_id": "0", "dd.service": "", "dd.env": "", "dd.version": ""])
    }

    @Test(arguments: ["false", "0", "off", "NO"])
    func logsInjectionCanBeTurnedOff(_ value: String) throws {
        let tracer = try IntegrationTest.offlineTracer(environment: ["DD_LOGS_INJECTION": value])
        defer { tracer.shutdown(timeout: .milliseconds(100)) }
        #expect(!tracer.integrations.logsInjection)
        tracer.trace("request") { _ in
            #expect(tracer.logMetadataProvider.get().isEmpty)
            #expect(tracer.logCorrelationContext()["dd.trace_id"] != "0", "the explicit API still answers")
        }
    }

    @Test func anInvalidLogsInjectionValueKeepsTheDefault() throws {
        let tracer = try IntegrationTest.offlineTracer(environment: ["DD_LOGS_INJECTION": "sometimes"])
        defer { tracer.shutdown(timeout: .milliseconds(100)) }
        #expect(tracer.integrations.logsInjection)
        let diagnostic = try #require(tracer.configurationDiagnostics.first { $0.source == "DD_LOGS_INJECTION" })
        #expect(diagnostic.code == .invalidBoolean)
        #expect(diagnostic.fallback == "using the default true")
        tracer.trace("request") { _ in #expect(tracer.logMetadataProvider.get().count == 5) }
    }

    @Test func textFormatIsDDTracePys() {
        let context = [
            "dd.service": "checkout", "dd.env": "prod", "dd.version": "1.2", "dd.trace_id": "abc", "dd.span_id": "7",
        ]
        #expect(
            DDLogCorrelation.format(context)
                == "[dd.service=checkout dd.env=prod dd.version=1.2 dd.trace_id=abc dd.span_id=7]")
        #expect(DDLogCorrelation.format([:]) == "[dd.service= dd.env= dd.version= dd.trace_id= dd.span_id=]")
    }
}

/// Keeps every record's merged metadata (handler metadata, provider, record).
final class CapturingLogHandler: LogHandler, @unchecked Sendable {
    struct Record {
        let message: String
        let metadata: Logger.Metadata
    }

    private let storage = Mutex<[Record]>([])
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .trace

    var records: [Record] { storage.withLock { $0 } }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        merged.merge(metadataProvider?.get() ?? [:]) { $1 }
        merged.merge(event.metadata ?? [:]) { $1 }
        storage.withLock { $0.append(Record(message: "\(event.message)", metadata: merged)) }
    }
}
