// HTTP tagging of Tracing spans: the attribute sequences Hummingbird's TracingMiddleware and AsyncHTTPClient
// produce become Datadog's http.* tags; query strings are kept per direction and obfuscated; header tags; error
// statuses; and every integration variable's parsing, with invalid values reported.

import Foundation
import Testing
import Tracing

@testable import DDTrace

@Suite("HTTP tagging: spans")
struct HTTPTaggingSpanTests {
    /// What Hummingbird 2.28's TracingMiddleware does for one request.
    func hummingbirdRequest(
        _ tracer: DDTracer, path: String = "/users/42", query: String? = "page=2&token=abc", status: Int = 200,
        thrown: (any Error)? = nil
    ) -> (tags: [String: String], name: String, error: Int32, resource: String) {
        let span = tracer.startSpan("HTTP GET route not found", context: .topLevel, ofKind: .server)
        span.updateAttributes { attributes in
            attributes["http.request.method"] = "GET"
            attributes["url.path"] = path
            attributes["url.query"] = query
            attributes["user_agent.original"] = "curl/8"
            attributes["http.request.header.x_request_id"] = "req-1"
        }
        span.operationName = "/users/{id}"
        span.updateAttributes { attributes in
            attributes["http.route"] = "/users/{id}"
            attributes["http.response.header.content_type"] = ["text/plain", "charset=utf-8"]
            attributes["http.response.status_code"] = status
        }
        if let thrown {
            if 500..<600 ~= status { span.setStatus(.init(code: .error)) }
            span.recordError(thrown)
        }
        let tags = IntegrationTest.tags(span)
        let state = IntegrationTest.endState(span)
        return (tags, state.name, state.error, state.resource)
    }

    /// What AsyncHTTPClient 1.37 does for one request: one attribute at a time, setStatus(.error) from 400 up.
    func clientRequest(_ tracer: DDTracer, url: String = "http://api.local:8080/v1/items?id=3&api_key=k", status: Int)
        -> (tags: [String: String], name: String, error: Int32, resource: String)
    {
        let span = tracer.startSpan("GET", context: .topLevel, ofKind: .client)
        span.attributes["http.request.method"] = "GET"
        span.attributes["url.scheme"] = "http"
        span.attributes["server.address"] = "api.local"
        span.attributes["server.port"] = 8080
        span.attributes["url.path"] = "/v1/items"
        span.attributes["url.full"] = url
        span.attributes["url.query"] = URL(string: url)?.query
        if status >= 400 { span.setStatus(.init(code: .error)) }
        span.attributes["http.status_code"] = SpanAttribute.int64(Int64(status))
        let tags = IntegrationTest.tags(span)
        let state = IntegrationTest.endState(span)
        return (tags, state.name, state.error, state.resource)
    }

    @Test func hummingbirdServerSpan() throws {
        let tracer = try IntegrationTest.offlineTracer(environment: ["DD_TRACE_HEADER_TAGS": "X-Request-ID"])
        defer { tracer.shutdown(timeout: .milliseconds(100)) }
        let request = hummingbirdRequest(tracer)
        #expect(request.name == "http.server.request")
        #expect(request.resource == "GET /users/{id}")
        #expect(request.error == 0)
        #expect(request.tags["http.method"] == "GET")
        #expect(request.tags["http.url"] == "/users/42?page=2&<redacted>")
        #expect(request.tags["http.route"] == "/users/{id}")
        #expect(request.tags["http.status_code"] == "200")
        #expect(request.tags["http.request.headers.x-request-id"] == "req-1")
        #expect(request.tags["http.response.header.content_type"] == #"["text/plain","charset=utf-8"]"#)
        #expect(request.tags["user_agent.original"] == "curl/8")
        #expect(request.tags["span.kind"] == "server")
        for key in ["http.request.method", "url.path", "url.query", "http.response.status_code"] {
            #expect(request.tags[key] == nil, "\(key) is renamed, not duplicated")
        }
    }

    @Test func serverErrorsFollowTheStatusRanges() throws {
        struct NotFound: Error {}
        let tracer = try IntegrationTest.offlineTracer()
        defer { tracer.shutdown(timeout: .milliseconds(100)) }
        #expect(hummingbirdRequest(tracer, status: 503).error == 1)
        let notFound = hummingbirdRequest(tracer, status: 404, thrown: NotFound())
        #expect(notFound.error == 0, "a thrown 404 is recorded but is not a server error")
        #expect(notFound.tags["error.type"]?.hasSuffix("NotFound") == true)
        let custom = try IntegrationTest.offlineTracer(
            environment: ["DD_TRACE_HTTP_SERVER_ERROR_STATUSES": "404,500-502"])
        defer { custom.shutdown(timeout: .milliseconds(100)) }
        #expect(hummingbirdRequest(custom, status: 404).error == 1)
        #expect(hummingbirdRequest(custom, status: 503).error == 0)
    }

    @Test func serverQueryStringCanBeDropped() throws {
        let tracer = try IntegrationTest.offlineTracer(environment: ["DD_HTTP_SERVER_TAG_QUERY_STRING": "false"])
        defer { tracer.shutdown(timeout: .milliseconds(100)) }
        let request = hummingbirdRequest(tracer)
        #expect(request.tags["http.url"] == "/users/42")
        #expect(request.tags["url.query"] == nil)
        #expect(!request.tags.values.contains { $0.contains("token") })
    }

    @Test func asyncHTTPClientSpan() throws {
        let tracer = try IntegrationTest.offlineTracer()
        defer { tracer.shutdown(timeout: .milliseconds(100)) }
        let request = clientRequest(tracer, status: 200)
        #expect(request.name == "http.client.request")
        #expect(request.resource == "GET")
        #expect(request.error == 0)
        #expect(request.tags["http.method"] == "GET")
        #expect(request.tags["http.url"] == "http://api.local:8080/v1/items?id=3&<redacted>")
        #expect(request.tags["http.status_code"] == "200")
        #expect(request.tags["server.address"] == "api.local")
        #expect(request.tags["server.port"] == "8080")
        #expect(request.tags["span.kind"] == "client")
        #expect(request.tags["url.query"] == nil, "already in http.url")
        #expect(clientRequest(tracer, status: 404).error == 1)
        #expect(clientRequest(tracer, status: 503).error == 0, "5xx is not in the default client range")
    }

    @Test func clientStatusesAndQueryStringSettings() throws {
        let tracer = try IntegrationTest.offlineTracer(environment: [
            "DD_TRACE_HTTP_CLIENT_ERROR_STATUSES": "500-599", "DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING": "false",
        ])
        defer { tracer.shutdown(timeout: .milliseconds(100)) }
        let notFound = clientRequest(tracer, status: 404)
        #expect(notFound.error == 0, "AsyncHTTPClient's setStatus(.error) yields to the configured range")
        #expect(notFound.tags["http.url"] == "http://api.local:8080/v1/items")
        #expect(clientRequest(tracer, status: 500).error == 1)
        let legacy = try IntegrationTest.offlineTracer(environment: ["DD_HTTP_CLIENT_TAG_QUERY_STRING": "false"])
        defer { legacy.shutdown(timeout: .milliseconds(100)) }
        #expect(clientRequest(legacy, status: 200).tags["http.url"] == "http://api.local:8080/v1/items")
    }

    @Test func obfuscationCanBeChangedOrTurnedOff() throws {
        let custom = try IntegrationTest.offlineTracer(
            environment: ["DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP": "id=[0-9]+"])
        defer { custom.shutdown(timeout: .milliseconds(100)) }
        #expect(clientRequest(custom, status: 200).tags["http.url"] == "http://api.local:8080/v1/items?<redacted>&api_key=k")
        let off = try IntegrationTest.offlineTracer(environment: ["DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP": ""])
        defer { off.shutdown(timeout: .milliseconds(100)) }
        #expect(clientRequest(off, status: 200).tags["http.url"] == "http://api.local:8080/v1/items?id=3&api_key=k")
    }

    @Test func headerTagsOverridePerIntegration() throws {
        let tracer = try IntegrationTest.offlineTracer(environment: ["DD_TRACE_HEADER_TAGS": "x-request-id:req.id"])
        defer { tracer.shutdown(timeout: .milliseconds(100)) }
        #expect(hummingbirdRequest(tracer).tags["req.id"] == "req-1")
        tracer.integrations.http.setHeaderTags(
            [DDHeaderTag(header: "Content-Type")], for: .server)
        let overridden = hummingbirdRequest(tracer).tags
        #expect(overridden["req.id"] == nil)
        #expect(overridden["http.request.header.x_request_id"] == "req-1", "not configured: kept as recorded")
        #expect(overridden["http.response.headers.content-type"] == "text/plain, charset=utf-8")
        tracer.integrations.http.setHeaderTags(nil, for: .server)
        #expect(hummingbirdRequest(tracer).tags["req.id"] == "req-1")
    }

    @Test func theDefaultObfuscationPatternRedactsDDTracesCases() {
        let obfuscator = DDQueryObfuscator.default
        let cases: [(String, String)] = [
            ("a=1&password=hunter2&b=2", "a=1&<redacted>&b=2"),
            ("api_key=abc", "<redacted>"),
            ("application_key=abc&x=1", "<redacted>&x=1"),
            ("Signature=xyz", "<redacted>"),
            ("q=swift&page=3", "q=swift&page=3"),
            ("jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc", "jwt=<redacted>"),
        ]
        for (query, expected) in cases { #expect(obfuscator.obfuscate(query) == expected, "\(query)") }
    }

    @Test func headerTagNamesAreNormalizedAsDDTracePy() {
        #expect(DDHeaderTag(header: "X-Request.ID").tag(isRequest: true) == "http.request.headers.x-request_id")
        #expect(DDHeaderTag(header: "Content-Type").tag(isRequest: false) == "http.response.headers.content-type")
        #expect(DDHeaderTag(header: "x", tagName: "custom.tag").tag(isRequest: true) == "custom.tag")
    }

    @Test func theRealAgentReceivesTheHTTPTags() async throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try IntegrationTest.agentTracer(agent, token: token)
        _ = hummingbirdRequest(tracer, status: 500)
        #expect(await tracer.flush(timeout: .seconds(10)).succeeded)
        let span = try #require(try agent.traces(token).first?.first)
        #expect(span.name == "http.server.request")
        #expect(span.resource == "GET /users/{id}")
        #expect(span.type == "web")
        #expect(span.error == 1)
        #expect(span.meta["http.status_code"] == "500")
        #expect(span.meta["http.url"] == "/users/42?page=2&<redacted>")
        #expect(try agent.checkFailures(token) == "")
        tracer.shutdown()
    }
}

/// One invalid integration variable and the diagnostic it must produce.
struct InvalidIntegrationRow: Sendable, CustomTestStringConvertible {
    let variable: String
    let value: String
    let code: DDConfigurationDiagnostic.Code
    let fallback: String
    var testDescription: String { "\(variable)=\(value.debugDescription)" }
}

@Suite("HTTP tagging: configuration")
struct HTTPTaggingConfigurationTests {
    static let invalidRows: [InvalidIntegrationRow] = [
        .init(variable: "DD_LOGS_INJECTION", value: "maybe", code: .invalidBoolean, fallback: "using the default true"),
        .init(variable: "DD_TRACE_HEADER_TAGS", value: ":tag", code: .invalidTag, fallback: "using the default none"),
        .init(variable: "DD_TRACE_HEADER_TAGS", value: "x-ok,bad(header)", code: .invalidTag, fallback: "using x-ok"),
        .init(
            variable: "DD_TRACE_HEADER_TAGS", value: "x-a:tag with,x-b", code: .invalidTag, fallback: "using x-b"),
        .init(
            variable: "DD_HTTP_SERVER_TAG_QUERY_STRING", value: "2", code: .invalidBoolean,
            fallback: "using the default true"),
        .init(
            variable: "DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING", value: "nope", code: .invalidBoolean,
            fallback: "using the default true"),
        .init(
            variable: "DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP", value: "(unclosed", code: .invalidValue,
            fallback: "using the default ddtrace pattern"),
        .init(
            variable: "DD_TRACE_HTTP_SERVER_ERROR_STATUSES", value: "5xx", code: .invalidValue,
            fallback: "using the default 500-599"),
        .init(
            variable: "DD_TRACE_HTTP_SERVER_ERROR_STATUSES", value: "500-599,abc", code: .invalidValue,
            fallback: "using 500-599"),
        .init(
            variable: "DD_TRACE_HTTP_CLIENT_ERROR_STATUSES", value: "700", code: .invalidValue,
            fallback: "using the default 400-499"),
        .init(
            variable: "DD_TRACE_HTTP_CLIENT_ERROR_STATUSES", value: "400-450-499", code: .invalidValue,
            fallback: "using the default 400-499"),
    ]

    @Test(arguments: invalidRows)
    func invalidValueIsReported(_ row: InvalidIntegrationRow) throws {
        let settings = DDIntegrationSettings(environment: [row.variable: row.value])
        let diagnostic = try #require(settings.diagnostics.count == 1 ? settings.diagnostics.first : nil)
        #expect(diagnostic.source == row.variable)
        #expect(diagnostic.value == row.value)
        #expect(diagnostic.code == row.code)
        #expect(diagnostic.fallback == row.fallback)
        #expect(diagnostic.allowed == IntegrationVariable(rawValue: row.variable)?.allowed)
    }

    @Test(arguments: invalidRows)
    func strictModeRejectsIt(_ row: InvalidIntegrationRow) {
        var configuration = DDTracerConfiguration(environment: [row.variable: row.value])
        configuration.agentURL = "unix:///nonexistent/dd.sock"
        configuration.strict = true
        #expect(throws: DDConfigurationError.self) { _ = try DDTracer(configuration: configuration) }
    }

    @Test func everyVariableHasAnInvalidRow() {
        #expect(Set(Self.invalidRows.map(\.variable)) == Set(IntegrationVariable.allCases.map(\.name)))
    }

    @Test func validValues() {
        let settings = DDIntegrationSettings(environment: [
            "DD_LOGS_INJECTION": "off", "DD_TRACE_HEADER_TAGS": "User-Agent:http.useragent content-type",
            "DD_HTTP_SERVER_TAG_QUERY_STRING": "false", "DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING": "0",
            "DD_TRACE_HTTP_SERVER_ERROR_STATUSES": " 599-500 , 404 ", "DD_TRACE_HTTP_CLIENT_ERROR_STATUSES": "400-403,405",
        ])
        #expect(settings.diagnostics.isEmpty)
        #expect(!settings.logsInjection)
        #expect(
            settings.http.headerTags
                == [DDHeaderTag(header: "user-agent", tagName: "http.useragent"), DDHeaderTag(header: "content-type")])
        #expect(!settings.http.serverQueryString && !settings.http.clientQueryString)
        #expect(settings.http.serverErrorStatuses == DDHTTPStatusSet([500...599, 404...404]))
        #expect(settings.http.serverErrorStatuses.description == "500-599,404")
        #expect(settings.http.clientErrorStatuses.contains(405) && !settings.http.clientErrorStatuses.contains(404))
    }

    @Test func defaultsAndBlankValues() {
        let blank = Dictionary(
            uniqueKeysWithValues: IntegrationVariable.allCases.filter { $0 != .queryObfuscation }.map { ($0.name, " ") })
        for settings in [DDIntegrationSettings(environment: [:]), DDIntegrationSettings(environment: blank)] {
            #expect(settings.diagnostics.isEmpty)
            #expect(settings.logsInjection)
            #expect(settings.http.headerTags.isEmpty)
            #expect(settings.http.serverQueryString && settings.http.clientQueryString)
            #expect(settings.http.queryObfuscator.isEnabled)
            #expect(settings.http.serverErrorStatuses == .defaultServer)
            #expect(settings.http.clientErrorStatuses == .defaultClient)
        }
    }

    @Test func integrationTableHasOneRowPerVariable() {
        let lines = IntegrationVariable.markdownTable().split(separator: "\n")
        #expect(lines.count == IntegrationVariable.allCases.count + 2)
        for (line, variable) in zip(lines.dropFirst(2), IntegrationVariable.allCases) {
            #expect(line.hasPrefix("| `\(variable.name)` | \(variable.defaultValue) |"))
        }
    }
}
