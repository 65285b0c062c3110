// Runs a Python script of the test virtual environment (.venv, made by scripts/setup.sh): the independent msgpack
// decoder, and dd-trace-py as the reference tracer of the interoperability tests.

import Foundation

enum PythonScript {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static var python: URL { TestAgent.venv.appendingPathComponent("bin/python") }

    /// Runs `script` with `input` on stdin and returns its stdout; throws, with the end of its stderr, when it exits
    /// with a non-zero status.
    /// - `reference`: the script runs dd-trace-py, which must not see the test process's `DD_*` variables, nor
    ///   start its telemetry or remote-configuration workers.
    /// - stdin is written on a thread of its own, so a script that answers while it still reads cannot block on a
    ///   full pipe; stderr goes to a file for the same reason (ddtrace logs a warning for every malformed header).
    static func run(_ script: String, input: Data, reference: Bool = false) throws -> Data {
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw Failure(description: "\(python.path) not found: run scripts/setup.sh, which creates the venv")
        }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("python-script-\(UUID()).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let process = Process()
        process.executableURL = python
        process.arguments = [script]
        if reference {
            var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("DD_") }
            environment["DD_INSTRUMENTATION_TELEMETRY_ENABLED"] = "false"
            environment["DD_REMOTE_CONFIGURATION_ENABLED"] = "false"
            process.environment = environment
        }
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        let writer = Thread {
            stdin.fileHandleForWriting.write(input)
            try? stdin.fileHandleForWriting.close()
        }
        writer.start()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let stderr = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            let name = URL(fileURLWithPath: script).lastPathComponent
            throw Failure(description: "\(name) exited with \(process.terminationStatus)\n\(stderr.suffix(2000))")
        }
        return output
    }
}
