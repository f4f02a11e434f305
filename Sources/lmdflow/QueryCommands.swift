import ArgumentParser
import Catalog
import Daemon
import Foundation
import Pipeline

/// `lmdflow status`: is the daemon up, what is queued, what runs now.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the daemon's state, the queue and the running runs with their stage progress.",
        discussion: "Exit 0 when the daemon is running, 69 when it is not.")

    @OptionGroup var options: ConfigOptions
    @OptionGroup var output: OutputOptions

    struct Status: Codable {
        var daemon: String
        var pid: Int32?
        var version: String?
        var startedAt: Date?
        var heartbeatAt: Date?
        var config: String?
        var watching: [String]
        var counts: [String: Int]
        var running: [RunSummary]
    }

    func run() async throws {
        try await guarded {
            let catalog = try options.catalog()
            let row = try catalog.daemonStatus()
            let alive = row.map { kill($0.pid, 0) == 0 || errno == EPERM } ?? false
            let fresh = row.map { Date().timeIntervalSince($0.heartbeatAt) < 30 } ?? false
            let state: String
            if let row, alive, fresh, row.state != "stopped" { state = row.state } else { state = "not running" }
            let counts = try catalog.runCounts()
            let running = try catalog.runs(RunFilter(state: .running))
            let status = Status(
                daemon: state, pid: row?.pid, version: row?.version, startedAt: row?.startedAt, heartbeatAt: row?.heartbeatAt,
                config: row?.configPath, watching: row?.watching.split(separator: "\n").map(String.init) ?? [],
                counts: Dictionary(uniqueKeysWithValues: RunState.allCases.map { ($0.rawValue, counts[$0] ?? 0) }),
                running: running)
            if output.json {
                try Report.printJSON(status)
            } else {
                print("daemon:  \(state)\(row.map { state == "not running" ? " (last seen \(Report.format($0.heartbeatAt)), pid \($0.pid))" : " (pid \($0.pid), version \($0.version), since \(Report.format($0.startedAt)))" } ?? "")")
                for folder in status.watching { print("watching \(folder)") }
                print("runs:    " + RunState.allCases.map { "\($0.rawValue) \(counts[$0] ?? 0)" }.joined(separator: ", "))
                for summary in running {
                    let run = summary.run
                    print("  run \(run.id!) [\(summary.stagesDone)/\(run.stageCount)] \(summary.currentStage ?? "-") \(summary.inputPath)")
                }
            }
            if state == "not running" { throw ExitCode(ExitStatus.unavailable.rawValue) }
        }
    }
}

/// `lmdflow runs`: list runs.
struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List runs, newest first.")

    @Option(name: .long, help: "Only runs in this state: queued, running, succeeded, failed, cancelled.")
    var state: String?

    @Option(name: .long, help: "Only runs created since: an ISO 8601 time (2026-11-23T08:00:00Z), a date (2026-11-23) or an age (30m, 12h, 7d).")
    var since: String?

    @Option(name: .long, help: "Only runs of this profile.")
    var profile: String?

    @Option(name: .long, help: "At most this many runs.")
    var limit = 100

    @OptionGroup var options: ConfigOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await guarded {
            var filter = RunFilter(profile: profile, limit: limit)
            if let state {
                guard let parsed = RunState(rawValue: state) else {
                    throw CLIError(exitCode: .usage, message: "--state: expected one of \(RunState.allCases.map(\.rawValue).joined(separator: ", ")), got '\(state)'")
                }
                filter.state = parsed
            }
            if let since {
                guard let date = Report.parseTime(since) else {
                    throw CLIError(exitCode: .usage, message: "--since: expected an ISO 8601 time, a date or an age like 12h, got '\(since)'")
                }
                filter.since = date
            }
            let catalog = try options.catalog()
            let runs = try catalog.runs(filter)
            if output.json {
                try Report.printJSON(runs)
                return
            }
            print("RUN  STATE      PROFILE          STAGES  CREATED               INPUT")
            for summary in runs {
                let run = summary.run
                let id = String(run.id!).padding(toLength: 4, withPad: " ", startingAt: 0)
                let state = run.state.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
                let profile = run.profile.padding(toLength: 16, withPad: " ", startingAt: 0)
                let stages = "\(summary.stagesDone)/\(run.stageCount)".padding(toLength: 7, withPad: " ", startingAt: 0)
                var line = "\(id) \(state) \(profile) \(stages) \(Report.format(run.createdAt))  \(summary.inputPath)"
                if let code = run.errorCode { line += "  [\(code)]" }
                print(line)
            }
        }
    }
}

/// `lmdflow show RUN`.
struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one run: input, stages with timings, outputs, errors, events.")

    @Argument(help: "Run id.")
    var run: Int64

    @OptionGroup var options: ConfigOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await guarded {
            let catalog = try options.catalog()
            try Report.printRun(try catalog.details(runID: run), json: output.json)
        }
    }
}

/// `lmdflow xml RUN`.
struct XMLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xml",
        abstract: "Print a run's Leica LMD cut file (or its path with --path).",
        discussion: "Exit 66 when the run has no cut file (its profile has no cut stage, or it failed before).")

    @Argument(help: "Run id.")
    var run: Int64

    @Option(name: .long, help: "The cell set whose cut file to print (when the run wrote one file per set).")
    var set: String?

    @Flag(name: .long, help: "Print the file's path instead of its content.")
    var path = false

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        try await guarded {
            let catalog = try options.catalog()
            let details = try catalog.details(runID: run)
            var files = details.outputs.filter { $0.kind == "cut_xml" }
            if let set {
                files = files.filter { URL(fileURLWithPath: $0.path).deletingPathExtension().lastPathComponent.hasSuffix("_\(set)") }
            }
            guard !files.isEmpty else {
                let why = details.run.state == .succeeded
                    ? "its profile '\(details.run.profile)' has no cut stage" : "it is \(details.run.state.rawValue)"
                throw CLIError(exitCode: .notFound, message: "run \(run) has no cut file\(set.map { " for set '\($0)'" } ?? "") (\(why))")
            }
            guard files.count == 1 || path else {
                throw CLIError(exitCode: .usage, message: "run \(run) has \(files.count) cut files; choose one with --set or list them with --path")
            }
            if path {
                for file in files { print(file.path) }
            } else {
                guard let data = FileManager.default.contents(atPath: files[0].path) else {
                    throw CLIError(exitCode: .notFound, message: "\(files[0].path): cut file is missing")
                }
                FileHandle.standardOutput.write(data)
            }
        }
    }
}

/// `lmdflow retry RUN`.
struct RetryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Queue a failed or cancelled run again (the daemon picks it up within seconds).")

    @Argument(help: "Run id.")
    var run: Int64

    @OptionGroup var options: ConfigOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await guarded {
            let catalog = try options.catalog()
            let new = try catalog.retry(runID: run, version: LMDFlowVersion.current)
            if output.json {
                try Report.printJSON(new)
            } else {
                print("queued run \(new.id!) (retry of run \(run))")
            }
        }
    }
}

/// `lmdflow check-config`.
struct CheckConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate the configuration and every profile it uses; print what the daemon would watch.",
        discussion: "Exit 0 when valid, 78 with the file, line and key of the first error otherwise.")

    @OptionGroup var options: ConfigOptions
    @OptionGroup var output: OutputOptions

    struct Summary: Codable {
        struct Folder: Codable {
            var path: String
            var profile: String
            var profileFile: String
            var stages: [String]
            var settleSeconds: Double
            var afterRun: String
        }
        var config: String
        var stateDir: String
        var catalog: String
        var concurrency: Int
        var folders: [Folder]
    }

    func run() async throws {
        try await guarded {
            let config = try options.load()
            var folders: [Summary.Folder] = []
            for folder in config.dropFolders {
                let profile = try config.profile(for: folder)
                folders.append(.init(path: folder.path, profile: profile.name, profileFile: profile.path,
                                     stages: profile.stages.map(\.name), settleSeconds: folder.settleSeconds,
                                     afterRun: folder.afterRun.rawValue))
            }
            let summary = Summary(config: config.path, stateDir: config.layout.stateDirectory, catalog: config.layout.catalog,
                                  concurrency: config.concurrency, folders: folders)
            if output.json {
                try Report.printJSON(summary)
                return
            }
            print("\(config.path): ok")
            print("state:   \(config.layout.stateDirectory) (catalog \(config.layout.catalog))")
            print("workers: \(config.concurrency), settle \(config.settleSeconds) s, rescan every \(config.rescanSeconds) s")
            if folders.isEmpty { print("no drop folders configured") }
            for folder in folders {
                print("watch   \(folder.path) → \(folder.profile) [\(folder.stages.joined(separator: " → "))] (\(folder.profileFile))")
            }
        }
    }
}
