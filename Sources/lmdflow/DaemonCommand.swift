import ArgumentParser
import Daemon
import Foundation
import HTTPAPI
import Pipeline

/// `lmdflow daemon`: watch the drop folders and process what lands in them.
struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Watch the configured drop folders and run each settled file through its folder's profile.",
        discussion: """
            Runs until SIGTERM or SIGINT (graceful: no new work, running stages get stop_timeout_seconds, \
            then are interrupted and requeued; exit 0). SIGHUP reloads the configuration and profiles. \
            Under systemd (Type=notify) it reports READY=1, STATUS= and WATCHDOG=1.
            """)

    @OptionGroup var options: ConfigOptions

    @Flag(name: .long, help: "Exit once every dropped file has been processed and nothing is queued.")
    var exitWhenIdle = false

    func run() async throws {
        try await guarded {
            let config = try options.load()
            let logger = options.logger(config)
            try await LMDFlowDaemon.run(config: config, exitWhenIdle: exitWhenIdle, logger: logger) {
                // The HTTP API (off unless `http: enabled: true`); bad token files stop start-up.
                guard config.http.enabled else { return [] }
                return [try APIService(settings: config.http, catalogPath: config.layout.catalog, layout: config.layout, logger: logger)]
            }
        }
    }
}
