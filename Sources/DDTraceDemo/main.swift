// dd-trace-demo: traces a small, realistic workload and sends it to the agent named by the usual DD_*
// environment variables (see README). It simulates an HTTP service: each request is a root span with an auth
// check, a cache lookup on a worker thread, concurrent database queries in child tasks, and sometimes an error.
//
//   DD_TRACE_AGENT_URL=unix:///var/run/datadog/apm.socket DD_SERVICE=demo swift run dd-trace-demo [requests]

import DDTrace
import Foundation

struct NotFound: Error, CustomStringConvertible {
    let id: Int
    var description: String { "user \(id) not found" }
}

let requests = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 20 : 20
let tracer = try DDTracer.bootstrap()
for diagnostic in tracer.configurationDiagnostics { print("configuration: \(diagnostic)") }

/// A blocking cache client that runs on its own thread, as a C library's callback would.
func cacheLookup(_ key: String, parent: DDTraceContext) -> Bool {
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        let span = tracer.startSpan("redis.command", childOf: parent, service: "demo-redis", resource: "GET", spanType: "cache")
        span.setTag("redis.key", key)
        usleep(200)
        span.finish()
        done.signal()
    }
    thread.start()
    done.wait()
    return key.hasSuffix("7")
}

func handle(request id: Int) async {
    _ = try? await tracer.trace("http.request", resource: "GET /users/:id", spanType: "web") { span async throws in
        span.setTag("http.method", "GET")
        span.setTag("http.url", "http://demo.local/users/\(id)")
        tracer.trace("auth.check") { auth in auth.setTag("user.role", id % 3 == 0 ? "admin" : "member") }
        let cached = cacheLookup("users:\(id)", parent: span.context)
        if !cached {
            await withTaskGroup(of: Void.self) { group in
                for table in ["users", "orders"] {
                    group.addTask {
                        await tracer.trace("postgres.query", service: "demo-postgres", resource: "SELECT * FROM \(table) WHERE id = ?", spanType: "sql") { query in
                            query.setMetric("db.row_count", Double(id % 5))
                            try? await Task.sleep(for: .microseconds(300))
                        }
                    }
                }
            }
        }
        if id % 10 == 9 {
            span.setTag("http.status_code", "404")
            throw NotFound(id: id)
        }
        span.setTag("http.status_code", "200")
    }
}

func runDemo() async -> Bool {
    let started = ContinuousClock.now
    await withTaskGroup(of: Void.self) { group in
        for id in 0..<requests {
            group.addTask { await handle(request: id) }
        }
    }
    let result = await tracer.flush(timeout: .seconds(10))
    print("traced \(requests) requests in \(ContinuousClock.now - started); flush succeeded: \(result.succeeded)")
    print("counters: \(tracer.counters)")
    return result.succeeded
}

let succeeded = await runDemo()
tracer.shutdown()
exit(succeeded ? 0 : 1)
