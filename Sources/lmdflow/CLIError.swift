import ArgumentParser
import Catalog
import Daemon
import Foundation
import MicroscopyIO
import HTTPAPI
import Pipeline
import Stitching

/// Exit codes (sysexits.h where one fits), mapped from errors in one place.
enum ExitStatus: Int32 {
    case success = 0
    case runFailed = 1
    case usage = 64
    case dataError = 65
    case notFound = 66
    case unavailable = 69
    case internalError = 70
    case cannotCreate = 73
    case tempFailure = 75
    case config = 78
}

/// An error the CLI reports as one line on stderr with a chosen exit code.
struct CLIError: Error, CustomStringConvertible {
    let exitCode: ExitStatus
    let message: String
    var description: String { message }

    /// The exit code and message for any error a command may throw.
    static func from(_ error: any Error) -> CLIError {
        switch error {
        case let error as CLIError: return error
        case let error as CatalogError:
            switch error.code {
            case .notFound: return CLIError(exitCode: .notFound, message: error.message)
            case .invalidState: return CLIError(exitCode: .dataError, message: error.message)
            case .queryFailed: return CLIError(exitCode: .tempFailure, message: error.description)
            default: return CLIError(exitCode: .cannotCreate, message: error.description)
            }
        case let error as PipelineError:
            switch error.code {
            case .config, .profileNotFound, .unknownStage: return CLIError(exitCode: .config, message: error.description)
            case .inputUnreadable: return CLIError(exitCode: .notFound, message: error.description)
            case .writeFailed: return CLIError(exitCode: .cannotCreate, message: error.description)
            default: return CLIError(exitCode: .dataError, message: error.description)
            }
        case let error as DaemonError:
            switch error.code {
            case .alreadyRunning: return CLIError(exitCode: .tempFailure, message: error.description)
            default: return CLIError(exitCode: .internalError, message: error.description)
            }
        case let error as MicroscopyIOError:
            return CLIError(exitCode: .dataError, message: error.description)
        case let error as APIServiceError:
            switch error.code {
            case .serverFailed, .catalog: return CLIError(exitCode: .unavailable, message: error.description)
            default: return CLIError(exitCode: .config, message: error.description)
            }
        case let error as StitchingError:
            switch error.code {
            case .invalidParameter: return CLIError(exitCode: .usage, message: error.description)
            case .writeFailed: return CLIError(exitCode: .cannotCreate, message: error.description)
            default: return CLIError(exitCode: .dataError, message: error.description)
            }
        default:
            return CLIError(exitCode: .internalError, message: "\(error)")
        }
    }
}

extension AsyncParsableCommand {
    /// Runs `body`, turning any error into a message on stderr and the mapped exit code.
    func guarded(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as ExitCode {
            throw error
        } catch {
            let cli = CLIError.from(error)
            FileHandle.standardError.write(Data("lmdflow: \(cli.message)\n".utf8))
            throw ExitCode(cli.exitCode.rawValue)
        }
    }
}
