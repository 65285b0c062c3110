import Tracing

/// How one swift-distributed-tracing attribute value is stored on a Datadog span: numbers as metrics, everything
/// else as meta strings (booleans as `true`/`false`, arrays as JSON text), as dd-trace-py's OpenTelemetry shim does.
enum TagValue: Equatable {
    case meta(String)
    case metric(Double)

    init?(_ attribute: SpanAttribute) {
        switch attribute {
        case .int32(let value): self = .metric(Double(value))
        case .int64(let value): self = .metric(Double(value))
        case .double(let value): self = .metric(value)
        case .bool(let value): self = .meta(value ? "true" : "false")
        case .string(let value): self = .meta(value)
        case .stringConvertible(let value): self = .meta(value.description)
        default:
            // Arrays (and any case added later) as JSON text, so that nothing set by a library is lost.
            guard let json = JSONText.array(attribute) else { return nil }
            self = .meta(json)
        }
    }

    /// The attribute as text (numbers without a fractional part print as integers: `200`, not `200.0`).
    var text: String {
        switch self {
        case .meta(let value): value
        case .metric(let value): JSONText.number(value)
        }
    }
}

/// Minimal JSON writing for the attribute arrays, span events and span links stored as meta strings.
enum JSONText {
    /// A JSON array for an array attribute; nil for scalars.
    static func array(_ attribute: SpanAttribute) -> String? {
        switch attribute {
        case .int32Array(let values): "[" + values.map { "\($0)" }.joined(separator: ",") + "]"
        case .int64Array(let values): "[" + values.map { "\($0)" }.joined(separator: ",") + "]"
        case .doubleArray(let values): "[" + values.map(number).joined(separator: ",") + "]"
        case .boolArray(let values): "[" + values.map { $0 ? "true" : "false" }.joined(separator: ",") + "]"
        case .stringArray(let values): "[" + values.map(string).joined(separator: ",") + "]"
        case .stringConvertibleArray(let values): "[" + values.map(convertible).joined(separator: ",") + "]"
        default: nil
        }
    }

    /// Tracing turns `[Int]` (and arrays of other numeric types) into `.stringConvertibleArray`: numbers and
    /// booleans stay JSON numbers and booleans, anything else becomes a string.
    private static func convertible(_ value: any CustomStringConvertible & Sendable) -> String {
        switch value {
        case let value as Bool: value ? "true" : "false"
        case let value as any BinaryInteger: "\(value)"
        case let value as Double: number(value)
        case let value as Float: number(Double(value))
        default: string(value.description)
        }
    }

    /// Any attribute as a JSON value.
    static func value(_ attribute: SpanAttribute) -> String {
        if let array = array(attribute) { return array }
        switch attribute {
        case .int32(let value): return "\(value)"
        case .int64(let value): return "\(value)"
        case .double(let value): return number(value)
        case .bool(let value): return value ? "true" : "false"
        case .string(let value): return string(value)
        case .stringConvertible(let value): return string(value.description)
        default: return "null"
        }
    }

    /// `{"key":value,...}` with keys sorted, so equal attribute sets give equal text.
    static func object(_ attributes: SpanAttributes, stringValues: Bool = false) -> String {
        var members: [(String, String)] = []
        attributes.forEach { key, attribute in
            let rendered = stringValues ? string(TagValue(attribute)?.text ?? "") : value(attribute)
            members.append((key, rendered))
        }
        return "{" + members.sorted { $0.0 < $1.0 }.map { string($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }

    /// A JSON number; integral values without a fraction, non-finite values as strings (JSON has none).
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return string("\(value)") }
        if value == value.rounded(), abs(value) < 1e15 { return "\(Int64(value))" }
        return "\(value)"
    }

    /// A JSON string literal.
    static func string(_ text: String) -> String {
        var out = "\""
        out.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
