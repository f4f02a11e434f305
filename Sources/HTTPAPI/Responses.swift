import Catalog
import Foundation
import Pipeline

// The JSON bodies of the API. Keys are snake_case like the catalog's columns and the CLI's
// `--json` output; absent optional values are left out. The OpenAPI document (OpenAPI.swift)
// describes the same shapes.

/// A run's error: the catalog's code and message.
struct RunErrorBody: Codable, Sendable {
    var code: String
    var message: String
}

/// One run as listings show it.
struct RunBody: Codable, Sendable {
    var id: Int64
    var state: String
    var profile: String
    var inputID: Int64
    var inputPath: String
    var attempts: Int
    var stageCount: Int
    var stagesDone: Int
    var currentStage: String?
    var createdAt: Date
    var startedAt: Date?
    var finishedAt: Date?
    var durationSeconds: Double?
    var error: RunErrorBody?
    var version: String
    var retryOf: Int64?
    var url: String

    enum CodingKeys: String, CodingKey {
        case id, state, profile
        case inputID = "input_id"
        case inputPath = "input_path"
        case attempts
        case stageCount = "stage_count"
        case stagesDone = "stages_done"
        case currentStage = "current_stage"
        case createdAt = "created_at"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case durationSeconds = "duration_s"
        case error, version
        case retryOf = "retry_of"
        case url
    }

    init(_ run: RunRecord, inputPath: String, stagesDone: Int, currentStage: String?) {
        let id = run.id ?? 0
        self.id = id
        state = run.state.rawValue
        profile = run.profile
        inputID = run.inputID
        self.inputPath = inputPath
        attempts = run.attempts
        stageCount = run.stageCount
        self.stagesDone = stagesDone
        self.currentStage = currentStage
        createdAt = run.createdAt
        startedAt = run.startedAt
        finishedAt = run.finishedAt
        if let startedAt = run.startedAt, let finishedAt = run.finishedAt {
            durationSeconds = finishedAt.timeIntervalSince(startedAt)
        }
        if run.errorCode != nil || run.errorMessage != nil {
            error = RunErrorBody(code: run.errorCode ?? "unknown", message: run.errorMessage ?? "")
        }
        version = run.version
        retryOf = run.retryOf
        url = "/api/v1/runs/\(id)"
    }

    init(_ summary: RunSummary) {
        self.init(
            summary.run, inputPath: summary.inputPath, stagesDone: summary.stagesDone,
            currentStage: summary.currentStage)
    }
}

/// `GET /api/v1/runs`.
struct RunListBody: Codable, Sendable {
    var runs: [RunBody]
    var count: Int
}

/// One stage of a run.
struct StageBody: Codable, Sendable {
    var ordinal: Int
    var name: String
    var state: String
    var startedAt: Date?
    var finishedAt: Date?
    var durationSeconds: Double?
    var message: String?
    var metrics: [String: Double]

    enum CodingKeys: String, CodingKey {
        case ordinal, name, state
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case durationSeconds = "duration_s"
        case message, metrics
    }

    init(_ stage: StageRecord) {
        ordinal = stage.ordinal
        name = stage.name
        state = stage.state.rawValue
        startedAt = stage.startedAt
        finishedAt = stage.finishedAt
        durationSeconds = stage.durationSeconds
        message = stage.message
        metrics = stage.metrics
    }
}

/// One downloadable file of a run.
struct OutputBody: Codable, Sendable {
    var name: String
    var kind: String
    var bytes: Int64
    var sha256: String
    var createdAt: Date
    var url: String

    enum CodingKeys: String, CodingKey {
        case name, kind, bytes, sha256
        case createdAt = "created_at"
        case url
    }
}

/// One cell set of a selection version.
struct CellSetBody: Codable, Sendable {
    var version: Int
    var name: String
    var well: String?
    var count: Int
}

/// A run's cells: how many were found and the selections made from them.
struct CellsBody: Codable, Sendable {
    var count: Int
    var sets: [CellSetBody]
}

/// One event of a run's audit trail.
struct EventBody: Codable, Sendable {
    var at: Date
    var level: String
    var kind: String
    var message: String
}

/// `GET /api/v1/runs/{id}`.
struct RunDetailsBody: Codable, Sendable {
    var run: RunBody
    var stages: [StageBody]
    var cells: CellsBody
    var outputs: [OutputBody]
    var events: [EventBody]
}

/// `POST /api/v1/runs/{id}/retry`.
struct RetryBody: Codable, Sendable {
    var run: RunBody
}

/// `POST /api/v1/runs/{id}/select`: what the re-selection made, with download URLs.
struct SelectBody: Codable, Sendable {
    struct ChosenSet: Codable, Sendable {
        var name: String
        var well: String?
        var count: Int
    }
    var runID: Int64
    var version: Int
    var sets: [ChosenSet]
    var summary: String
    var files: [OutputBody]

    enum CodingKeys: String, CodingKey {
        case runID = "run_id"
        case version, sets, summary, files
    }
}

/// `GET /healthz`.
struct HealthBody: Codable, Sendable {
    var status: String
    var version: String
}

/// `GET /readyz` when ready.
struct ReadyBody: Codable, Sendable {
    struct Daemon: Codable, Sendable {
        var state: String
        var heartbeatAt: Date
        var ageSeconds: Double
        var version: String
        enum CodingKeys: String, CodingKey {
            case state
            case heartbeatAt = "heartbeat_at"
            case ageSeconds = "age_s"
            case version
        }
    }
    var status: String
    var daemon: Daemon
    var runs: [String: Int]
}

/// Encodes the API's JSON: snake_case keys as declared, ISO 8601 dates, sorted keys.
enum APIJSON {
    static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }
}
