/// Version information sent to the agent in `Datadog-Meta-*` headers.
public enum DDTraceVersion {
    /// This library's version (`Datadog-Meta-Tracer-Version`).
    public static let current = "0.1.0"

    /// The Swift language version the library was compiled with (`Datadog-Meta-Lang-Version`).
    public static var swiftLanguageVersion: String {
        #if swift(>=6.4)
            return "6.4"
        #elseif swift(>=6.3)
            return "6.3"
        #elseif swift(>=6.2)
            return "6.2"
        #elseif swift(>=6.1)
            return "6.1"
        #else
            return "6.0"
        #endif
    }
}
