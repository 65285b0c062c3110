// Encodes trace chunks into `/v0.4/traces` payloads with msgpack-c's pack template (see ddtrace_msgpack.h).
//
// A payload is `[chunk, chunk, ...]`, a chunk `[span, ...]`, a span a map of the 12 keys dd-trace-cpp always
// sends, with the agent's exact wire types: ids uint64, start/duration int64 (ns), error int32, meta str->str,
// metrics str->float64. The first span of each chunk carries the trace-level tags (`_sampling_priority_v1`,
// `_dd.p.dm`, `_dd.p.tid`, ...). Counts that are only known after writing (chunks per payload, tags per span after
// de-duplication) use 5-byte map/array headers that are patched in place; msgpack allows non-minimal headers and
// every decoder accepts them.
//
// Flusher thread only. The buffers are reused from payload to payload, so steady-state encoding allocates nothing.

import CDDTraceShims

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The trace-level facts the encoder writes on a chunk's first span.
struct ChunkDecoration {
    var samplingPriority: Int8
    /// `_dd.p.dm` value ("-0", "-1", "-4"), or nil to omit it.
    var decisionMaker: StaticString?
    /// `_dd.agent_psr`, when the decision used an agent rate.
    var agentRate: Double?
    /// `_dd.rule_psr` and `_dd.limit_psr`, when a sampling rule decided.
    var ruleRate: Double? = nil
    var limitRate: Double? = nil
    /// `_dd.p.*` tags inherited from an upstream service.
    var propagatedTags: [String: String]?
}

/// Process-wide tags the encoder adds to spans.
struct EncoderTags {
    var env: String?
    var version: String?
    var defaultService: String
    var globalTags: [(key: String, value: String)]
    var runtimeId: String
    var processId: Double
}

final class TraceEncoder {
    private(set) var buffer: UnsafeMutablePointer<ddtrace_mpbuf>
    private(set) var chunkCount = 0
    private(set) var spanCount = 0
    private let defaultService: String
    /// Process-wide meta entries, pre-encoded (key then value) so that writing one is a single append.
    private let processMeta: [PreEncodedTag]
    private let versionTag: PreEncodedTag?
    private let rootMeta: [UInt8]
    private let rootMetaCount: UInt32
    private let processIdMetric: [UInt8]
    /// The default service as a msgpack string.
    private let defaultServiceBytes: [UInt8]

    /// One pre-encoded `key: value` meta entry, with the key's raw bytes for comparisons with span tags.
    struct PreEncodedTag {
        let key: [UInt8]
        let encoded: [UInt8]
    }

    static let payloadHeaderSize = 5

    init(tags: EncoderTags, initialCapacity: Int) {
        defaultService = tags.defaultService
        var process = tags.globalTags.map { PreEncodedTag(key: Array($0.key.utf8), value: $0.value) }
        if let env = tags.env { process.append(PreEncodedTag(key: Array("env".utf8), value: env)) }
        processMeta = process
        versionTag = tags.version.map { PreEncodedTag(key: Array("version".utf8), value: $0) }
        rootMeta = PreEncodedTag.pack([("language", "swift"), ("runtime-id", tags.runtimeId)])
        rootMetaCount = 2
        processIdMetric = PreEncodedTag.pack(key: "process_id", double: tags.processId)
        defaultServiceBytes = Array(PreEncodedTag.pack([(tags.defaultService, "")]).dropLast())
        buffer = .allocate(capacity: 1)
        ddtrace_mpbuf_init(buffer, initialCapacity)
        startPayload()
    }

    deinit {
        ddtrace_mpbuf_destroy(buffer)
        buffer.deallocate()
    }

    var size: Int { buffer.pointee.size }
    var isEmpty: Bool { chunkCount == 0 }
    var failed: Bool { buffer.pointee.failed != 0 }

    /// Starts a new payload: an array32 header whose count is patched by `finishPayload()`.
    func startPayload() {
        buffer.pointee.size = 0
        buffer.pointee.failed = 0
        chunkCount = 0
        spanCount = 0
        _ = beginHeader(0xdd)
    }

    /// Patches the chunk count into the payload header. The payload is then `bytes`.
    func finishPayload() {
        ddtrace_mpbuf_patch_u32_header(buffer, 0, 0xdd, UInt32(chunkCount))
    }

    /// Finishes the current payload and hands its buffer over, continuing in `replacement` (emptied). Lets the
    /// flusher queue payloads without copying them.
    func swapBuffer(_ replacement: UnsafeMutablePointer<ddtrace_mpbuf>) -> UnsafeMutablePointer<ddtrace_mpbuf> {
        finishPayload()
        let finished = buffer
        buffer = replacement
        startPayload()
        return finished
    }

    /// The payload bytes (valid until the next mutation).
    var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: buffer.pointee.data, count: buffer.pointee.size)
    }

    /// Appends one chunk. `origin` is the trace's `_dd.origin`, written on every span as the reference tracers
    /// do; `wallClockOffset` converts the spans' monotonic times to Unix time.
    /// `extras` holds tags that trace filters or span sampling added beyond a span's slot capacity.
    func appendChunk(
        _ spans: ArraySlice<SlotPointer>, decoration: ChunkDecoration, origin: String, extras: ChunkExtraTags? = nil,
        wallClockOffset: Int64
    ) {
        ddtrace_mp_array(buffer, spans.count)
        var originBytes = origin
        originBytes.withUTF8 { origin in
            var first = true
            for span in spans {
                appendSpan(
                    span, chunkFirst: first ? decoration : nil, origin: origin, extras: extras,
                    wallClockOffset: wallClockOffset)
                first = false
            }
        }
        chunkCount += 1
        spanCount += spans.count
    }

    /// Removes everything after `size` (used to take back a chunk that made the payload too large).
    func truncate(to size: Int, chunkCount: Int, spanCount: Int) {
        buffer.pointee.size = size
        self.chunkCount = chunkCount
        self.spanCount = spanCount
    }

    // MARK: Spans

    private func appendSpan(
        _ span: SlotPointer, chunkFirst decoration: ChunkDecoration?, origin: UnsafeBufferPointer<UInt8>,
        extras: ChunkExtraTags?, wallClockOffset: Int64
    ) {
        ddtrace_mp_map(buffer, 12)
        key("service")
        if span.pointee.service.isEmpty {
            raw(defaultServiceBytes)
        } else {
            string(span.pointer(to: \.service).unsafelyUnwrapped)
        }
        key("name"); string(span.pointer(to: \.name).unsafelyUnwrapped)
        key("resource")
        if span.pointee.resource.isEmpty {
            string(span.pointer(to: \.name).unsafelyUnwrapped)
        } else {
            string(span.pointer(to: \.resource).unsafelyUnwrapped)
        }
        // The six numeric fields in one reservation: fixed keys and widths, no per-token bounds check.
        ddtrace_mp_span_numbers(
            buffer, span.pointee.traceIdLow, span.pointee.spanId, span.pointee.parentId,
            span.pointee.startMonotonic &+ wallClockOffset, max(0, span.pointee.endMonotonic &- span.pointee.startMonotonic),
            span.pointee.error)
        key("type"); string(span.pointer(to: \.type).unsafelyUnwrapped)
        key("meta"); appendMeta(span, decoration: decoration, origin: origin, extras: extras?.meta[span])
        key("metrics"); appendMetrics(span, decoration: decoration, extras: extras?.metrics[span])
    }

    private func appendMeta(
        _ span: SlotPointer, decoration: ChunkDecoration?, origin: UnsafeBufferPointer<UInt8>,
        extras: [(key: String, value: String)]?
    ) {
        let header = beginHeader(0xdf)
        var count: UInt32 = 0
        var carrier: SlotPointer? = span
        while let current = carrier {
            let entries = current.metaEntries
            for index in 0..<Int(min(current.pointee.metaCount, UInt16(SpanSlot.metaCapacity))) {
                string(UnsafeMutableRawPointer(entries + index).assumingMemoryBound(to: String.self))
                string((entries + index).pointer(to: \.value).unsafelyUnwrapped)
            }
            count += UInt32(current.pointee.metaCount)
            carrier = current.pointee.overflow
        }
        for (extraKey, extraValue) in extras ?? [] {
            packString(extraKey); packString(extraValue); count += 1
        }
        // Process-wide tags, unless the span set the same key itself.
        let hasUserMeta = count > 0
        for tag in processMeta where !(hasUserMeta && spanHasMeta(span, tag.key, extras: extras)) {
            raw(tag.encoded); count += 1
        }
        if let versionTag, !(hasUserMeta && spanHasMeta(span, versionTag.key, extras: extras)),
            span.pointee.service.isEmpty || span.pointee.service == defaultService
        {
            raw(versionTag.encoded); count += 1
        }
        if origin.count > 0 {
            key("_dd.origin"); ddtrace_mp_string(buffer, origin.baseAddress, origin.count); count += 1
        }
        if let decoration {
            if let decisionMaker = decoration.decisionMaker {
                key("_dd.p.dm"); key(decisionMaker); count += 1
            }
            if span.pointee.traceIdHigh != 0 {
                key("_dd.p.tid"); hex16(span.pointee.traceIdHigh); count += 1
            }
            if let propagated = decoration.propagatedTags {
                for (tagKey, tagValue) in propagated where tagKey != "_dd.p.tid" {
                    packString(tagKey); packString(tagValue); count += 1
                }
            }
            raw(rootMeta); count += rootMetaCount
        }
        ddtrace_mpbuf_patch_u32_header(buffer, header, 0xdf, count)
    }

    private func appendMetrics(
        _ span: SlotPointer, decoration: ChunkDecoration?, extras: [(key: String, value: Double)]?
    ) {
        let header = beginHeader(0xdf)
        var count: UInt32 = 0
        var carrier: SlotPointer? = span
        while let current = carrier {
            let entries = current.metricEntries
            for index in 0..<Int(min(current.pointee.metricCount, UInt16(SpanSlot.metricCapacity))) {
                string(UnsafeMutableRawPointer(entries + index).assumingMemoryBound(to: String.self))
                ddtrace_mp_double(buffer, entries[index].value)
            }
            count += UInt32(current.pointee.metricCount)
            carrier = current.pointee.overflow
        }
        for (extraKey, extraValue) in extras ?? [] {
            packString(extraKey); ddtrace_mp_double(buffer, extraValue); count += 1
        }
        if let decoration {
            key("_sampling_priority_v1"); ddtrace_mp_double(buffer, Double(decoration.samplingPriority)); count += 1
            if let rate = decoration.agentRate {
                key("_dd.agent_psr"); ddtrace_mp_double(buffer, rate); count += 1
            }
            if let rate = decoration.ruleRate {
                key("_dd.rule_psr"); ddtrace_mp_double(buffer, rate); count += 1
            }
            if let rate = decoration.limitRate {
                key("_dd.limit_psr"); ddtrace_mp_double(buffer, rate); count += 1
            }
            raw(processIdMetric); count += 1
        }
        ddtrace_mpbuf_patch_u32_header(buffer, header, 0xdf, count)
    }

    /// Whether the span (or its overflow slots, or the chunk's extra tags for it) has a meta tag with these key
    /// bytes.
    private func spanHasMeta(_ span: SlotPointer, _ key: [UInt8], extras: [(key: String, value: String)]?) -> Bool {
        if let extras, extras.contains(where: { Array($0.key.utf8) == key }) { return true }
        return key.withUnsafeBufferPointer { wanted in
            var carrier: SlotPointer? = span
            while let current = carrier {
                let entries = current.metaEntries
                for index in 0..<Int(min(current.pointee.metaCount, UInt16(SpanSlot.metaCapacity))) {
                    let keyPointer = UnsafeMutableRawPointer(entries + index).assumingMemoryBound(to: String.self)
                    let equal = keyPointer.pointee.withUTF8 { existing in
                        existing.count == wanted.count && (wanted.isEmpty || memcmp(existing.baseAddress!, wanted.baseAddress!, wanted.count) == 0)
                    }
                    if equal { return true }
                }
                carrier = current.pointee.overflow
            }
            return false
        }
    }

    // MARK: Tokens

    /// Appends a 5-byte map32 (0xdf) or array32 (0xdd) header to be patched later; returns its offset.
    @inline(__always) private func beginHeader(_ marker: UInt8) -> Int {
        let offset = buffer.pointee.size
        var header: (UInt8, UInt8, UInt8, UInt8, UInt8) = (marker, 0, 0, 0, 0)
        withUnsafeBytes(of: &header) { _ = ddtrace_mp_raw(buffer, $0.baseAddress, 5) }
        return offset
    }

    @inline(__always) private func key(_ text: StaticString) {
        ddtrace_mp_string(buffer, text.utf8Start, text.utf8CodeUnitCount)
    }

    /// Writes a string stored in a slot, in place: `withUTF8` on the stored value reads its bytes without a copy
    /// or a retain (the flusher owns the slot at this point).
    @inline(__always) private func string(_ text: UnsafeMutablePointer<String>) {
        text.pointee.withUTF8 { bytes in _ = ddtrace_mp_string(buffer, bytes.baseAddress, bytes.count) }
    }

    /// Writes a transient string (not stored in a slot).
    private func packString(_ text: String) {
        var text = text
        text.withUTF8 { _ = ddtrace_mp_string(buffer, $0.baseAddress, $0.count) }
    }

    @inline(__always) private func raw(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { _ = ddtrace_mp_raw(buffer, $0.baseAddress, $0.count) }
    }

    private func hex16(_ value: UInt64) {
        var digits: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &digits) { raw in
            let hexDigits: StaticString = "0123456789abcdef"
            for index in 0..<16 {
                let nibble = Int((value >> UInt64((15 - index) * 4)) & 0xf)
                raw[index] = hexDigits.utf8Start[nibble]
            }
            _ = ddtrace_mp_string(buffer, raw.baseAddress, 16)
        }
    }
}

extension TraceEncoder.PreEncodedTag {
    init(key: [UInt8], value: String) {
        self.key = key
        self.encoded = Self.pack([(String(decoding: key, as: UTF8.self), value)])
    }

    /// msgpack bytes of `key: value` string pairs, packed with the same template.
    static func pack(_ pairs: [(String, String)]) -> [UInt8] {
        let buffer = UnsafeMutablePointer<ddtrace_mpbuf>.allocate(capacity: 1)
        defer { ddtrace_mpbuf_destroy(buffer); buffer.deallocate() }
        ddtrace_mpbuf_init(buffer, 256)
        for (key, value) in pairs {
            var key = key
            var value = value
            key.withUTF8 { _ = ddtrace_mp_string(buffer, $0.baseAddress, $0.count) }
            value.withUTF8 { _ = ddtrace_mp_string(buffer, $0.baseAddress, $0.count) }
        }
        return Array(UnsafeRawBufferPointer(start: buffer.pointee.data, count: buffer.pointee.size))
    }

    static func pack(key: String, double: Double) -> [UInt8] {
        let buffer = UnsafeMutablePointer<ddtrace_mpbuf>.allocate(capacity: 1)
        defer { ddtrace_mpbuf_destroy(buffer); buffer.deallocate() }
        ddtrace_mpbuf_init(buffer, 64)
        var key = key
        key.withUTF8 { _ = ddtrace_mp_string(buffer, $0.baseAddress, $0.count) }
        ddtrace_mp_double(buffer, double)
        return Array(UnsafeRawBufferPointer(start: buffer.pointee.data, count: buffer.pointee.size))
    }
}
