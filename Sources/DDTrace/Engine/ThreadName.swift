// The OS-level name of the threads the tracer starts, so that `top -H`, `ps -L`, `perf` and debuggers show which
// thread is the tracer's. Foundation's `Thread.name` does not reach the kernel on Linux with this toolchain (the
// threads showed up as `com.apple.root.default-qos` in `ps -L`), so the thread names itself once it runs.

import CDDTraceShims

/// Names the calling thread; Linux keeps the first 15 bytes of `name`.
func nameCurrentThread(_ name: String) {
    ddtrace_set_thread_name(name)
}
