// `dd-trace`: the tracer's command-line tool. Each subcommand is its own `ParsableCommand` type in its own file,
// listed in `subcommands` below; add new ones (e.g. `info`) there.

import ArgumentParser

@main
struct DDTraceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dd-trace",
        abstract: "Tools for the Swift Datadog tracer.",
        subcommands: [BenchCommand.self, InfoCommand.self]
    )
}
