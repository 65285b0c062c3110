// A value behind a pthread mutex, for the tracer's few non-hot-path locks (thread registration, the flusher's
// mailboxes, configuration hand-offs).
//
// Why not the standard library's `Synchronization.Mutex`: on Linux it is built directly on futexes, which
// ThreadSanitizer cannot see, so every access it protects is reported as a data race and the sanitizer runs of the
// test suite become useless. A pthread mutex costs the same uncontended and is understood by TSan.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

final class LockedValue<Value>: @unchecked Sendable {
    private var value: Value
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let result = pthread_mutex_init(mutex, nil)
        precondition(result == 0, "pthread_mutex_init failed: \(result)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always)
    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
