#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Parsing and validation of agent addresses: `DD_TRACE_AGENT_URL`, `DD_AGENT_HOST` and the programmatic
/// `agentURL`, `hostname` and `unixSocketPath`.
enum AgentAddressRule {
    static let urlAllowed = "http://host[:port] (port defaults to \(AgentEndpoint.defaultPort); IPv6 in brackets) "
        + "or unix:///absolute/path"
    static let hostAllowed = "a hostname, IPv4 or IPv6 address"
    static let socketPathAllowed = "an absolute path of at most 107 bytes"
    static let maxSocketPathBytes = 107
    static let httpsAllowed = "false"
    static let httpsMessage = "https is not supported by this tracer; use http:// or unix://"

    /// Parses `http://host[:port]` or `unix:///path`.
    ///
    /// - Parameter httpsIsFatal: an https URL set in code always fails resolution, because silently sending
    ///   traces elsewhere would lose them; from the environment it only falls through to the next source.
    static func parseURL(_ raw: String, httpsIsFatal: Bool) -> SettingCheck<AgentEndpoint> {
        guard let separator = raw.firstRange(of: "://") else {
            return .invalid(SettingProblem(.invalidURL, "not a URL (expected http:// or unix://)"))
        }
        let scheme = raw[..<separator.lowerBound].lowercased()
        let rest = raw[separator.upperBound...]
        switch scheme {
        case "http": return parseHTTPAuthority(rest)
        case "unix": return checkSocketPath(String(rest), code: .invalidURL)
        case "https": return .invalid(SettingProblem(.unsupportedScheme, httpsMessage, isFatal: httpsIsFatal))
        default:
            let message = "unsupported scheme \"\(scheme)\"; use http:// or unix://"
            return .invalid(SettingProblem(.unsupportedScheme, message))
        }
    }

    /// Accepts a hostname, an IPv4 address, or an IPv6 address with or without brackets.
    static func parseHost(_ raw: String) -> SettingCheck<String> {
        let isBracketed = raw.hasPrefix("[") && raw.hasSuffix("]") && raw.count > 2
        let host = isBracketed ? raw.dropFirst().dropLast() : raw[...]
        guard isIPv6Address(host) || (!isBracketed && isHostname(host)) else {
            return .invalid(SettingProblem(.invalidValue, "not a hostname or IP address"))
        }
        return .valid(String(host))
    }

    static func checkSocketPath(_ path: String, code: DDConfigurationDiagnostic.Code) -> SettingCheck<AgentEndpoint> {
        guard path.hasPrefix("/"), path.count > 1 else {
            return .invalid(SettingProblem(code, "not an absolute socket path"))
        }
        // sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
        guard path.utf8.count <= maxSocketPathBytes else {
            return .invalid(SettingProblem(code, "socket path longer than \(maxSocketPathBytes) bytes"))
        }
        return .valid(.unix(path: path))
    }

    /// `host[:port]` after `http://`; a trailing `/` is tolerated, any other path is not (the tracer picks the
    /// endpoint paths itself).
    private static func parseHTTPAuthority(_ rest: Substring) -> SettingCheck<AgentEndpoint> {
        let authority = rest.hasSuffix("/") ? rest.dropLast() : rest
        guard !authority.contains(where: { "/?#@".contains($0) }) else {
            return .invalid(SettingProblem(.invalidURL, "paths, queries and credentials are not supported"))
        }
        guard let (hostText, portText) = splitHostPort(authority) else {
            let message = "malformed host (IPv6 addresses go in brackets: http://[::1]:8126)"
            return .invalid(SettingProblem(.invalidURL, message))
        }
        guard case .valid(let host) = parseHost(String(hostText)) else {
            return .invalid(SettingProblem(.invalidURL, "invalid host \"\(hostText)\""))
        }
        guard let portText else { return .valid(.tcp(host: host, port: AgentEndpoint.defaultPort)) }
        guard case .valid(let port) = IntegerRule.agentPort.parse(String(portText)) else {
            return .invalid(SettingProblem(.invalidURL, "invalid port \"\(portText)\" (allowed: 1...65535)"))
        }
        return .valid(.tcp(host: host, port: port))
    }

    /// Splits `host`, `host:port`, `[v6]` or `[v6]:port`; nil when the shape is wrong, e.g. a bare IPv6 address,
    /// whose colons would be ambiguous with the port separator.
    private static func splitHostPort(_ authority: Substring) -> (host: Substring, port: Substring?)? {
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            let host = authority[...close]
            let afterHost = authority[authority.index(after: close)...]
            if afterHost.isEmpty { return (host, nil) }
            return afterHost.hasPrefix(":") ? (host, afterHost.dropFirst()) : nil
        }
        let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.count {
        case 1: return (parts[0], nil)
        case 2: return (parts[0], parts[1])
        default: return nil
        }
    }

    /// RFC 1123 host names (plus `_`, which container runtimes use); dotted IPv4 addresses match too.
    private static func isHostname(_ host: Substring) -> Bool {
        guard !host.isEmpty, host.utf8.count <= 253 else { return false }
        return host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            (1...63).contains(label.utf8.count)
                && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        }
    }

    /// Delegates to `inet_pton`, which implements the full IPv6 text syntax (`::`, embedded IPv4).
    private static func isIPv6Address(_ host: Substring) -> Bool {
        guard host.contains(":") else { return false }
        var address = in6_addr()
        return String(host).withCString { inet_pton(AF_INET6, $0, &address) } == 1
    }
}
