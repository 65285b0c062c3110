import Foundation
import Testing

@testable import DDTrace

@Suite("Configuration: registry and README")
struct ConfigurationReadmeTests {
    private static let beginMarker = "<!-- config-table:begin -->"
    private static let endMarker = "<!-- config-table:end -->"

    /// Tests/DDTraceTests/<this file> → ../../README.md, i.e. the package root's README.
    private static var readmeURL: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()
            .deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("README.md")
    }

    @Test func readmeTableMatchesTheRegistry() throws {
        let readme = try String(contentsOf: Self.readmeURL, encoding: .utf8)
        let begin = try #require(readme.range(of: Self.beginMarker), "README.md lacks \(Self.beginMarker)")
        let end = try #require(readme.range(of: Self.endMarker), "README.md lacks \(Self.endMarker)")
        let table = readme[begin.upperBound..<end.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(
            table == EnvironmentVariable.markdownTable(),
            "Regenerate the table between the config-table markers from EnvironmentVariable.markdownTable()")
    }

    @Test func tableHasAHeaderAndOneRowPerVariableInRegistryOrder() {
        let lines = EnvironmentVariable.markdownTable().split(separator: "\n")
        #expect(lines.first == "| Variable | Default | Allowed | Description |")
        #expect(lines.count == EnvironmentVariable.allCases.count + 2)
        for (line, variable) in zip(lines.dropFirst(2), EnvironmentVariable.allCases) {
            #expect(line.hasPrefix("| `\(variable.name)` | \(variable.defaultValue) |"))
        }
    }

    @Test(arguments: EnvironmentVariable.allCases)
    func registryEntryIsComplete(_ variable: EnvironmentVariable) {
        #expect(variable.name.hasPrefix("DD_"))
        #expect(!variable.defaultValue.isEmpty)
        #expect(!variable.allowed.isEmpty)
        #expect(!variable.summary.isEmpty)
        #expect(!variable.summary.contains("\n"))
    }
}
