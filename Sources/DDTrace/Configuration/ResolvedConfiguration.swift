#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The tracer's final settings: every value validated, defaulted and converted to the units the engine uses.
struct ResolvedConfiguration: Sendable {
    var service: String
    var env: String?
    var version: String?
    /// `DD_TAGS` merged with the programmatic tags, in a stable order (environment order, then programmatic keys
    /// sorted), without `service`, `env` and `version`, which have their own fields.
    var globalTags: [(key: String, value: String)]
    var enabled: Bool
    var debug: Bool
    var agent: AgentEndpoint
    /// Rounded up, so a positive timeout never becomes 0.
    var agentTimeoutMilliseconds: Int
    var flushIntervalNanoseconds: Int64
    var spanPoolSize: Int
    /// Always a power of two.
    var ringCapacity: Int
    var maxPayloadBytes: Int
    /// Always at least `maxPayloadBytes`.
    var bufferCapBytes: Int
    var partialFlushEnabled: Bool
    var partialFlushMinSpans: Int
    var ioUringEnabled: Bool
    var apiVersion: TraceAPIVersion
    var healthMetricsEnabled: Bool
    /// `DD_DOGSTATSD_URL`, when set (else `dogstatsd(agent:)` uses the agent's host and `dogstatsdPort`).
    var dogstatsdURL: DogStatsDEndpoint?
    var dogstatsdPort: Int
    var reportHostname: Bool

    /// Where health metrics go: the URL, else the agent's host (localhost for a unix-socket agent) over UDP.
    var dogstatsd: DogStatsDEndpoint {
        if let dogstatsdURL { return dogstatsdURL }
        switch agent {
        case .tcp(let host, _): return .udp(host: host, port: dogstatsdPort)
        case .unix: return .udp(host: AgentEndpoint.defaultHost, port: dogstatsdPort)
        }
    }
    /// Every problem found while resolving, with what was used instead.
    var diagnostics: [DDConfigurationDiagnostic]
}

/// Where traces are sent.
enum AgentEndpoint: Sendable, Equatable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    static let defaultHost = "localhost"
    static let defaultPort = IntegerRule.agentPort.defaultValue
    static let defaultSocketPath = "/var/run/datadog/apm.socket"
    static let defaultTCP = AgentEndpoint.tcp(host: defaultHost, port: defaultPort)

    /// The URL form: `http://host:port`, `http://[::1]:8126`, `unix:///path`.
    var description: String {
        switch self {
        case .tcp(let host, let port) where host.contains(":"): "http://[\(host)]:\(port)"
        case .tcp(let host, let port): "http://\(host):\(port)"
        case .unix(let path): "unix://\(path)"
        }
    }

    /// Whether something exists at `path`, as dd-trace-py's `os.path.exists` check of the default socket.
    static func fileExists(atPath path: String) -> Bool {
        access(path, F_OK) == 0
    }
}

extension DDTracerConfiguration {
    /// Validates and merges the programmatic settings, the environment and the defaults.
    ///
    /// All problems are collected. In lenient mode they are returned in `diagnostics` with the fallback used;
    /// in strict mode any of them throws. Programmatic https always throws.
    ///
    /// - Parameter socketExists: checks whether the default agent socket exists (injectable for tests).
    func resolve(
        socketExists: (String) -> Bool = AgentEndpoint.fileExists(atPath:)
    ) throws(DDConfigurationError) -> ResolvedConfiguration {
        // The resolver keeps the check for its lazily evaluated socket candidate; it does not outlive this call.
        let (resolved, log) = withoutActuallyEscaping(socketExists) { socketExists in
            var resolver = ConfigurationResolver(configuration: self, socketExists: socketExists)
            return (resolver.resolveAll(), resolver.log)
        }
        if log.hasFatal || (strict && !log.diagnostics.isEmpty) {
            throw DDConfigurationError(diagnostics: log.diagnostics)
        }
        return resolved
    }
}
