// A Hummingbird service traced with swift-dd-trace through swift-distributed-tracing.
//
//     hummingbird-service backend  --port 8081
//     hummingbird-service frontend --port 8080 --backend http://127.0.0.1:8081
//
// `GET /hello/{name}` on the frontend calls `GET /greeting/{name}` on the backend with AsyncHTTPClient; the backend
// composes the greeting in a native `tracer.trace` span. One request gives one distributed trace:
//
//     frontend  http.server.request  GET /hello/{name}        (Hummingbird's TracingMiddleware)
//     frontend    http.client.request  GET                    (AsyncHTTPClient; injects the Datadog headers)
//     backend       http.server.request  GET /greeting/{name} (extracts them: same trace, child of the client span)
//     backend         greeting.compose                        (native span, child through ServiceContext)
//
// `GET /health` answers on both; its traces are dropped by a trace filter. Logs carry the
// correlation ids in dd-trace-py's text format. SIGTERM/SIGINT shut down gracefully: the HTTP server drains, then
// `DDTracerService` flushes the last spans. `TRACING=off` runs without any instrumentation (a baseline for load
// tests).

import AsyncHTTPClient
import DDTrace
import DDTraceServiceLifecycle
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Tracing

let options = try Options(CommandLine.arguments)
let tracingEnabled = ProcessInfo.processInfo.environment["TRACING"] != "off"

// 1. The tracer first: it is the instrument that AsyncHTTPClient captures when its configuration is created, and
//    the log correlation provider reads it.
let tracer: DDTracer? = tracingEnabled ? try DDTracer.bootstrapForDistributedTracing() : nil
// Health checks are traced like any request, and their traces dropped before sampling (dd-trace-py's
// FilterRequestsOnUrl). A server span's http.url is its path (Hummingbird gives no host), hence the pattern.
try tracer?.configure(traceFilters: [FilterRequestsOnUrl("/health")])

// 2. Logs: every record made inside a span carries the correlation ids.
LoggingSystem.bootstrap(
    { label, metadataProvider in CorrelatedLogHandler(label: label, metadataProvider: metadataProvider) },
    metadataProvider: tracer?.logMetadataProvider)
let logger = Logger(label: "hummingbird-service.\(options.mode.rawValue)")

// 3. The HTTP client (traced: its configuration captured the bootstrapped tracer).
let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)

let app = Application(
    router: makeRouter(options: options, client: httpClient, tracing: tracingEnabled),
    configuration: .init(address: .hostname("127.0.0.1", port: options.port), serverName: options.mode.rawValue),
    logger: logger)

// 4. Graceful shutdown: a ServiceGroup stops its services in reverse order, so the tracer, listed first, flushes
//    after the server has finished its last requests.
var services: [any Service] = [app]
if let tracer { services.insert(DDTracerService(tracer: tracer), at: 0) }
let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
try await group.run()
try await httpClient.shutdown().get()
logger.info("stopped", metadata: ["spans.sent": "\(tracer?.counters.spansSent ?? 0)"])
