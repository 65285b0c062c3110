// Container ids and hostnames read from the system are validated before they reach a header or a tag.

import Foundation
import Testing

@testable import DDTrace

@Suite("System values: container id and hostname")
struct SystemIdentityTests {
    static let docker = String(repeating: "3726184226f5d3147c25fdeab5b60097e378e8a720503a5e19ecfdf29f869860", count: 1)

    @Test(arguments: [
        // cgroup v1, Docker
        ("12:memory:/docker/\(docker)", docker),
        // systemd unit names
        ("0::/system.slice/docker-\(docker).scope", docker),
        ("1:name=systemd:/kubepods.slice/kubepods-burstable.slice/cri-containerd-\(docker).scope", docker),
        // Kubernetes pod UUID-shaped ids (with '-' and '_')
        ("1:cpu:/kubepods/besteffort/pod3d274242-8ee0-11e9-a8a6-1e68d864ef1a/34dc0b5e626f2c5c4c5170e34b10e7654ce36f0fcd532739f4445baabea03376",
         "34dc0b5e626f2c5c4c5170e34b10e7654ce36f0fcd532739f4445baabea03376"),
        ("1:cpu:/kubepods/pod/3d274242_8ee0_11e9_a8a6_1e68d864ef1a", "3d274242_8ee0_11e9_a8a6_1e68d864ef1a"),
        // ECS Fargate
        ("1:cpu:/ecs/55091c13-b8cf-4801-b527-f4601742204d/432624d2150b349fe35ba397284dea788c2bf66b885d14dfc1569b01890ca7da",
         "432624d2150b349fe35ba397284dea788c2bf66b885d14dfc1569b01890ca7da"),
        ("1:cpu:/ecs/34dc0b5e626f2c5c4c5170e34b10e765-1234567890", "34dc0b5e626f2c5c4c5170e34b10e765-1234567890"),
    ])
    func recognisedContainerIDs(cgroup: String, expected: String) {
        #expect(SystemIdentity.containerID(cgroup: "0::/\n" + cgroup + "\n") == expected)
    }

    @Test(arguments: [
        "",
        "0::/",  // cgroup v2 without a container
        "0::/user.slice/user-0.slice/session-1.scope",
        "12:memory:/docker/\(String(repeating: "g", count: 64))",  // not hex
        "12:memory:/docker/\(String(docker.dropLast()))",  // 63 digits
        "12:memory:/docker/\(docker.uppercased())",  // the kernel writes lower case
        "12:memory:/docker/\(docker)\r\nX-Injected: 1",  // a header injection attempt
        "12:memory:/docker/\(docker) ",
        "garbage without colons \(docker)",
    ])
    func unrecognisedContentIsIgnored(cgroup: String) {
        #expect(SystemIdentity.containerID(cgroup: cgroup) == nil)
    }

    @Test func recordForTheReliabilityReport() {
        ReliabilityReport.record(
            area: "Hostile input", fault: "container ids from /proc/self/cgroup that are not hex ids (CR/LF injection, "
                + "wrong length, upper case) and hostnames with spaces, CR/LF, non-ASCII or over 255 bytes",
            outcome: "ignored: no Datadog-Container-ID header, no _dd.hostname tag; a value with CR/LF can never reach "
                + "a request (the C formatter also refuses any header with a control character)",
            figures: [])
    }

    @Test func thisMachinesCgroupParsesWithoutCrashing() {
        // Whatever it is here (a container or not), the answer is nil or a recognised id.
        let id = SystemIdentity.readCgroup().flatMap(SystemIdentity.containerID(cgroup:))
        #expect(id == nil || id!.utf8.allSatisfy { $0 < 0x80 && $0 != 0x0d && $0 != 0x0a })
    }

    @Test(arguments: [
        ("web-1", true), ("ip-10-0-0-1.ec2.internal", true), ("host_name", true), ("A", true),
        ("", false), ("-leading", false), (".leading", false), ("bad host", false), ("host\r\nX: y", false),
        ("hôte", false), (String(repeating: "h", count: 256), false), (String(repeating: "h", count: 255), true),
    ])
    func hostnames(name: String, valid: Bool) {
        #expect((SystemIdentity.validatedHostname(name) != nil) == valid)
    }

    @Test("DD_TRACE_REPORT_HOSTNAME puts the hostname on the chunk's first span only")
    func hostnameReachesTheAgent() async throws {
        let expected = try #require(SystemIdentity.validatedHostname(SystemIdentity.systemHostname()))
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try agent.tracer(token: token, unixSocket: true) { $0.reportHostname = true }
        tracer.trace("root") { _ in tracer.trace("child") { _ in } }
        #expect(await tracer.flush(timeout: .seconds(10)).succeeded)
        let spans = try #require(try agent.traces(token).first)
        #expect(spans.count == 2)
        #expect(spans.first { $0.name == "root" }?.meta["_dd.hostname"] == expected)
        #expect(spans.first { $0.name == "child" }?.meta["_dd.hostname"] == nil)
        tracer.shutdown()
    }
}
