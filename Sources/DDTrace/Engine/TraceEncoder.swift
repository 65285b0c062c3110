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

/// The trace-level facts the encoder writes on a chunk's first span.
struct ChunkDecoration {
    var samplingPriority: Int8
    /// `_dd.p.dm` value ("-0", "-1", "-4"), or nil to omit it.
    var decisionMaker: StaticString?
    /// `_dd.agent_psr`, when the decision used an agent rate.
    var agentRate: Double?
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
    let buffer: UnsafeMutablePointer<ddtrace_mpbuf>
    private(set) var chunkCount = 0
    private(set) var spanCount = 0
    private let tags: EncoderTags
    /// Scratch: indices of the tags kept after de-duplication.
    private var keptMeta: [Int] = []
    private var keptMetric: [Int] = []

    static let payloadHeaderSize = 5

    init(tags: EncoderTags, initialCapacity: Int) {
        self.tags = tags
        buffer = .allocate(capacity: 1)
        ddtrace_mpbuf_init(buffer, initialCapacity)
        keptMeta.reserveCapacity(64)
        keptMetric.reserveCapacity(64)
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
        var header: (UInt8, UInt8, UInt8, UInt8, UInt8) = (0xdd, 0, 0, 0, 0)
        withUnsafeBytes(of: &header) { _ = ddtrace_mp_raw(buffer, $0.baseAddress, 5) }
    }

    /// Patches the chunk count into the payload header. The payload is then `buffer.data[0..<size]`.
    func finishPayload() {
        ddtrace_mpbuf_patch_u32_header(buffer, 0, 0xdd, UInt32(chunkCount))
    }

    /// The payload bytes (valid until the next mutation).
    var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: buffer.pointee.data, count: buffer.pointee.size)
    }

    /// Appends one chunk. `wallClockOffset` converts the spans' monotonic times to Unix time.
    /// `origin` is the trace's `_dd.origin`, written on every span as the reference tracers do.
    func appendChunk(
        _ spans: ArraySlice<SlotPointer>, decoration: ChunkDecoration, origin: String, wallClockOffset: Int64
    ) {
        ddtrace_mp_array(buffer, spans.count)
        var first = true
        for span in spans {
            appendSpan(span, chunkFirst: first ? decoration : nil, origin: origin, wallClockOffset: wallClockOffset)
            first = false
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
        _ span: SlotPointer, chunkFirst decoration: ChunkDecoration?, origin: String, wallClockOffset: Int64
    ) {
        ddtrace_mp_map(buffer, 12)
        key("service"); string(span.pointee.service)
        key("name"); string(span.pointee.name)
        key("resource"); string(span.pointee.resource)
        key("trace_id"); ddtrace_mp_uint64(buffer, span.pointee.traceIdLow)
        key("span_id"); ddtrace_mp_uint64(buffer, span.pointee.spanId)
        key("parent_id"); ddtrace_mp_uint64(buffer, span.pointee.parentId)
        key("start"); ddtrace_mp_int64(buffer, span.pointee.startMonotonic &+ wallClockOffset)
        key("duration"); ddtrace_mp_int64(buffer, max(0, span.pointee.endMonotonic &- span.pointee.startMonotonic))
        key("error"); ddtrace_mp_int32(buffer, span.pointee.error)
        key("type"); string(span.pointee.type)
        key("meta"); appendMeta(span, decoration: decoration, origin: origin)
        key("metrics"); appendMetrics(span, decoration: decoration)
    }

    private func appendMeta(_ span: SlotPointer, decoration: ChunkDecoration?, origin: String) {
        let headerOffset = beginMap()
        var count: UInt32 = 0
        collectKept(span, kept: &keptMeta, count: { $0.pointee.metaCount }, key: { $0.metaEntries[$1].key })
        forEachKept(span, keptMeta) { carrier, index in
            let entry = carrier.metaEntries + index
            string(entry.pointee.key)
            string(entry.pointee.value)
        }
        count += UInt32(keptMeta.count)
        for tag in tags.globalTags where !hasMeta(span, tag.key) {
            string(tag.key); string(tag.value); count += 1
        }
        if let env = tags.env, !hasMeta(span, "env") {
            key("env"); string(env); count += 1
        }
        if let version = tags.version, span.pointee.service == tags.defaultService, !hasMeta(span, "version") {
            key("version"); string(version); count += 1
        }
        if !origin.isEmpty {
            key("_dd.origin"); string(origin); count += 1
        }
        if let decoration {
            if let decisionMaker = decoration.decisionMaker {
                key("_dd.p.dm"); key(decisionMaker); count += 1
            }
            if span.pointee.traceIdHigh != 0 {
                key("_dd.p.tid"); hex16(span.pointee.traceIdHigh); count += 1
            }
            key("language"); key("swift"); count += 1
            key("runtime-id"); string(tags.runtimeId); count += 1
        }
        ddtrace_mpbuf_patch_u32_header(buffer, headerOffset, 0xdf, count)
    }

    private func appendMetrics(_ span: SlotPointer, decoration: ChunkDecoration?) {
        let headerOffset = beginMap()
        var count: UInt32 = 0
        collectKept(span, kept: &keptMetric, count: { $0.pointee.metricCount }, key: { $0.metricEntries[$1].key })
        forEachKept(span, keptMetric) { carrier, index in
            let entry = carrier.metricEntries + index
            string(entry.pointee.key)
            ddtrace_mp_double(buffer, entry.pointee.value)
        }
        count += UInt32(keptMetric.count)
        if let decoration {
            key("_sampling_priority_v1"); ddtrace_mp_double(buffer, Double(decoration.samplingPriority)); count += 1
            if let rate = decoration.agentRate {
                key("_dd.agent_psr"); ddtrace_mp_double(buffer, rate); count += 1
            }
            key("process_id"); ddtrace_mp_double(buffer, tags.processId); count += 1
        }
        ddtrace_mpbuf_patch_u32_header(buffer, headerOffset, 0xdf, count)
    }

    // MARK: Tag de-duplication (last write wins, as for a map)

    /// Tag positions are encoded as `carrierIndex << 8 | entryIndex`, carriers being the span's slot followed by
    /// its overflow slots.
    private func collectKept(
        _ span: SlotPointer, kept: inout [Int], count: (SlotPointer) -> UInt16, key: (SlotPointer, Int) -> String
    ) {
        kept.removeAll(keepingCapacity: true)
        var carrier: SlotPointer? = span
        var carrierIndex = 0
        while let current = carrier {
            for index in 0..<Int(count(current)) {
                let candidate = key(current, index)
                // A later write of the same key replaces earlier ones: drop earlier duplicates.
                if let duplicate = kept.firstIndex(where: { position in
                    let existing = key(self.carrier(span, position >> 8), position & 0xff)
                    return existing.utf8.count == candidate.utf8.count && existing == candidate
                }) {
                    kept.remove(at: duplicate)
                }
                kept.append(carrierIndex << 8 | index)
            }
            carrier = current.pointee.overflow
            carrierIndex += 1
        }
    }

    private func carrier(_ span: SlotPointer, _ index: Int) -> SlotPointer {
        var current = span
        for _ in 0..<index { current = current.pointee.overflow.unsafelyUnwrapped }
        return current
    }

    private func forEachKept(_ span: SlotPointer, _ kept: [Int], _ body: (SlotPointer, Int) -> Void) {
        for position in kept {
            body(position >> 8 == 0 ? span : carrier(span, position >> 8), position & 0xff)
        }
    }

    private func hasMeta(_ span: SlotPointer, _ name: String) -> Bool {
        var carrier: SlotPointer? = span
        while let current = carrier {
            for index in 0..<Int(current.pointee.metaCount) where current.metaEntries[index].key == name {
                return true
            }
            carrier = current.pointee.overflow
        }
        return false
    }

    // MARK: Tokens

    @inline(__always) private func beginMap() -> Int {
        let offset = buffer.pointee.size
        var header: (UInt8, UInt8, UInt8, UInt8, UInt8) = (0xdf, 0, 0, 0, 0)
        withUnsafeBytes(of: &header) { _ = ddtrace_mp_raw(buffer, $0.baseAddress, 5) }
        return offset
    }

    @inline(__always) private func key(_ text: StaticString) {
        ddtrace_mp_string(buffer, text.utf8Start, text.utf8CodeUnitCount)
    }

    @inline(__always) private func string(_ text: String) {
        if let done = text.utf8.withContiguousStorageIfAvailable({ bytes -> Bool in
            ddtrace_mp_string(buffer, bytes.baseAddress, bytes.count)
            return true
        }), done {
            return
        }
        var copy = text
        copy.withUTF8 { bytes in _ = ddtrace_mp_string(buffer, bytes.baseAddress, bytes.count) }
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
