// The OS-level name of the threads the tracer starts, so that `top -H`, `ps -L`, `perf` and debuggers show which
// thread is the tracer's. Foundation's `Thread.name` does not reach the kernel on Linux with this toolchain (the
// threads showed up as `com.apple.root.default-qos` in `ps -L`), so the thread names itself once it runs.

import CDDTraceShims
import Foundation

/// Starts a thread that names itself `name` (Foundation's name and the kernel's; Linux keeps its first 15 bytes)
/// and runs `body`. The thread is not kept: it ends when `body` returns.
func startNamedThread(_ name: String, _ body: @escaping @Sendable () -> Void) {
    let thread = Thread {
        ddtrace_set_thread_name(name)
        body()
    }
    thread.name = name
    thread.start()
}
