import Testing

@testable import DDTrace

@Suite("Configuration: DD_TAGS")
struct ConfigurationTagsTests {
    private static func tags(_ ddTags: String) throws -> (tags: [String], diagnostics: [DDConfigurationDiagnostic]) {
        let resolved = try ConfigTest.resolve(["DD_TAGS": ddTags])
        return (resolved.globalTags.map { "\($0.key):\($0.value)" }, resolved.diagnostics)
    }

    @Test(arguments: [
        ("a:b,c:d", ["a:b", "c:d"]),
        ("a:b c:d", ["a:b", "c:d"]),
        ("  a:b   c:d  ", ["a:b", "c:d"]),
        ("a:b, c:d,", ["a:b", "c:d"]),
        ("url:http://x", ["url:http://x"]),
        ("url:http://x:8080/path,team:apm", ["url:http://x:8080/path", "team:apm"]),
        ("note:two words,team:apm", ["note:two words", "team:apm"]),
        ("a:1,b:2,a:3", ["a:3", "b:2"]),
    ])
    func validForms(_ ddTags: String, _ expected: [String]) throws {
        let parsed = try Self.tags(ddTags)
        #expect(parsed.tags == expected)
        #expect(parsed.diagnostics.isEmpty)
    }

    @Test func malformedItemIsSkippedAndTheRestKept() throws {
        let parsed = try Self.tags("a:b,malformed,c:d")
        #expect(parsed.tags == ["a:b", "c:d"])
        let diagnostic = try #require(ConfigTest.only(parsed.diagnostics))
        #expect(diagnostic.code == .invalidTag)
        #expect(diagnostic.source == "DD_TAGS")
        #expect(diagnostic.value == "malformed")
        #expect(diagnostic.fallback == "skipping this tag")
    }

    @Test func everyMalformedItemIsReported() throws {
        let parsed = try Self.tags("one two:2 :three four:")
        #expect(parsed.tags == ["two:2"])
        #expect(parsed.diagnostics.map(\.value) == ["one", ":three", "four:"])
    }

    @Test func identityTagsFillUnsetFieldsAndLeaveTheTagList() throws {
        let resolved = try ConfigTest.resolve(["DD_TAGS": "service:tagged,env:tag-env,version:9,team:apm"])
        #expect(resolved.service == "tagged")
        #expect(resolved.env == "tag-env")
        #expect(resolved.version == "9")
        #expect(resolved.globalTags.map(\.key) == ["team"])
    }

    @Test func dedicatedVariablesWinOverIdentityTags() throws {
        let resolved = try ConfigTest.resolve(["DD_TAGS": "env:tag-env", "DD_ENV": "prod"])
        #expect(resolved.env == "prod")
        #expect(resolved.globalTags.isEmpty)
    }
}

@Suite("Configuration: buffer and ring sizes")
struct ConfigurationSizesTests {
    @Test(arguments: [(256, 256), (257, 512), (1000, 1024), (4096, 4096), (5000, 8192), (1_048_575, 1_048_576)])
    func ringCapacityIsRoundedUpToAPowerOfTwo(_ requested: Int, _ expected: Int) throws {
        let resolved = try ConfigTest.resolve(["DD_TRACE_RING_CAPACITY": "\(requested)"])
        #expect(resolved.ringCapacity == expected)
        #expect(resolved.diagnostics.map(\.code) == (requested == expected ? [] : [.notPowerOfTwo]))
    }

    @Test func bufferSmallerThanThePayloadIsRaised() throws {
        let resolved = try ConfigTest.resolve([
            "DD_TRACE_WRITER_MAX_PAYLOAD_SIZE_BYTES": "1048576", "DD_TRACE_WRITER_BUFFER_SIZE_BYTES": "524288",
        ])
        #expect(resolved.bufferCapBytes == 1_048_576)
        let diagnostic = try #require(ConfigTest.only(resolved.diagnostics))
        #expect(diagnostic.code == .inconsistent)
        #expect(diagnostic.source == "DD_TRACE_WRITER_BUFFER_SIZE_BYTES")
        #expect(diagnostic.message == "smaller than the max payload size 1048576")
        #expect(diagnostic.fallback == "using 1048576")
    }

    @Test func defaultBufferFollowsALargerPayloadSilently() throws {
        let resolved = try ConfigTest.resolve(["DD_TRACE_WRITER_MAX_PAYLOAD_SIZE_BYTES": "52428800"])
        #expect(resolved.bufferCapBytes == 52_428_800)
        #expect(resolved.diagnostics.isEmpty)
    }

    @Test func invalidBufferFallsBackToTheRaisedDefault() throws {
        let resolved = try ConfigTest.resolve([
            "DD_TRACE_WRITER_MAX_PAYLOAD_SIZE_BYTES": "52428800", "DD_TRACE_WRITER_BUFFER_SIZE_BYTES": "lots",
        ])
        #expect(resolved.bufferCapBytes == 52_428_800)
        #expect(resolved.diagnostics.first?.fallback == "using 52428800 (the max payload size)")
    }

    @Test func bufferEqualToThePayloadIsAccepted() throws {
        let resolved = try ConfigTest.resolve { $0.maxPayloadSize = 65_536; $0.bufferSize = 65_536 }
        #expect(resolved.bufferCapBytes == 65_536)
        #expect(resolved.diagnostics.isEmpty)
    }
}
