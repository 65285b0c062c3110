import AsyncHTTPClient
import DDTrace
import Hummingbird
import Logging
import NIOCore

/// The routes of both modes, all traced; the traces of `/health` are dropped by the tracer's trace filter.
func makeRouter(options: Options, client: HTTPClient, tracing: Bool) -> Router<BasicRequestContext> {
    let router = Router()
    if tracing {
        // Records the request id header as a span attribute; DD_TRACE_HEADER_TAGS decides its Datadog tag.
        router.add(middleware: TracingMiddleware(recordingHeaders: [.init("x-request-id")!]))
    }
    router.get("/health") { _, _ in "ok" }
    let routes = router.group()
    switch options.mode {
    case .frontend: addFrontendRoutes(routes, backend: options.backend, client: client)
    case .backend: addBackendRoutes(routes)
    }
    return router
}

/// `GET /hello/{name}`: asks the backend for the greeting.
func addFrontendRoutes(_ router: RouterGroup<BasicRequestContext>, backend: String, client: HTTPClient) {
    router.get("/hello/{name}") { request, context -> String in
        let name = try context.parameters.require("name")
        context.logger.info("calling the backend")
        // The query string shows obfuscation: `token=...` reaches the agent as `<redacted>`.
        let outgoing = HTTPClientRequest(url: "\(backend)/greeting/\(name)?lang=en&token=s3cr3t")
        let response = try await client.execute(outgoing, timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 16)
        guard response.status == .ok else { throw HTTPError(.badGateway) }
        return String(buffer: body)
    }
}

/// `GET /greeting/{name}`: composes the greeting in a native span, a child of Hummingbird's server span.
func addBackendRoutes(_ router: RouterGroup<BasicRequestContext>) {
    router.get("/greeting/{name}") { request, context -> String in
        let name = try context.parameters.require("name")
        return DDTracer.shared.trace("greeting.compose", resource: "compose greeting") { span in
            span.setTag("greeting.language", request.uri.queryParameters["lang"].map(String.init) ?? "en")
            context.logger.info("composed the greeting")
            return "Hello, \(name)!\n"
        }
    }
}
