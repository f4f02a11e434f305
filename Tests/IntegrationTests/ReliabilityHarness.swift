import Foundation
import Testing

/// Runs scenarios of the reliability suite (`Reliability/run.py`) from Swift tests.
enum ReliabilityHarness {
    /// The repository root (this file is `Tests/IntegrationTests/ReliabilityHarness.swift`).
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// `python3` on the usual paths.
    static var python: String? {
        ["/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static var pythonExists: Bool { python != nil }

    /// One scenario's line in the results file.
    struct Outcome {
        var status: String
        var summary: String
        var problems: [String]
    }

    /// Runs `run.py --quick --only <scenario>` with a fixed seed and returns its outcome; the
    /// suite's output goes to the test log when the scenario fails.
    static func run(_ scenario: String, seed: Int = 20261123) throws -> (Outcome, String) {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("lmdflow-rel-\(UUID().uuidString.prefix(8)).json").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(python))
        process.arguments = ["\(repository)/Reliability/run.py", "--quick", "--only", scenario, "--seed", "\(seed)", "--out", out]
        var environment = ProcessInfo.processInfo.environment
        environment["LMDFLOW_BIN"] = DaemonHarness.binary
        environment["LMDFLOW_RELIABILITY_TIMEOUT_SCALE"] = "\(DaemonHarness.timeoutScale)"
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard let data = FileManager.default.contents(atPath: out),
              let report = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let result = (report["results"] as? [[String: Any]])?.first
        else {
            Issue.record("run.py wrote no results (exit \(process.terminationStatus)):\n\(output.suffix(4000))")
            throw HarnessError.io("no results for \(scenario)")
        }
        let outcome = Outcome(status: result["status"] as? String ?? "?", summary: result["summary"] as? String ?? "",
                              problems: result["problems"] as? [String] ?? [])
        return (outcome, output)
    }

    /// Runs a scenario and records an issue per problem unless it passed or was skipped.
    ///
    /// A known bug awaiting a fix outside this suite (docs/RELIABILITY.md), by the beginning of
    /// the problem line it causes.
    struct KnownIssue: Sendable {
        /// The problem line's beginning.
        var marker: String
        /// True when the problem appears only sometimes (it depends on where the run fails).
        var intermittent = false
    }

    /// - Parameter knownIssues: problems expected with `withKnownIssue`: the test stays green
    ///   while the bug is there and (unless intermittent) fails once it is fixed, so the entry
    ///   gets removed.
    static func expectScenario(_ scenario: String, knownIssues: [KnownIssue] = [],
                               sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (outcome, output) = try run(scenario)
        if outcome.status == "SKIP" {
            print("reliability \(scenario) skipped: \(outcome.summary)")
            return
        }
        for known in knownIssues {
            withKnownIssue("\(scenario): \(known.marker) (known bug, docs/RELIABILITY.md)", isIntermittent: known.intermittent) {
                for problem in outcome.problems where problem.hasPrefix(known.marker) {
                    Issue.record("\(scenario): \(problem)", sourceLocation: sourceLocation)
                }
            }
        }
        let unknown = outcome.problems.filter { problem in !knownIssues.contains { problem.hasPrefix($0.marker) } }
        guard outcome.status != "PASS", !unknown.isEmpty || outcome.problems.isEmpty else { return }
        Issue.record("\(scenario) \(outcome.status): \(outcome.summary)", sourceLocation: sourceLocation)
        for problem in unknown.prefix(10) { Issue.record("\(scenario): \(problem)", sourceLocation: sourceLocation) }
        print(output.suffix(6000))
    }
}
