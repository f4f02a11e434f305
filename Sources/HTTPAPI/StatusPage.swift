import Catalog
import Foundation

/// The status page at `/`: one server-rendered HTML table of the newest runs, with their stage
/// progress, preview image and download links. No scripts; the page reloads itself every 10 s.
/// Every value from the catalog is HTML-escaped.
enum StatusPage {
    /// How many runs the page shows.
    static let runLimit = 50

    /// One run with what its row shows.
    struct Row: Sendable {
        var summary: RunSummary
        /// Download names, in catalog order, each once.
        var files: [String]
        /// The newest preview image's name, if any.
        var preview: String?
    }

    /// Renders the page.
    static func render(rows: [Row], counts: [RunState: Int], daemon: DaemonStatusRecord?, version: String, now: Date)
        -> String
    {
        var html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta http-equiv="refresh" content="10">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>lmdflow</title>
            <style>
            body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
            h1 { font-size: 1.4em; margin: 0 0 .3em; }
            .summary { color: #555; margin-bottom: 1em; }
            table { border-collapse: collapse; width: 100%; }
            th, td { border-bottom: 1px solid #ddd; padding: .4em .6em; text-align: left; vertical-align: top; }
            th { background: #f4f4f4; }
            td.preview img { max-width: 160px; max-height: 120px; border: 1px solid #ccc; }
            .state { font-weight: 600; }
            .succeeded { color: #17692b; } .failed { color: #a61b1b; } .running { color: #1f4fa3; }
            .queued, .cancelled { color: #666; }
            .error { color: #a61b1b; font-size: .9em; }
            ul.files { margin: 0; padding-left: 1.1em; }
            </style>
            </head>
            <body>
            <h1>lmdflow</h1>

            """
        let stateCounts = RunState.allCases.map { "\($0.rawValue) \(counts[$0] ?? 0)" }.joined(separator: " · ")
        var daemonText = "daemon: no status"
        if let daemon {
            let age = Int(now.timeIntervalSince(daemon.heartbeatAt).rounded())
            daemonText = "daemon: \(daemon.state), heartbeat \(age) s ago, version \(daemon.version)"
        }
        html += "<p class=\"summary\">\(escape(stateCounts)) — \(escape(daemonText)) — lmdflow \(escape(version))</p>\n"
        html += """
            <table>
            <thead><tr><th>run</th><th>state</th><th>profile</th><th>input</th><th>progress</th><th>created</th><th>preview</th><th>files</th></tr></thead>
            <tbody>

            """
        let dates = ISO8601DateFormatter()
        for row in rows {
            let run = row.summary.run
            let id = run.id ?? 0
            var progress = "\(row.summary.stagesDone)/\(run.stageCount) stages"
            if let current = row.summary.currentStage { progress += ", \(current)" }
            var stateCell = "<span class=\"state \(escape(run.state.rawValue))\">\(escape(run.state.rawValue))</span>"
            if run.errorCode != nil || run.errorMessage != nil {
                stateCell +=
                    "<div class=\"error\">\(escape(run.errorCode ?? "")): \(escape(run.errorMessage ?? ""))</div>"
            }
            let preview =
                row.preview.map {
                    "<a href=\"\(escape(RunFiles.url(runID: id, name: $0)))\"><img src=\"\(escape(RunFiles.url(runID: id, name: $0)))\" alt=\"preview of run \(id)\"></a>"
                } ?? ""
            let files =
                row.files.isEmpty
                ? ""
                : "<ul class=\"files\">"
                    + row.files.map {
                        "<li><a href=\"\(escape(RunFiles.url(runID: id, name: $0)))\">\(escape($0))</a></li>"
                    }.joined() + "</ul>"
            html += """
                <tr id="run-\(id)"><td><a href="/api/v1/runs/\(id)">\(id)</a></td><td>\(stateCell)</td>\
                <td>\(escape(run.profile))</td><td>\(escape(RunFiles.baseName(row.summary.inputPath)))</td>\
                <td>\(escape(progress))</td><td>\(escape(dates.string(from: run.createdAt)))</td>\
                <td class="preview">\(preview)</td><td>\(files)</td></tr>

                """
        }
        if rows.isEmpty { html += "<tr><td colspan=\"8\">no runs yet</td></tr>\n" }
        html += """
            </tbody>
            </table>
            </body>
            </html>

            """
        return html
    }

    /// Escapes `& < > " '` for HTML text and attribute values.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
