// Whether the tests run in a sanitizer build (`swift test --sanitize=address|thread`, see
// scripts/test-sanitizers.sh), for the few checks that measure the process rather than the tracer.

#if canImport(Glibc)
    import Glibc
#endif

enum SanitizerBuild {
    /// The sanitizer runtimes are linked into the test executable and export their entry points, which a plain
    /// build does not have.
    static let isActive = dlsym(nil, "__asan_init") != nil || dlsym(nil, "__tsan_init") != nil
}
