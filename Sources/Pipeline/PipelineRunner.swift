public import Catalog
import Foundation
public import Logging
import SingleCell

/// How a run ended.
public enum RunOutcome: Sendable, Equatable {
    /// Every stage finished; the outputs are recorded.
    case succeeded(outputs: [String])
    /// A stage failed; the run is recorded `failed`.
    case failed(code: String, message: String)
    /// The run was stopped by a shutdown; it is back in the queue and resumes later.
    case interrupted
}

/// Runs a claimed run's stages in order inside its run directory, recording each stage in the
/// catalog and in `run.json`, skipping stages whose input and configuration hashes match a
/// finished earlier attempt, publishing outputs to the outbox, and recording the run's end.
///
/// The same runner serves the daemon's scheduler and `lmdflow process`.
public struct PipelineRunner: Sendable {
    /// The catalog that records the run.
    public let catalog: Catalog
    /// Where run directories and the outbox are.
    public let layout: StateLayout
    /// The base logger; the runner adds `run` and `stage` metadata.
    public let logger: Logger

    /// Creates a runner.
    public init(catalog: Catalog, layout: StateLayout, logger: Logger) {
        self.catalog = catalog
        self.layout = layout
        self.logger = logger
    }

    /// The run directory for a new run id: `runs/<id>`, or `runs/<id>-<random>` if a directory of
    /// that name already exists (left by an older catalog; never reused, never deleted).
    public static func runDirectory(for id: Int64, in layout: StateLayout) -> String {
        let plain = "\(layout.runs)/\(id)"
        if !FileManager.default.fileExists(atPath: plain) { return plain }
        return "\(layout.runs)/\(id)-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
    }

    /// Runs `claimed` with `profile` and records the outcome in the catalog.
    public func run(_ claimed: ClaimedRun, profile: Profile) async -> RunOutcome {
        let runID = claimed.run.id!
        var log = logger
        log[metadataKey: "run"] = "\(runID)"
        let runDirectory = claimed.run.runDir ?? Self.runDirectory(for: runID, in: layout)
        let input = InputFile(
            path: claimed.input.currentPath, originalName: URL(fileURLWithPath: claimed.input.path).lastPathComponent,
            size: claimed.input.size, mtimeNs: claimed.input.mtimeNs, sha256: claimed.input.sha256,
            originalPath: claimed.input.path)
        let manifestPath = "\(runDirectory)/run.json"
        let previousManifest = RunManifest.load(manifestPath)
        var manifest = RunManifest(
            runID: runID, lmdflowVersion: LMDFlowVersion.current, profile: profile.name, profilePath: profile.path,
            configHash: profile.configHash, input: input, state: "running", attempt: claimed.run.attempts,
            startedAt: previousManifest?.startedAt ?? Date(), stages: [], published: [])
        log.info("run started", metadata: ["input": "\(input.path)", "profile": "\(profile.name)",
                                             "attempt": "\(claimed.run.attempts)"])
        do {
            try FileOps.createDirectory(runDirectory)
            let stale = FileOps.removeStaleTemporaries(in: runDirectory)
            if !stale.isEmpty { log.notice("removed temporaries of an interrupted attempt", metadata: ["files": "\(stale)"]) }
            try manifest.save(manifestPath)
        } catch {
            return fail(runID, error, manifest: &manifest, manifestPath: manifestPath, log: log)
        }

        var results: [String: StageResult] = [:]
        var inputHash = FileOps.sha256(of: "input\n\(input.sha256)")
        for (ordinal, stage) in profile.stages.enumerated() {
            var stageLog = log
            stageLog[metadataKey: "stage"] = "\(stage.name)"
            let configHash = profile.stageConfigHashes[ordinal]
            let started = Date()
            if let earlier = previousManifest?.stages.first(where: { $0.ordinal == ordinal }),
               let result = reusable(earlier, stage: stage, inputHash: inputHash, configHash: configHash, runDirectory: runDirectory)
            {
                var entry = earlier
                entry.state = "skipped"
                manifest.stages.append(entry)
                results[stage.name] = result
                try? catalog.recordStage(StageRecord(
                    runID: runID, ordinal: ordinal, name: stage.name, state: .skipped, startedAt: earlier.startedAt,
                    finishedAt: earlier.finishedAt, durationSeconds: earlier.durationSeconds,
                    artifactPath: result.artifacts.first?.path, artifactSHA256: result.artifacts.first?.sha256,
                    message: "unchanged since attempt \(previousManifest?.attempt ?? 0): \(result.message)"))
                stageLog.info("stage skipped (inputs and configuration unchanged)")
                inputHash = Self.chain(inputHash, result)
                continue
            }
            var entry = RunManifest.StageEntry(
                name: stage.name, ordinal: ordinal, version: stage.version, state: "running", inputHash: inputHash,
                configHash: configHash, startedAt: started)
            do {
                try catalog.recordStage(StageRecord(runID: runID, ordinal: ordinal, name: stage.name, state: .running,
                                                    startedAt: started))
                stageLog.info("stage started")
                let context = StageContext(runID: runID, runDirectory: runDirectory, input: input, previous: results,
                                           logger: stageLog)
                let result = try await stage.run(context)
                let finished = Date()
                entry.state = "succeeded"
                entry.finishedAt = finished
                entry.durationSeconds = finished.timeIntervalSince(started)
                entry.result = result
                manifest.stages.append(entry)
                try manifest.save(manifestPath)
                try catalog.recordStage(StageRecord(
                    runID: runID, ordinal: ordinal, name: stage.name, state: .succeeded, startedAt: started,
                    finishedAt: finished, durationSeconds: entry.durationSeconds, artifactPath: result.artifacts.first?.path,
                    artifactSHA256: result.artifacts.first?.sha256, message: result.message,
                    metrics: result.metrics.isEmpty ? nil : result.metrics))
                stageLog.info("stage succeeded", metadata: [
                    "duration_s": "\(String(format: "%.3f", entry.durationSeconds ?? 0))", "result": "\(result.message)"])
                results[stage.name] = result
                inputHash = Self.chain(inputHash, result)
            } catch {
                let finished = Date()
                entry.finishedAt = finished
                entry.durationSeconds = finished.timeIntervalSince(started)
                if error is CancellationError || Task.isCancelled {
                    entry.state = "interrupted"
                    manifest.stages.append(entry)
                    manifest.state = "interrupted"
                    try? manifest.save(manifestPath)
                    try? catalog.recordStage(StageRecord(
                        runID: runID, ordinal: ordinal, name: stage.name, state: .interrupted, startedAt: started,
                        finishedAt: finished, durationSeconds: entry.durationSeconds, message: "stopped by shutdown"))
                    try? catalog.releaseRun(id: runID, reason: "daemon stopping during stage \(stage.name); run requeued")
                    stageLog.warning("stage interrupted by shutdown; run requeued")
                    return .interrupted
                }
                let (code, message) = Self.describe(error)
                entry.state = "failed"
                entry.error = "\(code): \(message)"
                manifest.stages.append(entry)
                try? catalog.recordStage(StageRecord(
                    runID: runID, ordinal: ordinal, name: stage.name, state: .failed, startedAt: started,
                    finishedAt: finished, durationSeconds: entry.durationSeconds, message: "\(code): \(message)"))
                return fail(runID, error, manifest: &manifest, manifestPath: manifestPath, log: stageLog)
            }
        }

        do {
            var outputs: [OutputRecord] = []
            let now = Date()
            for result in profile.stages.compactMap({ results[$0.name] }) {
                for artifact in result.artifacts {
                    outputs.append(OutputRecord(runID: runID, kind: artifact.kind, path: "\(runDirectory)/\(artifact.path)",
                                                sha256: artifact.sha256, bytes: artifact.bytes, createdAt: now))
                }
            }
            let toPublish = profile.stages.compactMap { results[$0.name] }.flatMap(\.artifacts).filter(\.publish)
            if !toPublish.isEmpty {
                let folder = "\(layout.outbox)/\(input.stem)"
                try FileOps.createDirectory(folder)
                for artifact in toPublish {
                    let target = "\(folder)/\(URL(fileURLWithPath: artifact.path).lastPathComponent)"
                    try FileOps.copyAtomically(from: "\(runDirectory)/\(artifact.path)", to: target)
                    manifest.published.append(target)
                    outputs.append(OutputRecord(runID: runID, kind: "outbox_\(artifact.kind)", path: target,
                                                sha256: artifact.sha256, bytes: artifact.bytes, createdAt: now))
                }
            }
            try importSingleCells(runID: runID, runDirectory: runDirectory,
                                  artifacts: profile.stages.compactMap { results[$0.name] }.flatMap(\.artifacts))
            manifest.state = "succeeded"
            manifest.finishedAt = Date()
            try manifest.save(manifestPath)
            let data = FileManager.default.contents(atPath: manifestPath) ?? Data()
            outputs.insert(OutputRecord(runID: runID, kind: "run_json", path: manifestPath, sha256: FileOps.sha256(of: data),
                                        bytes: Int64(data.count), createdAt: now), at: 0)
            try catalog.completeRun(id: runID, outputs: outputs)
            log.info("run succeeded", metadata: ["run_dir": "\(runDirectory)",
                                                 "published": "\(manifest.published.joined(separator: ","))"])
            return .succeeded(outputs: outputs.map(\.path))
        } catch {
            return fail(runID, error, manifest: &manifest, manifestPath: manifestPath, log: log)
        }
    }

    /// Records the run's cells and features (`features.csv`) and its cell sets
    /// (`selection.json`, version 1) in the catalog. Idempotent: a resumed run imports again.
    private func importSingleCells(runID: Int64, runDirectory: String, artifacts: [Artifact]) throws {
        if let features = artifacts.last(where: { $0.kind == "features_csv" }) {
            let table = try SingleCellJob.readCSV(path: "\(runDirectory)/\(features.path)")
            let cells = SingleCellJob.catalogCells(table).map {
                CellTableRecord.Cell(cellID: $0.id, centroidX: $0.x, centroidY: $0.y, area: $0.area, values: $0.values)
            }
            try catalog.saveCells(runID: runID, table: CellTableRecord(columns: table.columnNames, cells: cells))
        }
        if let selection = artifacts.last(where: { $0.kind == "selection" }) {
            let document = try SelectionDocument.load(path: "\(runDirectory)/\(selection.path)")
            try catalog.saveCellSets(runID: runID, version: document.version, sets: document.records(runID: runID))
        }
    }

    private func fail(_ runID: Int64, _ error: any Error, manifest: inout RunManifest, manifestPath: String,
                      log: Logger) -> RunOutcome {
        let (code, message) = Self.describe(error)
        manifest.state = "failed"
        manifest.finishedAt = Date()
        manifest.errorCode = code
        manifest.errorMessage = message
        try? manifest.save(manifestPath)
        do {
            try catalog.failRun(id: runID, code: code, message: message)
        } catch {
            log.error("cannot record the failure in the catalog", metadata: ["error": "\(error)"])
        }
        log.error("run failed", metadata: ["code": "\(code)", "error": "\(message)"])
        return .failed(code: code, message: message)
    }

    /// A finished earlier stage can be reused when its version, input hash and config hash match
    /// and every artifact is still there with the same SHA-256.
    private func reusable(_ entry: RunManifest.StageEntry, stage: any Stage, inputHash: String, configHash: String,
                          runDirectory: String) -> StageResult? {
        guard entry.state == "succeeded" || entry.state == "skipped", entry.name == stage.name,
              entry.version == stage.version, entry.inputHash == inputHash, entry.configHash == configHash,
              let result = entry.result
        else { return nil }
        for artifact in result.artifacts {
            guard let hash = try? FileOps.sha256(ofFile: "\(runDirectory)/\(artifact.path)"), hash == artifact.sha256
            else { return nil }
        }
        return result
    }

    static func chain(_ hash: String, _ result: StageResult) -> String {
        FileOps.sha256(of: ([hash] + result.artifacts.map { "\($0.path)=\($0.sha256)" }).joined(separator: "\n"))
    }

    /// The code and message recorded for an error.
    public static func describe(_ error: any Error) -> (code: String, message: String) {
        switch error {
        case let error as PipelineError: return (error.code.rawValue, error.description)
        case let error as CatalogError: return (error.code.rawValue, error.description)
        default: return (PipelineError.Code.stageFailed.rawValue, "\(error)")
        }
    }
}
