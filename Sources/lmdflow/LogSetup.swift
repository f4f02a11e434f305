import Foundation
import Logging
import Synchronization

/// The CLI's logging set-up: swift-log to stderr, one line per event.
enum LogSetup {
    private static let bootstrapped = Atomic<Bool>(false)

    /// Bootstraps swift-log once per process at `level`.
    static func bootstrapOnce(level: String) {
        guard !bootstrapped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let logLevel = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
    }
}
