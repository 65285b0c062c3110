// Values the tracer reads from the system rather than from the user: the container id (from /proc/self/cgroup,
// sent to the agent as `Datadog-Container-ID` so it can tag traces with container metadata) and the hostname
// (`_dd.hostname`, with `DD_TRACE_REPORT_HOSTNAME`).
//
// Both end up in an HTTP header or a span tag, so both are validated against the shapes they can legitimately have;
// anything else is ignored (and the reason logged), because a value with a CR/LF would otherwise make every
// request to the agent fail the C formatter's check, and a foreign value would attach traces to the wrong host.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

enum SystemIdentity {
    /// The container id in the text of `/proc/self/cgroup`, or nil. Recognised shapes, as in dd-trace-py and the
    /// agent: 64 hex digits (Docker, containerd), a UUID (Kubernetes pods on some runtimes, with `-` or `_`),
    /// or 32 hex digits, `-` and a decimal task number (ECS Fargate); optionally inside a systemd
    /// `docker-<id>.scope` / `cri-containerd-<id>.scope` unit name.
    static func containerID(cgroup text: String) -> String? {
        for line in text.split(whereSeparator: { $0 == "\n" }) {
            // hierarchy-id:controllers:path
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, let last = fields[2].split(separator: "/").last else { continue }
            var name = Substring(last)
            if name.hasSuffix(".scope") { name = name.dropLast(".scope".count) }
            if let dash = name.lastIndex(of: "-"), isHex(name[name.index(after: dash)...], count: 64) {
                name = name[name.index(after: dash)...]  // docker-<id>, cri-containerd-<id>
            }
            if let id = recognised(name) { return id }
        }
        return nil
    }

    private static func recognised(_ name: Substring) -> String? {
        let bytes = Array(name.utf8)
        if isHex(name, count: 64) { return String(name) }
        // UUID: 8-4-4-4-12 hex groups separated by '-' or '_'.
        let groups = name.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "-" || $0 == "_" })
        if groups.count == 5, zip(groups, [8, 4, 4, 4, 12]).allSatisfy({ isHex($0, count: $1) }) {
            return String(name)
        }
        // ECS: 32 hex, '-', digits.
        if bytes.count > 33, isHex(name.prefix(32), count: 32), bytes[32] == UInt8(ascii: "-"),
            bytes[33...].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        {
            return String(name)
        }
        return nil
    }

    private static func isHex(_ text: Substring, count: Int) -> Bool {
        text.utf8.count == count
            && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// A hostname as RFC 1123 allows it (letters, digits, `-`, `.`, and `_`, which real systems use), 1 to 255
    /// bytes; nil for anything else.
    static func validatedHostname(_ raw: String) -> String? {
        let bytes = raw.utf8
        guard (1...255).contains(bytes.count), bytes.first != UInt8(ascii: "-"), bytes.first != UInt8(ascii: ".")
        else { return nil }
        let valid = bytes.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
        }
        return valid ? raw : nil
    }

    /// `/proc/self/cgroup`, or nil where it cannot be read (not Linux, or a sandbox).
    static func readCgroup(path: String = "/proc/self/cgroup") -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            bytes += buffer[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The system's hostname as gethostname(2) reports it (unvalidated).
    static func systemHostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
