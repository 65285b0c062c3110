#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Settings of the tracer, as in ddtrace's `tracer.configure(...)`.
///
/// Every setting is optional: a value set here overrides the corresponding environment variable, which
/// overrides the default. Values set here are validated with the same rules as the environment; their
/// diagnostics name the property (e.g. `spanPoolSize`) instead of the variable. An invalid value falls
/// through to the next source (the environment variable, then the default) with a
/// ``DDConfigurationDiagnostic``, unless ``strict`` is set. Blank strings count as unset.
///
/// ```swift
/// var configuration = DDTracerConfiguration()
/// configuration.service = "checkout"
/// configuration.flushInterval = .milliseconds(500)
/// ```
public struct DDTracerConfiguration: Sendable {
    // MARK: Unified service tagging

    /// The service name reported on every span.
    /// - Environment variable: `DD_SERVICE`
    /// - Default value: a `service` tag in ``tags`` or `DD_TAGS`, else the process name.
    public var service: String?

    /// The environment (`env` tag), e.g. `prod`.
    /// - Environment variable: `DD_ENV`
    /// - Default value: an `env` tag in ``tags`` or `DD_TAGS`, else none.
    public var env: String?

    /// The application version (`version` tag).
    /// - Environment variable: `DD_VERSION`
    /// - Default value: a `version` tag in ``tags`` or `DD_TAGS`, else none.
    public var version: String?

    /// Tags added to every span. They are merged over `DD_TAGS`: a key set here replaces the same key
    /// from the environment, other keys from the environment are kept. Keys and values must not be empty.
    /// - Environment variable: `DD_TAGS` (`key:value` pairs separated by commas or spaces)
    /// - Default value: none.
    public var tags: [String: String]?

    // MARK: Behaviour

    /// Whether spans are recorded and sent at all.
    /// - Environment variable: `DD_TRACE_ENABLED`
    /// - Default value: `true`.
    public var enabled: Bool?

    /// Verbose tracer logging.
    /// - Environment variable: `DD_TRACE_DEBUG`
    /// - Default value: `false`.
    public var debug: Bool?

    // MARK: Agent address
    //
    // Precedence: agentURL > unixSocketPath > hostname/port > DD_TRACE_AGENT_URL >
    // DD_AGENT_HOST/DD_TRACE_AGENT_PORT > /var/run/datadog/apm.socket if it exists > http://localhost:8126.

    /// The agent address: `http://host[:port]` (IPv6 in brackets) or `unix:///absolute/path`.
    /// An `https://` URL always makes resolution throw: https is not supported by this tracer.
    /// - Environment variable: `DD_TRACE_AGENT_URL`
    /// - Default value: none (see ``hostname``, ``port``, ``unixSocketPath``).
    public var agentURL: String?

    /// The agent host name or IP address (IPv6 allowed). Combined with ``port`` or `DD_TRACE_AGENT_PORT`.
    /// - Environment variable: `DD_AGENT_HOST`
    /// - Default value: `localhost`.
    public var hostname: String?

    /// The agent trace port, 1–65535. Combined with ``hostname`` or `DD_AGENT_HOST`.
    /// - Environment variable: `DD_TRACE_AGENT_PORT`
    /// - Default value: `8126`.
    public var port: Int?

    /// Must be `false` or `nil`: `true` always makes resolution throw, because https is not supported and
    /// silently sending traces elsewhere would lose them.
    /// - Environment variable: none (an `https://` `DD_TRACE_AGENT_URL` is rejected instead).
    /// - Default value: `false`.
    public var https: Bool?

    /// The absolute path of the agent's Unix domain socket.
    /// - Environment variable: none (use `DD_TRACE_AGENT_URL=unix:///path`).
    /// - Default value: `/var/run/datadog/apm.socket` when it exists and no host, port or URL is set.
    public var unixSocketPath: String?

    /// The timeout of one request to the agent; more than 0 and at most one hour.
    /// - Environment variable: `DD_TRACE_AGENT_TIMEOUT_SECONDS`
    /// - Default value: 2 seconds.
    public var agentTimeout: Duration?

    // MARK: Buffers and flushing

    /// How often buffered traces are encoded and sent to the agent; 10 ms to 60 s.
    /// - Environment variable: `DD_TRACE_WRITER_INTERVAL_SECONDS`
    /// - Default value: 1 second.
    public var flushInterval: Duration?

    /// Span slots per thread, 64–1048576, allocated in chunks of 256 as the thread needs them (704 bytes each: the
    /// default bounds a thread's pool at 11.5 MB). A span started while all of its thread's slots are in use is not
    /// recorded (its ids still propagate); it is counted in `DDTracerCounters.droppedPoolExhausted`. Slots return
    /// once the flusher has sent their spans, so the pool must cover the spans a thread finishes while the flusher
    /// waits for a CPU: 16384 is 16 ms at 1 M spans/s, where 4096 lost spans at that rate on a 2-vCPU machine.
    /// - Environment variable: `DD_TRACE_SPAN_POOL_SIZE`
    /// - Default value: `16384`.
    public var spanPoolSize: Int?

    /// Entries of each thread's ring of finished spans, 256–1048576; a value that is not a power of two is
    /// rounded up to the next one (with a diagnostic).
    /// A span finished while its thread's ring is full is not lost: it goes onto a shared overflow stack (counted in
    /// `DDTracerCounters.ringOverflows`). The default matches the span pool, so one thread's spans always fit.
    /// - Environment variable: `DD_TRACE_RING_CAPACITY`
    /// - Default value: `16384`.
    public var ringCapacity: Int?

    /// The largest payload sent in one request, in bytes, 65536–52428800 (50 MiB).
    /// - Environment variable: `DD_TRACE_WRITER_MAX_PAYLOAD_SIZE_BYTES`
    /// - Default value: `20971520` (20 MiB, as dd-trace-py).
    public var maxPayloadSize: Int?

    /// The memory cap, in bytes, for encoded data waiting to be sent, 65536–4294967296; it must be at least
    /// ``maxPayloadSize`` and is raised to it (with a diagnostic) if smaller.
    /// - Environment variable: `DD_TRACE_WRITER_BUFFER_SIZE_BYTES`
    /// - Default value: `41943040` (40 MiB), or the max payload size if that is larger.
    public var bufferSize: Int?

    /// Whether the finished spans of a large trace are sent before its root span ends.
    /// - Environment variable: `DD_TRACE_PARTIAL_FLUSH_ENABLED`
    /// - Default value: `true`.
    public var partialFlushEnabled: Bool?

    /// The number of finished spans in one trace that triggers a partial flush, 1–1000000.
    /// - Environment variable: `DD_TRACE_PARTIAL_FLUSH_MIN_SPANS`
    /// - Default value: `300`.
    public var partialFlushMinSpans: Int?

    /// Whether agent I/O tries io_uring first; plain sockets are used when it is unavailable.
    /// - Environment variable: `DD_TRACE_IO_URING_ENABLED`
    /// - Default value: `true`.
    public var ioUringEnabled: Bool?

    /// The trace endpoint: `"v0.4"` or `"v0.5"` (string-table encoding, smaller payloads). With v0.5 an agent
    /// that answers 404 or 415 is used with v0.4 from then on, converting what was already encoded.
    /// - Environment variable: `DD_TRACE_API_VERSION`
    /// - Default value: `"v0.4"`.
    public var apiVersion: String?

    /// Send the tracer's health counters (`datadog.tracer.*`) to DogStatsD every flush interval.
    /// - Environment variable: `DD_TRACE_HEALTH_METRICS_ENABLED`
    /// - Default value: `false`.
    public var healthMetricsEnabled: Bool?

    /// The DogStatsD address for health metrics: `udp://host[:port]` or `unix:///path`.
    /// - Environment variable: `DD_DOGSTATSD_URL` (or `DD_DOGSTATSD_PORT` on the agent's host)
    /// - Default value: the agent's host (localhost for a unix-socket agent), port 8125, over UDP.
    public var dogstatsdURL: String?

    /// Tag each trace's first span with the system hostname (`_dd.hostname`). A hostname that is not a valid
    /// RFC 1123 name is not reported (and logged).
    /// - Environment variable: `DD_TRACE_REPORT_HOSTNAME`
    /// - Default value: `false`.
    public var reportHostname: Bool?

    // MARK: Resolution

    /// The environment variables to read; replace it to test or to isolate the tracer from the process.
    /// - Environment variable: not applicable.
    /// - Default value: `ProcessInfo.processInfo.environment`.
    public var environment: [String: String]

    /// When `true`, any diagnostic (a malformed variable, an out-of-range value…) makes resolution throw a
    /// ``DDConfigurationError`` listing all of them, instead of falling back and carrying on.
    /// - Environment variable: none.
    /// - Default value: `false`.
    public var strict: Bool = false

    /// Creates a configuration with no programmatic settings.
    /// - Parameter environment: the variables to read; defaults to the process environment.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }
}
