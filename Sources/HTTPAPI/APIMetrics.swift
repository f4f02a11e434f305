import Catalog
import Foundation
import Prometheus
import Synchronization

/// The service's Prometheus metrics. Catalog-derived values are refreshed when `/metrics` is
/// scraped; HTTP request counts are counted as requests are answered.
///
/// | metric | type | labels |
/// |---|---|---|
/// | `lmdflow_runs` | gauge | `state` |
/// | `lmdflow_queue_length` | gauge | |
/// | `lmdflow_inputs_seen_total` | counter | |
/// | `lmdflow_errors_total` | counter | `code` (failed runs by error code) |
/// | `lmdflow_stage_duration_seconds` | histogram | `stage` |
/// | `lmdflow_http_requests_total` | counter | `route`, `status` |
final class APIMetrics: Sendable {
    /// Upper bounds of the stage duration histogram, in seconds.
    static let stageBuckets: [Double] = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1_800, 3_600, 7_200]
    /// How many of the newest runs a scrape looks at for finished stages.
    static let stageScanLimit = 500

    /// The registry every metric is in.
    let registry = PrometheusCollectorRegistry()
    private let catalog: Catalog

    /// What earlier scrapes already counted, so counters only grow and stages are observed once.
    private struct Seen {
        /// Inputs counted so far.
        var inputs: Int64 = 0
        /// Failed runs per error code at the last scrape.
        var errors: [String: Int] = [:]
        /// Runs whose finished stages were observed (final runs only; pruned to the scan window).
        /// Runs, not a largest stage row id, because with `concurrency > 1` runs finish out of
        /// order: a stage row of a run still going can be older than rows already observed.
        var observedRuns: Set<Int64> = []
    }
    private let seen = Mutex(Seen())

    /// Creates the metrics of a catalog.
    init(catalog: Catalog) {
        self.catalog = catalog
        // Present from the first scrape, even before anything happened.
        for state in RunState.allCases { runsGauge(state).set(to: 0) }
        _ = queueGauge
        _ = inputsCounter
    }

    // MARK: - Collectors

    private func runsGauge(_ state: RunState) -> Gauge {
        registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "lmdflow", metricName: "runs", unitName: "",
                helpText: "Runs in the catalog by state."),
            labels: [("state", state.rawValue)])
    }

    private var queueGauge: Gauge {
        registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "lmdflow", metricName: "queue", unitName: "length",
                helpText: "Runs waiting for a worker."))
    }

    private var inputsCounter: Counter {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "lmdflow", metricName: "inputs_seen", unitName: "total",
                helpText: "Input files registered (including duplicates)."))
    }

    private func errorsCounter(_ code: String) -> Counter {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "lmdflow", metricName: "errors", unitName: "total",
                helpText: "Failed runs by error code."),
            labels: [("code", code)])
    }

    private func stageHistogram(_ stage: String) -> ValueHistogram {
        registry.makeValueHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "lmdflow", metricName: "stage_duration", unitName: "seconds",
                helpText: "Wall time of finished stages."),
            labels: [("stage", stage)], buckets: Self.stageBuckets)
    }

    /// Counts one answered HTTP request.
    func countRequest(route: String, status: Int) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "lmdflow", metricName: "http_requests", unitName: "total",
                helpText: "HTTP requests answered, by route and status."),
            labels: [("route", route), ("status", String(status))]
        ).increment()
    }

    // MARK: - Scrape

    /// Refreshes the catalog-derived metrics and renders everything in the Prometheus text format.
    /// Blocking (SQLite reads): call it off the cooperative pool.
    func scrape() throws(CatalogError) -> String {
        try seen.withLock { (seen: inout Seen) throws(CatalogError) -> Void in
            let counts = try catalog.runCounts()
            for state in RunState.allCases { runsGauge(state).set(to: Double(counts[state] ?? 0)) }
            queueGauge.set(to: Double(counts[.queued] ?? 0))

            let recent = try catalog.runs(RunFilter(limit: Self.stageScanLimit))
            let inputs = Int64(try catalog.inputCount())
            if inputs > seen.inputs {
                inputsCounter.increment(by: inputs - seen.inputs)
                seen.inputs = inputs
            }

            // Errors: failed runs per code; the counter grows by the difference.
            let byCode = try catalog.failedRunsByCode()
            for (code, count) in byCode where count > seen.errors[code, default: 0] {
                errorsCounter(code).increment(by: Int64(count - seen.errors[code, default: 0]))
                seen.errors[code] = count
            }

            // Stage durations: every finished stage of a run that reached a final state, once.
            for summary in recent where summary.run.state.isFinal {
                guard let id = summary.run.id, !seen.observedRuns.contains(id) else { continue }
                let details = try catalog.details(runID: id)
                for stage in details.stages where stage.state == .succeeded || stage.state == .failed {
                    guard let duration = stage.durationSeconds else { continue }
                    stageHistogram(stage.name).record(duration)
                }
                seen.observedRuns.insert(id)
            }
            if let oldest = recent.last?.run.id {
                seen.observedRuns = seen.observedRuns.filter { $0 >= oldest }
            }
        }
        return registry.emitToString()
    }
}
