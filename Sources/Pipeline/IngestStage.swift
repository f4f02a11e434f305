import Foundation
import MicroscopyIO

/// The first stage of every profile: checks that the input is still the file that was taken
/// (size and SHA-256), recognises its format with a cheap probe (ND2 chunk map, TIFF
/// directories; damaged and truncated files fail here with the offset), reads its metadata
/// with the full reader (axes, channels, calibration, loops, stage positions, times) and
/// records it all in `ingest.json`.
///
/// Section `ingest`:
/// - `verify_hash` (bool, default `true`): re-hash the input and fail with `input_changed`
///   if it differs from the hash taken when it settled.
/// - `formats` (list, default `[nd2, tiff, bigTIFF]`): formats this profile accepts.
public struct IngestStage: Stage {
    /// The stage name.
    public let name = "ingest"
    /// Version 1: ingest.json with `input` and `probe`.
    public let version = 1
    /// Re-hash the input.
    public let verifyHash: Bool
    /// Accepted formats (raw values of `FileFormat`).
    public let formats: [String]

    /// The registry entry.
    public static let descriptor = StageRegistry.StageDescriptor(
        name: "ingest", sections: ["ingest"],
        summary: "check the input is complete and unchanged, recognise its format, record its facts"
    ) { sections throws(PipelineError) in
        guard let node = sections["ingest"] else { return IngestStage() }
        let reader = try ConfigReader(node)
        let known = ["nd2", "tiff", "bigTIFF"]
        let verify = try reader.bool("verify_hash", default: true)
        let formats = try reader.strings("formats", default: known)
        for format in formats where !known.contains(format) {
            throw (reader.child("formats") ?? node).error("unknown format '\(format)' (known: \(known.joined(separator: ", ")))")
        }
        try reader.finish()
        return IngestStage(verifyHash: verify, formats: formats)
    }

    /// Creates the stage.
    public init(verifyHash: Bool = true, formats: [String] = ["nd2", "tiff", "bigTIFF"]) {
        self.verifyHash = verifyHash
        self.formats = formats
    }

    /// The configuration that is hashed.
    public var configuration: ConfigValue {
        .object(["verify_hash": .bool(verifyHash), "formats": .array(formats.map(ConfigValue.string))])
    }

    struct Record: Codable {
        var input: InputFile
        var probe: FileProbe
        /// What the full reader found: axes, channels, calibration, loops, positions, times.
        var acquisition: AcquisitionInfo
    }

    /// Verifies, probes and writes `ingest.json`.
    public func run(_ context: StageContext) async throws -> StageResult {
        let input = context.input
        guard let facts = FileOps.stat(input.path), facts.isRegular else {
            throw PipelineError(code: .inputUnreadable, path: input.path, stage: name, message: "input file is missing or not a regular file")
        }
        if facts.size != input.size {
            throw PipelineError(code: .inputChanged, path: input.path, stage: name,
                                message: "size is \(facts.size) bytes, expected \(input.size) (the file changed after it was taken)")
        }
        if verifyHash {
            let path = input.path
            let hash = try await Blocking.run { () throws(PipelineError) -> String in try FileOps.sha256(ofFile: path) }
            if hash != input.sha256 {
                throw PipelineError(code: .inputChanged, path: input.path, stage: name,
                                    message: "SHA-256 is \(hash), expected \(input.sha256) (the file changed after it was taken)")
            }
        }
        try context.checkCancellation()
        let probe: FileProbe
        do {
            probe = try FormatProbe.probe(path: input.path)
        } catch {
            throw PipelineError(input: error, stage: name)
        }
        if probe.format == .nd2Legacy {
            throw PipelineError(code: .inputInvalid, path: input.path, stage: name,
                                message: "legacy JPEG2000 ND2 is not supported")
        }
        guard formats.contains(probe.format.rawValue) else {
            throw PipelineError(code: .inputInvalid, path: input.path, stage: name,
                                message: "format \(probe.format.rawValue) is not accepted by this profile (accepted: \(formats.joined(separator: ", ")))")
        }
        // Opening the reader parses all metadata (ND2 LV blocks, OME-XML) and cross-checks it
        // (loops against frame counts, every plane inside the file).
        let acquisition: AcquisitionInfo
        do {
            acquisition = try AcquisitionFile.open(path: input.path).info
        } catch {
            throw PipelineError(input: error, stage: name)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(Record(input: input, probe: probe, acquisition: acquisition))
        let artifact = try context.writeArtifact(data, name: "ingest.json", kind: "ingest")
        let channels = acquisition.channels.map(\.name)
        let summary = "\(probe.format.rawValue) \(acquisition.width)x\(acquisition.height) \(acquisition.pixelType.rawValue), "
            + "\(channels.count) channel\(channels.count == 1 ? "" : "s") (\(channels.joined(separator: ", "))), "
            + "\(acquisition.frameCount) frame\(acquisition.frameCount == 1 ? "" : "s"), \(input.size) bytes"
        var metrics: [String: Double] = ["bytes": Double(input.size)]
        metrics["width"] = Double(acquisition.width)
        metrics["height"] = Double(acquisition.height)
        metrics["channels"] = Double(acquisition.channels.count)
        metrics["frames"] = Double(acquisition.frameCount)
        return StageResult(artifacts: [artifact], message: summary, metrics: metrics)
    }
}

/// A diagnostic stage that waits, checking for cancellation every 50 ms, and writes `wait.json`.
/// Used to exercise crash-safety and shutdown (a run that is reliably "in the middle"); it has
/// no effect on data.
///
/// Section `wait`: `seconds` (number, 0…3600, default 1).
public struct WaitStage: Stage {
    /// The stage name.
    public let name = "wait"
    /// Version 1.
    public let version = 1
    /// How long to wait.
    public let seconds: Double

    /// The registry entry.
    public static let descriptor = StageRegistry.StageDescriptor(
        name: "wait", sections: ["wait"], summary: "diagnostic: wait a configured time (tests crash safety and shutdown)"
    ) { sections throws(PipelineError) in
        guard let node = sections["wait"] else { return WaitStage() }
        let reader = try ConfigReader(node)
        let seconds = try reader.double("seconds", default: 1, range: 0...3600)
        try reader.finish()
        return WaitStage(seconds: seconds)
    }

    /// Creates the stage.
    public init(seconds: Double = 1) { self.seconds = seconds }

    /// The configuration that is hashed.
    public var configuration: ConfigValue { .object(["seconds": .double(seconds)]) }

    /// Waits, then writes `wait.json`.
    public func run(_ context: StageContext) async throws -> StageResult {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: min(.milliseconds(50), deadline - ContinuousClock.now))
        }
        let data = Data("{\"waited_s\":\(seconds)}\n".utf8)
        let artifact = try context.writeArtifact(data, name: "wait.json", kind: "wait")
        return StageResult(artifacts: [artifact], message: "waited \(seconds) s", metrics: ["seconds": seconds])
    }
}
