/// W3C `tracestate` list members and Datadog's `dd=` member (dd-trace-py `internal/utils/http.py`).
enum Tracestate {
    static let datadogKey = "dd="
    static let otelKey = "ot="
    /// `DD_TRACE_TRACESTATE_MAX_ITEMS`, `_MAX_BYTES`, `_ITEM_MAX_CHARS` and `W3C_DD_LIST_MEMBER_MAX_CHARS`.
    static let maxMembers = 32
    static let maxBytes = 512
    static let oversizedMemberChars = 128
    static let maxDatadogMemberChars = 256
    /// `_W3C_DD_LIST_MEMBER_RESERVED_LEN`: `dd=` plus `p:<16 hex>;`, reserved whether or not `p` is written.
    private static let reservedDatadogChars = 3 + 19

    // MARK: Limits

    /// `w3c_tracestate_members_after_limits`: trims members and drops empty ones; puts the last `dd=` and the
    /// last `ot=` member first (protected); keeps at most 32 members, dropping members over 128 characters
    /// first; then packs whole members into 512 bytes (the first protected member always stays, a member over
    /// 128 characters that does not fit is skipped, any other that does not fit ends the list).
    static func membersAfterLimits(_ raw: [Substring]) -> [String] {
        let members = raw.map(PropagationText.trimmed).filter { !$0.isEmpty }
        let protected = [datadogKey, otelKey].compactMap { key in
            members.last { PropagationText.hasPrefix($0, key) }
        }
        var others = members.filter {
            !PropagationText.hasPrefix($0, datadogKey) && !PropagationText.hasPrefix($0, otelKey)
        }
        dropExcess(&others, keeping: maxMembers - protected.count)
        return packed(protected + others, protectedCount: protected.count)
    }

    /// The members of a received header (split on commas, as dd-trace-py does before trimming).
    static func membersAfterLimits(header: String) -> [String] {
        membersAfterLimits(
            header.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).map { Substring($0) })
    }

    private static func isOversized(_ member: Substring) -> Bool {
        // Python counts code points; there are never more of them than UTF-8 bytes.
        member.utf8.count > oversizedMemberChars && member.unicodeScalars.count > oversizedMemberChars
    }

    private static func dropExcess(_ members: inout [Substring], keeping limit: Int) {
        guard members.count > limit else { return }
        var excess = members.count - limit
        members.removeAll { member in
            guard excess > 0, isOversized(member) else { return false }
            excess -= 1
            return true
        }
        if members.count > limit { members.removeLast(members.count - limit) }
    }

    private static func packed(_ members: [Substring], protectedCount: Int) -> [String] {
        var result: [String] = []
        var bytes = 0
        for (index, member) in members.enumerated() {
            let size = member.utf8.count + (result.isEmpty ? 0 : 1)
            if (protectedCount > 0 && index == 0) || bytes + size <= maxBytes {
                result.append(String(member))
                bytes += size
            } else if index >= protectedCount, isOversized(member) {
                continue
            } else {
                break
            }
        }
        return result
    }

    // MARK: The dd= member on inject

    /// `dd=p:…;s:…;o:…;t.dm:…;t.usr.id:…;t.<x>:…`, or nil when there is nothing to say.
    ///
    /// `p` is the context's own span when it is a local span (dd-trace-py `_is_remote is False`), else the last
    /// Datadog parent received. `s`, `o`, `t.dm` and `t.usr.id` are always written; other tags only while the
    /// member stays within 256 characters (`w3c_get_dd_list_member`).
    static func datadogMember(of context: DDTraceContext) -> String? {
        var fields: [String] = []
        if let priority = context.samplingPriority { fields.append("s:\(priority.rawValue)") }
        if let origin = context.origin, !origin.isEmpty { fields.append("o:" + encodeValue(origin)) }
        let tags = DatadogHeaders.propagatedTags(of: context)
        for key in [DatadogHeaders.decisionMakerTag, DatadogHeaders.userIdTag] {
            if let value = tags.first(where: { $0.key == key })?.value, !value.isEmpty {
                fields.append(tagField(key: key, value: value))
            }
        }
        // Encoded fields are ASCII: bytes are characters.
        var length = reservedDatadogChars + fields.reduce(0) { $0 + $1.utf8.count } + max(0, fields.count - 1)
        for (key, value) in tags where key != DatadogHeaders.decisionMakerTag && key != DatadogHeaders.userIdTag {
            let field = tagField(key: key, value: value)
            let fieldLength = field.utf8.count + (fields.isEmpty ? 0 : 1)
            guard length + fieldLength <= maxDatadogMemberChars else { continue }
            fields.append(field)
            length += fieldLength
        }
        let parent = context.localSpan != nil ? context.spanId : context.lastDatadogParentId
        if let parent { fields.insert("p:" + PropagationText.hex16(parent), at: 0) }
        return fields.isEmpty ? nil : datadogKey + fields.joined(separator: ";")
    }

    private static func tagField(key: String, value: String) -> String {
        "t." + encodeKey(String(key.dropFirst(DatadogHeaders.tagPrefix.count))) + ":" + encodeValue(value)
    }

    /// `,`, space, `=` and runs of characters outside 0x20–0x7E become `_`.
    static func encodeKey(_ key: String) -> String {
        encode(key) { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "=") }
    }

    /// `,`, `;`, `~` and runs of characters outside 0x20–0x7E become `_`; `=` becomes `~` (decoded on extract).
    static func encodeValue(_ value: String) -> String {
        encode(value) { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: ";") || $0 == UInt8(ascii: "~") }
    }

    /// On UTF-8 bytes: a run of characters outside 0x20–0x7E is exactly a run of bytes outside that range, since
    /// every byte of a multi-byte character is ≥ 0x80.
    private static func encode(_ text: String, replacing isReplaced: (UInt8) -> Bool) -> String {
        var result: [UInt8] = []
        result.reserveCapacity(text.utf8.count)
        var inUnprintableRun = false
        for byte in text.utf8 {
            // The regex `[^\x20-\x7E]+` replaces a whole run with a single `_`.
            guard (0x20...0x7E).contains(byte) else {
                if !inUnprintableRun { result.append(UInt8(ascii: "_")) }
                inUnprintableRun = true
                continue
            }
            inUnprintableRun = false
            result.append(isReplaced(byte) ? UInt8(ascii: "_") : byte == UInt8(ascii: "=") ? UInt8(ascii: "~") : byte)
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// `~` back to `=` (`_TraceContext.decode_tag_val`).
    static func decodeValue(_ value: Substring) -> String {
        guard value.utf8.contains(UInt8(ascii: "~")) else { return String(value) }
        return String(decoding: value.utf8.map { $0 == UInt8(ascii: "~") ? UInt8(ascii: "=") : $0 }, as: UTF8.self)
    }
}

extension Tracestate {
    /// A received `dd=` member: `;`-separated `key:value` fields (`_TraceContext._get_tracestate_values`).
    /// Any field without `:` or an `s` that is not an integer makes the whole member unreadable.
    struct DatadogMember {
        var priority: Int?
        var origin: String?
        var lastParentId: UInt64?
        var tags: [String: String] = [:]

        /// Reads the fields in order, so a repeated key keeps its last value (as Python's `dict(...)` does).
        init?(_ value: Substring) {
            var rawPriority: Substring?
            for item in value.utf8.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false) {
                guard let colon = item.firstIndex(of: UInt8(ascii: ":")) else { return nil }
                let key = Substring(item[..<colon])
                let field = Substring(item[item.index(after: colon)...])
                // Byte comparisons: `Substring == String` would compare Unicode-canonically.
                switch key.utf8.count == 1 ? key.utf8.first : nil {
                case UInt8(ascii: "s"): rawPriority = field
                case UInt8(ascii: "o"): origin = field.isEmpty ? nil : Tracestate.decodeValue(field)
                // dd-trace-py keeps `p` as text; an id that is not hex cannot be re-sent, so it is dropped.
                case UInt8(ascii: "p"): lastParentId = PropagationText.hex(field.utf8, maxDigits: 16)?.low
                default:
                    if PropagationText.hasPrefix(key, "t.") {
                        tags[DatadogHeaders.tagPrefix + key.dropFirst(2)] = Tracestate.decodeValue(field)
                    }
                }
            }
            if let rawPriority {
                guard let priority = PropagationText.smallInteger(rawPriority) else { return nil }
                self.priority = priority
            }
            // The high half of the trace id is in `traceparent`; `DDTraceContext` does not keep it as a tag.
            tags.removeValue(forKey: DatadogHeaders.traceIdHighTag)
        }
    }
}
