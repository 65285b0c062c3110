// Entry points for the libFuzzer harnesses in Fuzz/ (see docs/FUZZING.md). Everything here is `@_spi(Fuzzing)`:
// import it with `@_spi(Fuzzing) import DDTrace`. It is not part of the supported API.
//
// Each entry point turns raw fuzz bytes into the input of a parser that reads hostile or untrusted data, runs
// the same code the tracer runs, and checks invariants with `preconditionFailure`, so that a broken invariant
// is a crash libFuzzer reports and keeps, exactly like a trap inside the parser. The harness logic lives in the
// library (not in the fuzz executables) so that Tests/DDTraceTests can replay crashing inputs through the very
// same checks.
//
// - `propagation(_:)`: incoming request headers through `DDTracer.extract` and `DDHTTPPropagator.extract` in
//   every style, then `inject` of what was extracted (and of contexts carrying the input's strings).
// - `configuration(_:)`: an environment through the configuration resolver, the propagation, sampling and
//   integration settings, and the sampling rules matched against spans named after the input.
// - `agentResponse(_:)`: an agent response through the C HTTP parser, `parseRateByService` and the sampler's
//   agent rates.

import CDDTraceShims

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

@_spi(Fuzzing) public enum DDFuzzing {
    // MARK: Input formats

    /// Header lines separated by `\n`, each `name:value` split at the first colon (lines without one are
    /// skipped). Bytes are decoded as UTF-8 with invalid sequences replaced, as a server framework would hand
    /// them over; nothing is trimmed, so whitespace and control characters reach the parsers.
    public static func headers(from bytes: UnsafeRawBufferPointer) -> [String: String] {
        var headers: [String: String] = [:]
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = String(decoding: line[..<colon], as: UTF8.self)
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self)
            headers[name] = value
        }
        return headers
    }

    /// Variables separated by `\n`, each `NAME=VALUE` split at the first `=` (lines without one are skipped).
    public static func environment(from bytes: UnsafeRawBufferPointer) -> [String: String] {
        var environment: [String: String] = [:]
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else { continue }
            environment[String(decoding: line[..<equals], as: UTF8.self)] =
                String(decoding: line[(equals + 1)...], as: UTF8.self)
        }
        return environment
    }

    // MARK: Invariants

    /// Reports a broken invariant as a crash, with the input's interpretation, so libFuzzer keeps the input.
    private static func violated(_ message: @autoclosure () -> String) -> Never {
        preconditionFailure("fuzzing invariant violated: \(message())")
    }

    /// C0 controls (CR, LF, NUL…), DEL and C1 controls: none may reach a header value we send, or a proxy or the
    /// next service could read a second header (or a second request) out of it.
    static func containsControlCharacter(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
    }
}

// MARK: - Propagation

extension DDFuzzing {
    private static let allStyles: [DDPropagationStyle] = [.datadog, .tracecontext, .b3multi, .b3, .baggage]

    /// The tracers whose `extract`/`inject` are fuzzed: the real entry points, configured from an environment
    /// as an application would be. Disabled, so that no flusher thread runs; propagation does not depend on it.
    private static let tracers: [DDTracer] = [
        tracer([
            "DD_TRACE_PROPAGATION_STYLE": "datadog,tracecontext,b3multi,b3,baggage",
        ]),
        // The other order, first-match extraction and a short `x-datadog-tags` limit reach other branches of the
        // reconciliation and of the tag limits.
        tracer([
            "DD_TRACE_PROPAGATION_STYLE_EXTRACT": "baggage,b3,b3multi,tracecontext,datadog",
            "DD_TRACE_PROPAGATION_STYLE_INJECT": "tracecontext,datadog,baggage",
            "DD_TRACE_PROPAGATION_EXTRACT_FIRST": "true",
            "DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH": "40",
        ]),
    ]

    private static func tracer(_ environment: [String: String]) -> DDTracer {
        var configuration = DDTracerConfiguration(
            environment: environment.merging(["DD_TRACE_ENABLED": "false", "DD_SERVICE": "fuzz"]) { $1 })
        configuration.strict = true
        do {
            return try DDTracer(configuration: configuration)
        } catch {
            preconditionFailure("the fuzzing tracer's configuration is invalid: \(error)")
        }
    }

    /// One propagator per style, for the round trips: what one style extracted, it must read back after injecting.
    private static let singleStyle: [(style: DDPropagationStyle, propagator: DDHTTPPropagator)] = allStyles.map {
        ($0, DDHTTPPropagator(inject: [$0], extract: [$0]))
    }
    private static let everyStyle = DDHTTPPropagator(inject: allStyles, extract: allStyles)

    /// Extracts the headers of `bytes` (see `headers(from:)`) with every configuration, injects each result
    /// again, and checks that:
    /// - a context either identifies a trace (non-zero trace id), or carries only baggage (zero ids);
    /// - injected header names are lowercase tokens and values hold no control character (CR, LF, NUL…);
    /// - what one style extracted comes back from its own injected headers with the same ids and priority;
    /// - contexts whose origin, tracestate members, tags and baggage are the input's raw strings inject safely too.
    public static func propagation(_ bytes: UnsafeRawBufferPointer) {
        let headers = headers(from: bytes)
        for tracer in tracers {
            let context = tracer.extract(from: headers)
            if let context {
                checkExtracted(context, headers)
                var injected: [String: String] = [:]
                tracer.inject(context, into: &injected)
                checkInjected(injected, from: context)
            }
        }
        for (style, propagator) in singleStyle {
            guard let context = propagator.extract(from: headers) else { continue }
            checkExtracted(context, headers)
            var injected: [String: String] = [:]
            let result = propagator.inject(context, into: &injected)
            checkInjected(injected, from: context)
            checkRoundTrip(style, propagator, context, injected, result)
        }
        checkHostileContexts(headers)
    }

    private static func checkExtracted(_ context: DDTraceContext, _ headers: [String: String]) {
        if !context.hasTrace {
            // `extract` makes a trace-less context only to carry baggage.
            guard context.spanId == 0, !context.baggage.isEmpty, context.terminatedContexts.isEmpty else {
                violated("a context without trace id that is not baggage-only: \(context) from \(headers)")
            }
        }
        for terminated in context.terminatedContexts where !terminated.hasTrace || terminated.spanId == 0 {
            violated("a terminated context without trace or span id: \(terminated) from \(headers)")
        }
        for (key, value) in context.baggage where key.isEmpty || value.isEmpty {
            violated(
                "an empty baggage key or value (\(key.debugDescription)=\(value.debugDescription)) from \(headers)")
        }
    }

    private static func checkInjected(_ injected: [String: String], from context: DDTraceContext) {
        for (name, value) in injected {
            guard !name.isEmpty, name.utf8.allSatisfy({ isLowercaseTokenByte($0) }) else {
                violated("injected header name \(name.debugDescription) is not a lowercase token (context \(context))")
            }
            if containsControlCharacter(value) {
                violated(
                    "injected header \(name) has a control character: \(value.debugDescription) (context \(context))")
            }
        }
    }

    private static func isLowercaseTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// What a single style extracted must survive its own inject and extract: the trace and parent ids, the
    /// priority and (datadog) the origin. Baggage must keep its item count.
    private static func checkRoundTrip(
        _ style: DDPropagationStyle, _ propagator: DDHTTPPropagator, _ original: DDTraceContext,
        _ injected: [String: String], _ result: DDInjectionResult
    ) {
        let again = propagator.extract(from: injected)
        func fail(_ what: String) -> Never {
            violated("\(style) round trip lost \(what): \(original) -> \(injected) -> \(String(describing: again))")
        }
        if style == .baggage {
            // Items are re-encoded (keys and values trimmed, `%` kept literal, so `a%20` and `a` may meet), so
            // only this is stable: every header written is read back, and nothing is read without one.
            if (injected[BaggageHeader.name] != nil) != (again?.baggage.isEmpty == false) { fail("the baggage") }
            return
        }
        // Without a parent id nothing but baggage is injected: there is nothing to read back.
        guard original.hasTrace, original.spanId != 0 else { return }
        guard let again else { fail("the whole context") }
        if again.spanId != original.spanId { fail("the span id") }
        if again.samplingPriority != original.samplingPriority { fail("the sampling priority") }
        switch style {
        case .datadog:
            if again.traceId.low != original.traceId.low { fail("the trace id") }
            // The high half travels in `x-datadog-tags` (`_dd.p.tid`), which a propagation error suppresses.
            let tagsWritten = injected[DatadogHeaders.tags] != nil
            if tagsWritten && again.traceId != original.traceId { fail("the trace id's high half") }
            if result.propagationError == nil, original.propagationError == nil, again.traceId != original.traceId {
                fail("the trace id's high half without a propagation error")
            }
            if again.origin != original.origin { fail("the origin") }
        case .tracecontext:
            if again.traceId != original.traceId { fail("the trace id") }
            if again.lastDatadogParentId != original.lastDatadogParentId { fail("the last Datadog parent id") }
            // The rebuilt `dd=` member may be longer than the received one and push members out of the 512-byte
            // budget, so the members read back must be a subsequence of those received, never anything new.
            var remaining = original.tracestateOtherVendors[...]
            for member in again.tracestateOtherVendors {
                guard let position = remaining.firstIndex(of: member) else { fail("the other vendors' tracestate") }
                remaining = remaining[(position + 1)...]
            }
        default:
            if again.traceId != original.traceId { fail("the trace id") }
        }
    }

    /// The public fields of `DDTraceContext` may hold anything an application puts there; this sets them to the
    /// input's raw header names and values and checks that injection still writes only safe headers.
    private static func checkHostileContexts(_ headers: [String: String]) {
        let strings = Array(headers.keys.sorted().prefix(4)) + Array(headers.values.sorted().prefix(4))
        guard !strings.isEmpty else { return }
        var context = DDTraceContext(
            traceId: DDTraceID(high: 1, low: 2), spanId: 3, samplingPriority: .userKeep, origin: strings[0])
        context.tracestateOtherVendors = strings
        for (index, text) in strings.enumerated() {
            context.propagatedTags["_dd.p.k\(index)"] = text
            context.propagatedTags["_dd.p." + text] = "v"
            context.baggage[text] = text
        }
        var injected: [String: String] = [:]
        everyStyle.inject(context, into: &injected)
        checkInjected(injected, from: context)
    }
}

// MARK: - Configuration

extension DDFuzzing {
    /// Resolves the environment of `bytes` (see `environment(from:)`) with every component that reads `DD_*`
    /// variables, and checks that each produces usable settings plus diagnostics (never a trap), that the
    /// resolved values are within their documented limits, and that strict and lenient modes agree with the
    /// diagnostics. The parsed sampling rules are then matched against spans whose fields are the input's values.
    public static func configuration(_ bytes: UnsafeRawBufferPointer) {
        let environment = environment(from: bytes)
        let configuration = DDTracerConfiguration(environment: environment)

        // The resolver itself always yields a configuration; `resolve()` decides whether to throw from its log.
        let noSocket: (String) -> Bool = { _ in false }
        var resolver = ConfigurationResolver(configuration: configuration, socketExists: noSocket)
        let resolved = resolver.resolveAll()
        checkResolved(resolved, environment)
        let log = resolver.log
        let hasFatal = log.diagnostics.contains { $0.fallback == "rejecting the configuration" }
        if log.hasFatal != hasFatal { violated("fatal flag and fatal diagnostics disagree for \(environment)") }
        for diagnostic in log.diagnostics { checkDiagnostic(diagnostic, environment) }

        // Lenient resolution is `resolveAll()` above; strict resolution must fail exactly when there is a diagnostic
        // (a fatal one fails lenient resolution too, which the fatal flag above covers).
        var strict = configuration
        strict.strict = true
        switch Result(catching: { () throws(DDConfigurationError) in try strict.resolve(socketExists: noSocket) }) {
        case .success:
            if !log.diagnostics.isEmpty { violated("strict resolution accepted diagnostics for \(environment)") }
        case .failure(let error):
            if error.diagnostics != log.diagnostics {
                violated("strict resolution threw other diagnostics than the resolver's for \(environment): \(error)")
            }
        }

        let propagator = DDHTTPPropagator(environment: environment)
        for styles in [propagator.injectStyles, propagator.extractStyles]
        where styles.contains(.none) || Set(styles).count != styles.count {
            violated("propagation styles not normalized: \(styles) for \(environment)")
        }
        if !(0...65_536).contains(propagator.xDatadogTagsMaxLength) {
            violated("x-datadog-tags limit \(propagator.xDatadogTagsMaxLength) for \(environment)")
        }
        for diagnostic in propagator.diagnostics { checkDiagnostic(diagnostic, environment) }

        let integrations = DDIntegrationSettings(environment: environment)
        for diagnostic in integrations.diagnostics { checkDiagnostic(diagnostic, environment) }
        for tag in integrations.http.headerTags where tag.header.isEmpty || tag.tagName?.isEmpty == true {
            violated("empty header tag \(tag) for \(environment)")
        }

        // A fixed clock: the limiters must behave the same on every run of an input.
        let sampling = SamplingConfiguration(environment: environment, clock: { 1_000_000_000 })
        for diagnostic in sampling.diagnostics { checkDiagnostic(diagnostic, environment) }
        for rule in sampling.traceRules where !(rule.sampleRate >= 0 && rule.sampleRate <= 1) {
            violated("trace rule rate \(rule.sampleRate) for \(environment)")
        }
        for rule in sampling.spanRules {
            if !(rule.sampleRate >= 0 && rule.sampleRate <= 1) { violated("span rule rate for \(environment)") }
            if let limit = rule.maxPerSecond, !(limit.isFinite && limit >= 0) {
                violated("span rule limit \(limit) for \(environment)")
            }
        }
        matchSamplingRules(sampling, environment)
    }

    private static func checkResolved(_ c: ResolvedConfiguration, _ environment: [String: String]) {
        func check(_ condition: Bool, _ what: String) {
            if !condition { violated("resolved \(what) out of its limits for \(environment): \(c)") }
        }
        check(!c.service.isEmpty, "service")
        for text in [c.env, c.version].compactMap({ $0 }) {
            check(
                !text.isEmpty && text.count <= TextRule.tagValue.maxLength && !containsControlCharacter(text),
                "env/version")
        }
        var keys = Set<String>()
        for (key, value) in c.globalTags {
            check(!key.isEmpty && !value.isEmpty && !TagEntry.identityKeys.contains(key), "global tag")
            check(keys.insert(key).inserted, "unique global tag keys")
        }
        check((1...3_600_000).contains(c.agentTimeoutMilliseconds), "agent timeout")
        check((10_000_000...60_000_000_000).contains(c.flushIntervalNanoseconds), "flush interval")
        check(IntegerRule.spanPoolSize.range.contains(c.spanPoolSize), "span pool size")
        check(IntegerRule.ringCapacity.range.contains(c.ringCapacity) && c.ringCapacity.nonzeroBitCount == 1, "ring")
        check(IntegerRule.maxPayloadSize.range.contains(c.maxPayloadBytes), "max payload")
        check(
            c.bufferCapBytes >= c.maxPayloadBytes && c.bufferCapBytes <= IntegerRule.bufferSize.range.upperBound,
            "buffer")
        check(IntegerRule.partialFlushMinSpans.range.contains(c.partialFlushMinSpans), "partial flush")
        switch c.agent {
        case .tcp(let host, let port):
            check(IntegerRule.agentPort.range.contains(port), "agent port")
            // The agent client frames every request with this Host header: an accepted host that the C formatter
            // refuses would make every request fail.
            let hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            var head = [CChar](repeating: 0, count: 1024)
            let written = head.withUnsafeMutableBufferPointer {
                ddtrace_http_format_request($0.baseAddress, $0.count, "GET", "/info", hostHeader, nil, 0, -1)
            }
            check(written > 0, "agent host \(host.debugDescription) (request head refused: \(written))")
        case .unix(let path):
            check(path.hasPrefix("/") && path.utf8.count <= AgentAddressRule.maxSocketPathBytes, "socket path")
        }
    }

    private static func checkDiagnostic(_ diagnostic: DDConfigurationDiagnostic, _ environment: [String: String]) {
        // The log line is built from every field: it must not trap, and must say where the value came from.
        let line = diagnostic.description
        if diagnostic.source.isEmpty || diagnostic.fallback.isEmpty || line.isEmpty {
            violated("incomplete diagnostic \(line.debugDescription) for \(environment)")
        }
    }

    /// A span as the sampling rules see it, with fields taken from the input.
    private struct Subject: SamplingSubject {
        var service: String
        var name: String
        var resource: String
        var tags: [String: String]
        var metrics: [String: Double]
        func tag(_ key: String) -> String? { tags[key] }
        func metric(_ key: String) -> Double? { metrics[key] }
    }

    /// Runs the parsed rules against spans named after the environment's values, so that the glob matcher and
    /// the tag matching see hostile subjects too (including fractional, huge and non-finite metrics).
    private static func matchSamplingRules(_ sampling: SamplingConfiguration, _ environment: [String: String]) {
        guard sampling.traceSampler != nil || sampling.spanSampler != nil else { return }
        let values = environment.keys.sorted().prefix(8).compactMap { environment[$0] }
        let texts = values.isEmpty ? [""] : values
        let numbers = texts.compactMap(Double.init) + [200, 2.5, -0.0, 1e300, .infinity, .nan]
        for (index, text) in texts.enumerated() {
            var subject = Subject(service: text, name: text, resource: text, tags: [:], metrics: [:])
            for rule in sampling.traceRules {
                for pattern in rule.tags {
                    if index % 2 == 0 {
                        subject.tags[pattern.key] = text
                    } else {
                        subject.metrics[pattern.key] = numbers[index % numbers.count]
                    }
                }
            }
            let traceIdLow = UInt64(index) &* 0x9E37_79B9_7F4A_7C15
            if let decision = sampling.traceSampler?.decide(subject, traceIdLow: traceIdLow) {
                guard [RuleSamplingDecision.userKeep, RuleSamplingDecision.userReject].contains(decision.priority)
                else { violated("rule decision priority \(decision.priority) for \(environment)") }
                _ = decision.knuthSampleRate
            }
            for rule in sampling.spanRules { _ = rule.matches(subject) }
        }
    }
}

// MARK: - Agent responses

extension DDFuzzing {
    /// Parses `bytes` as the agent's answer with the C parser the transport uses, then its body with
    /// `parseRateByService` and the sampler's `update(rateByService:)`, as the flusher does, and checks that:
    /// - the parser returns -EBADMSG, 0 (need more) or a length within the input;
    /// - a complete response's body lies within it and its status is a three-digit code;
    /// - the agent state and payload version are NUL-terminated;
    /// - every rate kept is in 0...1, and the sampler answers for every service named by a key.
    /// The whole input is also offered to `parseRateByService` as a body, so the JSON parsing is fuzzed even
    /// when the HTTP framing is broken.
    public static func agentResponse(_ bytes: UnsafeRawBufferPointer) {
        // A copy: a chunked body is de-chunked in place. (Fuzz/Sources/FuzzHTTPParser checks the parser's
        // bounds with exactly sized buffers; this harness follows the body into the Swift side.)
        var buffer = [CChar](repeating: 0, count: max(bytes.count, 1))
        buffer.withUnsafeMutableBytes { $0.copyMemory(from: bytes) }
        var response = ddtrace_http_response()
        let result = buffer.withUnsafeMutableBufferPointer {
            ddtrace_http_parse_response($0.baseAddress, bytes.count, &response)
        }
        guard result == -Int(EBADMSG) || (result >= 0 && result <= bytes.count) else {
            violated("parser returned \(result) for \(bytes.count) bytes")
        }
        checkFixedString(response.agent_state, "agent state")
        checkFixedString(response.rates_payload_version, "rates payload version")
        if result > 0 {
            guard (100...599).contains(response.status), response.body_offset <= result,
                response.body_length <= result - response.body_offset
            else {
                violated(
                    "response of \(result) bytes, status \(response.status), body at \(response.body_offset) + "
                        + "\(response.body_length)")
            }
            let body = buffer.withUnsafeBytes {
                Array($0[response.body_offset..<(response.body_offset + response.body_length)])
            }
            applyRates(body)
        }
        applyRates(Array(bytes))
    }

    private static func checkFixedString<T>(_ field: T, _ what: String) {
        withUnsafeBytes(of: field) { raw in
            if !raw.contains(0) { violated("\(what) is not NUL-terminated") }
        }
    }

    private static let rateSampler = TraceSampler(env: "prod", defaultService: "fuzz")

    private static func applyRates(_ body: [UInt8]) {
        guard let rates = parseRateByService(body) else { return }
        for (key, rate) in rates where !(rate.isFinite && rate >= 0 && rate <= 1) {
            violated("rate \(rate) kept for \(key.debugDescription)")
        }
        rateSampler.update(rateByService: rates)
        for key in rates.keys {
            let service = key.hasPrefix("service:") ? String(key.dropFirst(8).prefix { $0 != "," }) : key
            if let rate = rateSampler.agentRate(service: service), !(rate >= 0 && rate <= 1) {
                violated("agent rate \(rate) for \(service.debugDescription)")
            }
            _ = rateSampler.decide(root: nil, traceIdLow: 42, manual: unsetSamplingPriority,
                inherited: unsetSamplingPriority, service: service)
        }
    }
}
