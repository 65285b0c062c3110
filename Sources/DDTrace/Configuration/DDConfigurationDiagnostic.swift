/// A problem found while resolving the tracer configuration, and what the tracer does about it.
///
/// In lenient mode (the default) diagnostics are attached to the resolved configuration and the tracer
/// carries on with the fallback; in strict mode (``DDTracerConfiguration/strict``) any diagnostic makes
/// resolution fail with a ``DDConfigurationError``.
///
/// Its ``description`` is one line suitable for logs, for example:
/// `DD_TRACE_SPAN_POOL_SIZE="abc": not an integer; allowed: an integer in 64...1048576; using the default 16384`.
public struct DDConfigurationDiagnostic: Sendable, Equatable, CustomStringConvertible {
    /// A stable, machine-readable classification of a diagnostic.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String

        public init(rawValue: String) {
            self.rawValue = rawValue
        }

        /// Not one of `true/false/1/0/yes/no/on/off`.
        public static let invalidBoolean = Code(rawValue: "invalid-boolean")
        /// Not a number, or not an integer where one is required.
        public static let invalidNumber = Code(rawValue: "invalid-number")
        /// A number outside the allowed range.
        public static let outOfRange = Code(rawValue: "out-of-range")
        /// A capacity that must be a power of two was rounded up.
        public static let notPowerOfTwo = Code(rawValue: "not-power-of-two")
        /// An agent URL that cannot be parsed.
        public static let invalidURL = Code(rawValue: "invalid-url")
        /// An agent URL whose scheme is not `http` or `unix` (notably `https`).
        public static let unsupportedScheme = Code(rawValue: "unsupported-scheme")
        /// A `DD_TAGS` item that is not a `key:value` pair.
        public static let invalidTag = Code(rawValue: "invalid-tag")
        /// A value that contradicts another setting and was adjusted.
        public static let inconsistent = Code(rawValue: "inconsistent")
        /// Any other unusable value (a malformed host, a relative socket path, control characters…).
        public static let invalidValue = Code(rawValue: "invalid-value")

        public var description: String { rawValue }
    }

    /// What kind of problem this is.
    public let code: Code
    /// The environment variable (`DD_TRACE_SPAN_POOL_SIZE`) or the ``DDTracerConfiguration`` property
    /// (`spanPoolSize`) the value came from.
    public let source: String
    /// The raw value as given.
    public let value: String
    /// What is wrong with the value.
    public let message: String
    /// The values that would have been accepted.
    public let allowed: String
    /// What the tracer does instead, e.g. `using the default 16384`.
    public let fallback: String

    init(code: Code, source: String, value: String, message: String, allowed: String, fallback: String) {
        self.code = code
        self.source = source
        self.value = value
        self.message = message
        self.allowed = allowed
        self.fallback = fallback
    }

    public var description: String {
        // `debugDescription` quotes the value and escapes control characters, so one diagnostic stays one line.
        "\(source)=\(value.debugDescription): \(message); allowed: \(allowed); \(fallback)"
    }
}

/// Resolution failed: strict mode found diagnostics, or a setting is never acceptable (https).
public struct DDConfigurationError: Error, Sendable, CustomStringConvertible {
    /// Every diagnostic found, not only the first, so all problems can be fixed at once.
    public let diagnostics: [DDConfigurationDiagnostic]

    init(diagnostics: [DDConfigurationDiagnostic]) {
        self.diagnostics = diagnostics
    }

    public var description: String {
        (["invalid tracer configuration:"] + diagnostics.map { "  - \($0)" }).joined(separator: "\n")
    }
}
