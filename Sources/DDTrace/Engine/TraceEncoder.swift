// Encodes trace chunks into `/v0.4/traces` or `/v0.5/traces` payloads with msgpack-c's pack template (see
// ddtrace_msgpack.h).
//
// v0.5 writes the same spans as 12-element arrays whose strings are indexes into a per-payload string table
// (interned in C, ddtrace_strtab); the table is sent in front of the traces as a separate iovec.
//
// Strings longer than the agent accepts are truncated here (at a UTF-8 boundary) rather than by the agent, so the
// payload is not larger than it needs to be: service, name and type to 100 bytes, resource to 5,000, tag keys to
// 200 and tag values to 25,000 (datadog-agent pkg/trace/traceutil truncate.go and normalize.go; like the agent's
// truncator, a truncated tag key or value gets "..." appended). Each truncation is counted.
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
    /// `_dd.hostname`, when reported.
    var hostname: String? = nil
}

/// The agent endpoint a payload is encoded for.
enum TraceAPIVersion: String, Sendable, CaseIterable, CustomStringConvertible {
    case v04 = "v0.4"
    case v05 = "v0.5"

    var description: String { rawValue }

    var path: String { "/\(rawValue)/traces" }
}

/// The agent's length limits, in UTF-8 bytes.
enum AgentLimits {
    static let name = 100
    static let service = 100
    static let type = 100
    static let resource = 5_000
    static let tagKey = 200
    static let tagValue = 25_000

    /// Where to cut `bytes` (longer than `limit`) so that the kept prefix is at most `limit` bytes and does not
    /// split a character: back off over UTF-8 continuation bytes (0b10xxxxxx).
    static func cut(_ bytes: UnsafePointer<UInt8>, limit: Int) -> Int {
        var cut = limit
        while cut > 0 && bytes[cut] & 0xc0 == 0x80 { cut -= 1 }
        return cut
    }
}

final class TraceEncoder {
    // `@exclusivity(unchecked)`: the encoder is used by one thread (the flusher) without overlapping accesses;
    // the runtime checks on each mutation would cost more than the mutations (see Flusher).
    @exclusivity(unchecked) private(set) var buffer: UnsafeMutablePointer<ddtrace_mpbuf>
    /// The v0.5 string table (allocated on first use).
    @exclusivity(unchecked) private var strings: UnsafeMutablePointer<ddtrace_strtab>?
    @exclusivity(unchecked) private(set) var format: TraceAPIVersion {
        didSet { smallStringsInPlace = format == .v04 && SmallString.layoutVerified }
    }
    /// v0.4 writes small strings straight from the `String` value (`SmallString`); v0.5 interns every string.
    @exclusivity(unchecked) private var smallStringsInPlace: Bool
    /// `SmallString.layoutVerified`, read once (a static is a lazy global: a check on every access).
    private let smallStringLayout = SmallString.layoutVerified
    /// Strings truncated to the agent's limits since the encoder was created.
    @exclusivity(unchecked) private(set) var truncations: UInt64 = 0
    @exclusivity(unchecked) private var scratchText: [UInt8] = []
    @exclusivity(unchecked) private(set) var chunkCount = 0
    @exclusivity(unchecked) private(set) var spanCount = 0
    /// Owns the memory of every `ConstantBytes` below (freed with the encoder).
    private let constants = ConstantStore()
    /// Process-wide meta entries (global tags, then `env`), written on every span that does not set the key.
    private let processMeta: UnsafeBufferPointer<PreEncodedTag>
    /// `version`, written on spans of the default service that do not set it.
    private let versionTag: PreEncodedTag?
    /// Bit n is set when a process-wide key (or `version`) is n bytes long: a span tag whose key length has no
    /// bit set cannot override one, so the per-tag check is one shift and test.
    private let overridableKeyLengths: UInt64
    private let rootMeta: ConstantBytes
    private let rootMetaCount: UInt32
    private let processIdMetric: ConstantBytes
    private let processId: Double
    /// The default service (full, for comparisons; and as a msgpack string, truncated, for writing).
    private let defaultServiceName: ConstantBytes
    /// v0.4: the default service as a msgpack string, followed by the next key ("name"): one copy for both.
    private let defaultServiceAndNameKey: ConstantBytes
    private let defaultServiceTruncated: ConstantBytes

    private let rootMetaPairs: [(String, String)]
    /// Where a cursor points when the buffer has no memory at all (nothing is ever written there: it has no room).
    private let nowhere = UnsafeMutablePointer<CChar>.allocate(capacity: 1)

    /// One pre-encoded `key: value` meta entry, with the key's raw bytes for comparisons with span tags (and the
    /// value's, for v0.5, which interns instead of copying pre-encoded bytes).
    struct PreEncodedTag {
        let key: ConstantBytes
        let value: ConstantBytes
        let encoded: ConstantBytes
    }

    static let payloadHeaderSize = 5

    init(tags: EncoderTags, initialCapacity: Int, format: TraceAPIVersion = .v04) {
        self.format = format
        smallStringsInPlace = format == .v04 && SmallString.layoutVerified
        let constants = self.constants
        func tag(_ key: String, _ value: String) -> PreEncodedTag {
            PreEncodedTag(
                key: constants.store(Array(key.utf8)), value: constants.store(Array(value.utf8)),
                encoded: constants.store(PreEncodedTag.pack([(key, value)])))
        }
        var process = tags.globalTags.map { tag($0.key, $0.value) }
        if let env = tags.env { process.append(tag("env", env)) }
        processMeta = constants.store(process)
        versionTag = tags.version.map { tag("version", $0) }
        var lengths: UInt64 = 0
        for key in process.map(\.key) + (versionTag.map { [$0.key] } ?? []) where key.count < 64 {
            lengths |= 1 << UInt64(key.count)
        }
        overridableKeyLengths = lengths
        rootMetaPairs = [("language", "swift"), ("runtime-id", tags.runtimeId)]
            + (tags.hostname.map { [("_dd.hostname", $0)] } ?? [])
        rootMeta = constants.store(PreEncodedTag.pack(rootMetaPairs))
        rootMetaCount = UInt32(rootMetaPairs.count)
        defaultServiceName = constants.store(Array(tags.defaultService.utf8))
        // Truncated here, once; each span written with it still counts as a truncation (`appendSpan`).
        var serviceBytes = Array(tags.defaultService.utf8)
        if serviceBytes.count > AgentLimits.service {
            serviceBytes.removeSubrange(serviceBytes.withUnsafeBufferPointer {
                AgentLimits.cut($0.baseAddress!, limit: AgentLimits.service)
            }...)
        }
        let truncatedService = String(decoding: serviceBytes, as: UTF8.self)
        defaultServiceTruncated = constants.store(serviceBytes)
        defaultServiceAndNameKey = constants.store(Array(PreEncodedTag.pack([(truncatedService, "name")])))
        processIdMetric = constants.store(PreEncodedTag.pack(key: "process_id", double: tags.processId))
        processId = tags.processId
        buffer = .allocate(capacity: 1)
        ddtrace_mpbuf_init(buffer, initialCapacity)
        startPayload()
    }

    deinit {
        ddtrace_mpbuf_destroy(buffer)
        buffer.deallocate()
        nowhere.deallocate()
        if let strings {
            ddtrace_strtab_destroy(strings)
            strings.deallocate()
        }
    }

    /// Bytes of the payload so far (for v0.5, the string table included).
    var size: Int { buffer.pointee.size + (strings.map { $0.pointee.strings.size + 1 } ?? 0) }
    var isEmpty: Bool { chunkCount == 0 }
    var failed: Bool { buffer.pointee.failed != 0 || (strings.map { $0.pointee.failed != 0 } ?? false) }

    /// Switches the wire format for the next payload (the agent does not accept v0.5). Call with an empty payload.
    func switchFormat(to newFormat: TraceAPIVersion) {
        format = newFormat
        startPayload()
    }

    /// Starts a new payload: an array32 header whose count is patched by `finishPayload()`.
    func startPayload() {
        buffer.pointee.size = 0
        buffer.pointee.failed = 0
        chunkCount = 0
        spanCount = 0
        _ = beginHeader(0xdd)
        if format == .v05 {
            if strings == nil {
                let table = UnsafeMutablePointer<ddtrace_strtab>.allocate(capacity: 1)
                _ = ddtrace_strtab_init(table, 1024)  // a failure shows as `failed`
                strings = table
            } else {
                ddtrace_strtab_reset(strings!)
            }
        } else if let table = strings {
            ddtrace_strtab_destroy(table)
            table.deallocate()
            strings = nil
        }
    }

    /// Patches the counts into the payload's headers. The payload is then `dictionaryPrefix` (v0.5) + `bytes`.
    func finishPayload() {
        ddtrace_mpbuf_patch_u32_header(buffer, 0, 0xdd, UInt32(chunkCount))
        if let strings { ddtrace_strtab_finish(strings) }
    }

    /// For v0.5: the bytes that go in front of `bytes` — `0x92` (the body is `[dictionary, traces]`) and the string
    /// table. nil for v0.4.
    var dictionaryPrefix: [UInt8]? {
        guard let strings else { return nil }
        var prefix: [UInt8] = [0x92]
        prefix.append(contentsOf: UnsafeRawBufferPointer(start: strings.pointee.strings.data, count: strings.pointee.strings.size))
        return prefix
    }

    /// Finishes the current payload and hands its buffer over (with the v0.5 string table, copied: it is small),
    /// continuing in `replacement` (emptied). Lets the flusher queue payloads without copying the traces.
    func swapBuffer(_ replacement: UnsafeMutablePointer<ddtrace_mpbuf>) -> (
        traces: UnsafeMutablePointer<ddtrace_mpbuf>, prefix: [UInt8]?
    ) {
        finishPayload()
        let prefix = dictionaryPrefix
        let finished = buffer
        buffer = replacement
        startPayload()
        return (finished, prefix)
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
        var cursor = makeCursor()
        if room(&cursor, 5) { cursor.p = ddtrace_put_array_header(cursor.p, UInt32(spans.count)) }
        var originBytes = origin
        originBytes.withUTF8 { origin in
            var first = true
            for span in spans {
                cursor = appendSpan(
                    cursor, span, chunkFirst: first ? decoration : nil, origin: origin, extras: extras,
                    wallClockOffset: wallClockOffset)
                first = false
            }
        }
        commit(cursor)
        chunkCount += 1
        spanCount += spans.count
    }

    /// Where a chunk starts, so that it can be taken back (`takeBack(to:)`).
    struct Mark {
        fileprivate let size: Int
        let chunkCount: Int
        let spanCount: Int
    }

    var mark: Mark { Mark(size: buffer.pointee.size, chunkCount: chunkCount, spanCount: spanCount) }

    /// Removes everything after `mark` (used to take back a chunk that made the payload too large, or that failed
    /// to encode). v0.5 strings interned by the chunk stay in the table: unused entries are valid.
    func takeBack(to mark: Mark) {
        buffer.pointee.size = mark.size
        buffer.pointee.failed = 0
        chunkCount = mark.chunkCount
        spanCount = mark.spanCount
    }

    // MARK: Spans
    //
    // The span writers take the cursor and return it moved (by value, not `inout`: a cursor whose address is
    // passed to a function that is not inlined would have to live in memory, which is what the cursor avoids).

    private func appendSpan(
        _ start: Cursor, _ span: SlotPointer, chunkFirst decoration: ChunkDecoration?,
        origin: UnsafeBufferPointer<UInt8>, extras: ChunkExtraTags?, wallClockOffset: Int64
    ) -> Cursor {
        var c = start
        let v05 = format == .v05
        // v0.4: a map of 12 keys. v0.5: an array of 12 in the fixed order service, name, resource, the six
        // numbers, meta, metrics, type.
        if room(&c, 9) { c.p = v05 ? ddtrace_put_array_header(c.p, 12) : ddtrace_put_v04_span_head(c.p) }
        // Whether the span belongs to the default service (it then gets the `version` tag), found while its
        // service is written rather than by a string comparison later.
        let defaultServiceSpan: Bool
        if span.pointee.service.isEmpty {
            defaultServiceSpan = true
            if _slowPath(defaultServiceTruncated.count < defaultServiceName.count) { truncations += 1 }
            if v05 {
                text(&c, defaultServiceTruncated.start, defaultServiceTruncated.count)
            } else {
                raw(&c, defaultServiceAndNameKey)
            }
        } else {
            // Read-only accesses only: a child starting on another thread may be copying this service at the same
            // time (EngineCore.guardedService), and `withUTF8` on the stored value is a mutating access. A small
            // string is read from the value itself; a longer one through a copy (a retain unless it is a literal).
            let field = span.pointer(to: \.service).unsafelyUnwrapped
            if smallStringLayout, let length = SmallString.length(at: field) {
                let bytes = UnsafeRawPointer(field).assumingMemoryBound(to: UInt8.self)
                text(&c, bytes, length, limit: AgentLimits.service)
                defaultServiceSpan = defaultServiceName.equals(UnsafeBufferPointer(start: bytes, count: length))
            } else {
                var service = field.pointee
                defaultServiceSpan = service.withUTF8 { service in
                    text(&c, service.baseAddress, service.count, limit: AgentLimits.service)
                    return defaultServiceName.equals(service)
                }
            }
            if !v05 { key(&c, "name") }
        }
        c = string(c, span.pointer(to: \.name).unsafelyUnwrapped, limit: AgentLimits.name)
        if !v05 { key(&c, "resource") }
        if span.pointee.resource.isEmpty {
            c = string(c, span.pointer(to: \.name).unsafelyUnwrapped, limit: AgentLimits.resource)
        } else {
            c = string(c, span.pointer(to: \.resource).unsafelyUnwrapped, limit: AgentLimits.resource)
        }
        // The six numeric fields in one reservation: fixed keys and widths.
        let start = span.pointee.startMonotonic &+ wallClockOffset
        let duration = max(0, span.pointee.endMonotonic &- span.pointee.startMonotonic)
        if v05 {
            if room(&c, 50) {
                c.p = ddtrace_put_span_numbers_v05(
                    c.p, span.pointee.traceIdLow, span.pointee.spanId, span.pointee.parentId, start, duration,
                    span.pointee.error)
            }
        } else {
            if room(&c, 103) {
                c.p = ddtrace_put_span_numbers(
                    c.p, span.pointee.traceIdLow, span.pointee.spanId, span.pointee.parentId, start, duration,
                    span.pointee.error, 1)
            }
            c = string(c, span.pointer(to: \.type).unsafelyUnwrapped, limit: AgentLimits.type)
        }
        // Only filtered chunks have extras; the branches keep the common case free of the (nil) optional
        // arrays' release calls.
        if let extras {
            c = appendMeta(
                c, span, defaultServiceSpan: defaultServiceSpan, decoration: decoration, origin: origin,
                extras: extras.meta[span])
            c = appendMetrics(c, span, decoration: decoration, extras: extras.metrics[span])
        } else {
            c = appendMeta(
                c, span, defaultServiceSpan: defaultServiceSpan, decoration: decoration, origin: origin, extras: nil)
            c = appendMetrics(c, span, decoration: decoration, extras: nil)
        }
        if v05 { c = string(c, span.pointer(to: \.type).unsafelyUnwrapped, limit: AgentLimits.type) }
        return c
    }

    /// The meta map: its key (v0.4) and a 5-byte header whose count is patched at the end.
    private func appendMeta(
        _ start: Cursor, _ span: SlotPointer, defaultServiceSpan: Bool, decoration: ChunkDecoration?,
        origin: UnsafeBufferPointer<UInt8>, extras: [(key: String, value: String)]?
    ) -> Cursor {
        var c = start
        let header = mapHeader(&c, metrics: false)
        var count: UInt32 = 0
        // Which process-wide tags the span set itself (bit i: `processMeta[i]`; bit 63: `version`), noted while
        // its keys are written, so that no tag is written twice and the span's own value wins.
        var overridden: UInt64 = 0
        var carrier: SlotPointer? = span
        while let current = carrier {
            let entries = current.metaEntries
            for index in 0..<Int(min(current.pointee.metaCount, UInt16(SpanSlot.metaCapacity))) {
                let key = (entries + index).pointer(to: \.key).unsafelyUnwrapped
                // A small key of a length no process-wide key has (the common case): written in place.
                if smallStringsInPlace, let length = SmallString.length(at: key),
                    overridableKeyLengths & (1 << UInt64(length)) == 0
                {
                    if room(&c, 17) { c.p = ddtrace_put_small_string(c.p, key, length) }
                } else {
                    let (moved, bits) = metaKey(c, key)
                    c = moved
                    overridden |= bits
                }
                c = string(c, (entries + index).pointer(to: \.value).unsafelyUnwrapped, tagLimit: AgentLimits.tagValue)
            }
            count += UInt32(current.pointee.metaCount)
            carrier = current.pointee.overflow
        }
        // Only filtered chunks have extras (`if let`, not `extras ?? []`: iterating the empty array retained and
        // released it on every span).
        if let extras {
            let added: UInt32
            (c, overridden, added) = appendExtraMeta(c, extras, overridden: overridden)
            count += added
        }
        // Process-wide tags, unless the span set the same key itself.
        for index in processMeta.indices where overridden & (1 << UInt64(min(index, 62))) == 0
            || (index >= 62 && !spanSetsMeta(span, processMeta[index].key, extras: extras))
        {
            preEncoded(&c, processMeta[index]); count += 1
        }
        if let versionTag, overridden & (1 << 63) == 0, defaultServiceSpan {
            preEncoded(&c, versionTag); count += 1
        }
        if origin.count > 0 {
            c = appendOrigin(c, origin)
            count += 1
        }
        if let decoration {
            let added: UInt32
            (c, added) = appendTraceMeta(c, span, decoration: decoration)
            count += added
        }
        patch(header, count)
        return c
    }

    // The rarer parts of a span's meta, out of line: they keep `appendMeta` small enough for the optimiser to
    // inline the per-tag writers into its loop. Each returns the moved cursor and what it adds to the count.

    @inline(never) private func appendExtraMeta(
        _ start: Cursor, _ extras: [(key: String, value: String)], overridden: UInt64
    ) -> (Cursor, UInt64, UInt32) {
        var c = start
        var overridden = overridden
        for (extraKey, extraValue) in extras {
            var extraKey = extraKey
            extraKey.withUTF8 { key in
                if key.count < 64 && overridableKeyLengths & (1 << UInt64(key.count)) != 0 {
                    overridden |= overriddenProcessTags(key)
                }
            }
            packString(&c, extraKey, tagLimit: AgentLimits.tagKey)
            packString(&c, extraValue, tagLimit: AgentLimits.tagValue)
        }
        return (c, overridden, UInt32(extras.count))
    }

    @inline(never) private func appendOrigin(_ start: Cursor, _ origin: UnsafeBufferPointer<UInt8>) -> Cursor {
        var c = start
        key(&c, "_dd.origin")
        text(&c, origin.baseAddress, origin.count, tagLimit: AgentLimits.tagValue)
        return c
    }

    /// The trace-level meta of a chunk's first span.
    @inline(never) private func appendTraceMeta(
        _ start: Cursor, _ span: SlotPointer, decoration: ChunkDecoration
    ) -> (Cursor, UInt32) {
        var c = start
        var count: UInt32 = 0
        if let decisionMaker = decoration.decisionMaker {
            key(&c, "_dd.p.dm"); key(&c, decisionMaker); count += 1
        }
        if span.pointee.traceIdHigh != 0 {
            key(&c, "_dd.p.tid"); c = hex16(c, span.pointee.traceIdHigh); count += 1
        }
        if let propagated = decoration.propagatedTags {
            for (tagKey, tagValue) in propagated where tagKey != "_dd.p.tid" {
                packString(&c, tagKey, tagLimit: AgentLimits.tagKey)
                packString(&c, tagValue, tagLimit: AgentLimits.tagValue)
                count += 1
            }
        }
        if format == .v05 {
            for (rootKey, rootValue) in rootMetaPairs { packString(&c, rootKey); packString(&c, rootValue) }
        } else {
            raw(&c, rootMeta)
        }
        count += rootMetaCount
        return (c, count)
    }

    /// The metrics map: its key (v0.4) and a 5-byte header whose count is patched at the end.
    private func appendMetrics(
        _ start: Cursor, _ span: SlotPointer, decoration: ChunkDecoration?, extras: [(key: String, value: Double)]?
    ) -> Cursor {
        var c = start
        let header = mapHeader(&c, metrics: true)
        var count: UInt32 = 0
        var carrier: SlotPointer? = span
        while let current = carrier {
            let entries = current.metricEntries
            for index in 0..<Int(min(current.pointee.metricCount, UInt16(SpanSlot.metricCapacity))) {
                c = string(c, (entries + index).pointer(to: \.key).unsafelyUnwrapped, tagLimit: AgentLimits.tagKey)
                double(&c, entries[index].value)
            }
            count += UInt32(current.pointee.metricCount)
            carrier = current.pointee.overflow
        }
        if let extras {
            for (extraKey, extraValue) in extras {
                packString(&c, extraKey, tagLimit: AgentLimits.tagKey); double(&c, extraValue); count += 1
            }
        }
        if let decoration {
            key(&c, "_sampling_priority_v1"); double(&c, Double(decoration.samplingPriority)); count += 1
            if let rate = decoration.agentRate {
                key(&c, "_dd.agent_psr"); double(&c, rate); count += 1
            }
            if let rate = decoration.ruleRate {
                key(&c, "_dd.rule_psr"); double(&c, rate); count += 1
            }
            if let rate = decoration.limitRate {
                key(&c, "_dd.limit_psr"); double(&c, rate); count += 1
            }
            if format == .v05 {
                key(&c, "process_id"); double(&c, processId)
            } else {
                raw(&c, processIdMetric)
            }
            count += 1
        }
        patch(header, count)
        return c
    }

    /// Whether the span (its overflow slots included) or its extra tags set meta `key`: the exact check for the
    /// rare process-wide tags past the 62 that `overridden` tracks one by one.
    @inline(never) private func spanSetsMeta(
        _ span: SlotPointer, _ key: ConstantBytes, extras: [(key: String, value: String)]?
    ) -> Bool {
        let wanted = String(decoding: UnsafeBufferPointer(start: key.start, count: key.count), as: UTF8.self)
        return SlotTags.findMeta(span, wanted) != nil || (extras?.contains { $0.key == wanted } ?? false)
    }

    /// Writes a span's meta key; returns the moved cursor and the `overridden` bits (see `appendMeta`) of the
    /// process-wide tags the key replaces. (By value, as `string`.)
    @inline(__always) private func metaKey(_ start: Cursor, _ key: UnsafeMutablePointer<String>) -> (Cursor, UInt64) {
        key.pointee.withUTF8 { key -> (Cursor, UInt64) in
            var c = start
            var bits: UInt64 = 0
            if _slowPath(key.count < 64 && overridableKeyLengths & (1 << UInt64(key.count)) != 0) {
                bits = overriddenProcessTags(key)
            }
            text(&c, key.baseAddress, key.count, tagLimit: AgentLimits.tagKey)
            return (c, bits)
        }
    }

    /// The `overridden` bits (see `appendMeta`) of the process-wide tags whose key is `key`. Only called for keys
    /// whose length matches one of them.
    @inline(never) private func overriddenProcessTags(_ key: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var bits: UInt64 = 0
        for index in processMeta.indices where processMeta[index].key.equals(key) {
            bits |= 1 << UInt64(min(index, 62))
        }
        if let versionTag, versionTag.key.equals(key) { bits |= 1 << 63 }
        return bits
    }

    // MARK: Cursor

    /// The write position in `buffer` while a chunk is written: the next byte and the end of the allocation, held
    /// in locals (see "Cursor writers" in ddtrace_msgpack.h). `buffer.size` is brought up to date by `commit`.
    struct Cursor {
        var p: UnsafeMutablePointer<CChar>
        var end: UnsafeMutablePointer<CChar>
    }


    private func makeCursor() -> Cursor {
        if buffer.pointee.data == nil { _ = ddtrace_mpbuf_reserve(buffer, 4096) }  // a failure shows as `failed`
        guard let data = buffer.pointee.data else { return Cursor(p: nowhere, end: nowhere) }
        return Cursor(p: data + buffer.pointee.size, end: data + buffer.pointee.capacity)
    }

    @inline(__always) private func commit(_ c: Cursor) {
        if let data = buffer.pointee.data, c.p != nowhere { buffer.pointee.size = c.p - data }
    }

    /// Whether `needed` more bytes fit, growing the buffer if they do not. After an allocation failure nothing
    /// fits any more (the buffer is marked `failed` and the payload is dropped and counted).
    @inline(__always) private func room(_ c: inout Cursor, _ needed: Int) -> Bool {
        if _fastPath(c.end - c.p >= needed) { return true }
        c = grow(c, needed)
        return c.end - c.p >= needed
    }

    @inline(never) private func grow(_ c: Cursor, _ needed: Int) -> Cursor {
        commit(c)
        guard ddtrace_mpbuf_reserve(buffer, needed) == 0, let data = buffer.pointee.data else {
            return Cursor(p: c.p, end: c.p)
        }
        return Cursor(p: data + buffer.pointee.size, end: data + buffer.pointee.capacity)
    }

    /// The meta or metrics map's key and 5-byte header (v0.4: one constant run; v0.5: the header alone); returns
    /// the header's offset for `patch` (-1 when there was no room: the buffer has failed).
    @inline(__always) private func mapHeader(_ c: inout Cursor, metrics: Bool) -> Int {
        guard room(&c, 13), let data = buffer.pointee.data else { return -1 }
        if format == .v05 {
            let offset = c.p - data
            c.p = ddtrace_put_header32(c.p, 0xdf)
            return offset
        }
        c.p = metrics ? ddtrace_put_v04_metrics_head(c.p) : ddtrace_put_v04_meta_head(c.p)
        return c.p - 5 - data
    }

    /// Writes `count` into the map header at `offset`, whose marker `mapHeader` wrote. The header lies behind the
    /// cursor, in memory that a grown buffer keeps (and that stays allocated if growing failed: such a payload is
    /// dropped), so its count is stored straight through the data pointer: no size to bring up to date first, no
    /// bounds or failure checks.
    @inline(__always) private func patch(_ offset: Int, _ count: UInt32) {
        if offset >= 0, let data = buffer.pointee.data {
            UnsafeMutableRawPointer(data + offset + 1).storeBytes(of: count.bigEndian, as: UInt32.self)
        }
    }

    // MARK: Tokens

    /// Appends a 5-byte map32 (0xdf) or array32 (0xdd) header to be patched later; returns its offset. (For the
    /// payload's own header; chunks go through the cursor.)
    @inline(__always) private func beginHeader(_ marker: UInt8) -> Int {
        let offset = buffer.pointee.size
        var header: (UInt8, UInt8, UInt8, UInt8, UInt8) = (marker, 0, 0, 0, 0)
        withUnsafeBytes(of: &header) { _ = ddtrace_mp_raw(buffer, $0.baseAddress, 5) }
        return offset
    }

    /// A constant string (keys, mostly): v0.4 writes it, v0.5 its table index.
    @inline(__always) private func key(_ c: inout Cursor, _ constant: StaticString) {
        text(&c, constant.utf8Start, constant.utf8CodeUnitCount)
    }

    /// Writes `count` UTF-8 bytes as a string (v0.4) or a string-table index (v0.5), truncated to `limit` bytes;
    /// with `tagLimit` instead, a truncated string also gets "..." (the agent's convention for tag keys and values).
    @inline(__always) private func text(
        _ c: inout Cursor, _ bytes: UnsafePointer<UInt8>?, _ count: Int, limit: Int = .max, tagLimit: Int = .max
    ) {
        if _slowPath(count > min(limit, tagLimit)) {
            c = truncatedText(c, bytes!, count, limit: min(limit, tagLimit), ellipsis: tagLimit < limit)
        } else if format == .v05 {
            let index = ddtrace_strtab_intern(strings, bytes, count)
            if room(&c, 5) { c.p = ddtrace_put_uint32(c.p, index) }
        } else if room(&c, count + 5) {
            c.p = ddtrace_put_str(c.p, bytes, count)
        }
    }

    @inline(never) private func truncatedText(
        _ start: Cursor, _ bytes: UnsafePointer<UInt8>, _ count: Int, limit: Int, ellipsis: Bool
    ) -> Cursor {
        var c = start
        truncations += 1
        let cut = AgentLimits.cut(bytes, limit: limit)
        scratchText.removeAll(keepingCapacity: true)
        scratchText.append(contentsOf: UnsafeBufferPointer(start: bytes, count: cut))
        if ellipsis { scratchText.append(contentsOf: "...".utf8) }
        scratchText.withUnsafeBufferPointer { text(&c, $0.baseAddress, $0.count) }
        return c
    }

    /// Writes a string stored in a slot, in place: `withUTF8` on the stored value reads its bytes without a copy
    /// or a retain (the flusher owns the slot at this point).
    ///
    /// Takes and returns the cursor by value (an `inout` cursor passed to a call would have to live in memory).
    /// A small string (at most 15 bytes: under every limit) with room for it, most of a span's strings, is copied
    /// straight from the value here, inline; the rest is out of line (`storedString`). The optimiser kept the whole
    /// function out of line (`withUTF8`'s closure), so a small string cost 45 instructions, most of them the call
    /// and its register saves and restores; inline it costs about 14 (callgrind, `HotPathProfile encode`).
    @inline(__always) private func string(
        _ start: Cursor, _ value: UnsafeMutablePointer<String>, limit: Int = .max, tagLimit: Int = .max
    ) -> Cursor {
        if smallStringsInPlace, let length = SmallString.length(at: value), _fastPath(start.end - start.p >= 17) {
            return Cursor(p: ddtrace_put_small_string(start.p, value, length), end: start.end)
        }
        return storedString(start, value, limit: limit, tagLimit: tagLimit)
    }

    /// `string`'s other cases: a string with heap storage, v0.5 (which interns), or a buffer that must grow.
    @inline(never) private func storedString(
        _ start: Cursor, _ value: UnsafeMutablePointer<String>, limit: Int, tagLimit: Int
    ) -> Cursor {
        var c = start
        if smallStringsInPlace, let length = SmallString.length(at: value) {
            if room(&c, 17) { c.p = ddtrace_put_small_string(c.p, value, length) }
            return c
        }
        return value.pointee.withUTF8 { bytes in
            var c = start
            text(&c, bytes.baseAddress, bytes.count, limit: limit, tagLimit: tagLimit)
            return c
        }
    }

    /// Writes a transient string (not stored in a slot).
    private func packString(_ c: inout Cursor, _ value: String, tagLimit: Int = .max) {
        var value = value
        value.withUTF8 { text(&c, $0.baseAddress, $0.count, tagLimit: tagLimit) }
    }

    /// A process-wide tag: its pre-encoded bytes (v0.4), or its key and value interned (v0.5).
    @inline(__always) private func preEncoded(_ c: inout Cursor, _ tag: PreEncodedTag) {
        if format == .v05 {
            text(&c, tag.key.start, tag.key.count)
            text(&c, tag.value.start, tag.value.count)
        } else {
            raw(&c, tag.encoded)
        }
    }

    @inline(__always) private func raw(_ c: inout Cursor, _ bytes: ConstantBytes) {
        if room(&c, bytes.count) { c.p = ddtrace_put_raw(c.p, bytes.start, bytes.count) }
    }

    @inline(__always) private func double(_ c: inout Cursor, _ value: Double) {
        if room(&c, 9) { c.p = ddtrace_put_double(c.p, value) }
    }

    private func hex16(_ start: Cursor, _ value: UInt64) -> Cursor {
        var c = start
        var digits: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &digits) { raw in
            let hexDigits: StaticString = "0123456789abcdef"
            for index in 0..<16 {
                let nibble = Int((value >> UInt64((15 - index) * 4)) & 0xf)
                raw[index] = hexDigits.utf8Start[nibble]
            }
            text(&c, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), 16)
        }
        return c
    }
}

extension TraceEncoder.PreEncodedTag {
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

/// Bytes owned by a `ConstantStore`: a trivial value, so that writing it costs no reference counting.
struct ConstantBytes {
    let start: UnsafePointer<UInt8>
    let count: Int

    @inline(__always) func equals(_ other: UnsafeBufferPointer<UInt8>) -> Bool {
        other.count == count && (count == 0 || memcmp(start, other.baseAddress!, count) == 0)
    }
}

/// Owns the memory behind an encoder's constants (pre-encoded tags, the default service) for the encoder's
/// lifetime. Swift arrays would cost a retain and a release each time the per-span code reads one.
final class ConstantStore {
    private var allocations: [UnsafeMutableRawPointer] = []

    func store(_ bytes: [UInt8]) -> ConstantBytes {
        let stored: UnsafeBufferPointer<UInt8> = store(bytes)
        return ConstantBytes(start: stored.baseAddress!, count: stored.count)
    }

    func store<Element>(_ elements: [Element]) -> UnsafeBufferPointer<Element> {
        let memory = UnsafeMutablePointer<Element>.allocate(capacity: max(1, elements.count))
        memory.initialize(from: elements, count: elements.count)
        allocations.append(UnsafeMutableRawPointer(memory))
        return UnsafeBufferPointer(start: memory, count: elements.count)
    }

    deinit {
        // Everything stored is trivial (ConstantBytes and structs of them), so freeing needs no deinitialization.
        for memory in allocations { memory.deallocate() }
    }
}
