import ArgumentParser
import Catalog
import Daemon
import Foundation
import Logging
import Pipeline

/// `lmdflow`: the drop-folder daemon and its command-line tools.
@main
struct LMDFlow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lmdflow",
        abstract: "Microscopy acquisitions to Leica LMD cut files, unattended.",
        discussion: """
            Exit codes: 0 success; 1 a run failed; 64 usage error; 65 bad input data; 66 run or file \
            not found; 69 daemon not running (status); 70 internal error; 73 cannot write output; \
            75 temporary failure (catalog busy, another daemon running); 78 configuration error.
            """,
        version: LMDFlowVersion.current,
        subcommands: [
            DaemonCommand.self, ProcessCommand.self, StatusCommand.self, RunsCommand.self, ShowCommand.self,
            XMLCommand.self, RetryCommand.self, CheckConfigCommand.self, InspectCommand.self, SampleCommand.self, SegmentCommand.self, StitchCommand.self, CutCommand.self, SelectCommand.self, DemoCommand.self,
        ]
    )
}

/// Options every command that reads the configuration shares.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "Configuration file (default: $LMDFLOW_CONFIG or /etc/lmdflow/lmdflow.yml).")
    var config: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String?

    var path: String {
        config ?? ProcessInfo.processInfo.environment["LMDFLOW_CONFIG"] ?? "/etc/lmdflow/lmdflow.yml"
    }

    /// Loads and validates the configuration, mapping errors to exit code 78.
    func load() throws -> DaemonConfig {
        do {
            return try DaemonConfig.load(path: path)
        } catch {
            throw CLIError(exitCode: .config, message: "configuration error: \(error)")
        }
    }

    /// Opens the catalog of the configured state directory (for the query commands).
    func catalog() throws -> Catalog {
        try Catalog(path: try load().layout.catalog)
    }

    func logger(_ config: DaemonConfig?, label: String = "lmdflow") -> Logger {
        LogSetup.bootstrapOnce(level: logLevel ?? config?.logLevel ?? "info")
        return Logger(label: label)
    }
}

/// Output format options.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Machine-readable JSON on stdout.")
    var json = false
}
