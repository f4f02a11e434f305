import ArgumentParser
import Foundation
import Daemon
import Pipeline

/// `lmdflow select RUN --sets FILE`: choose cells again on a finished run.
struct SelectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "select",
        abstract: "Re-select cells on a finished run and write a new cut-file version (earlier versions are kept).",
        discussion: """
            Uses the run's features.csv and the cut settings it was cut with (cut.json); nothing is \
            segmented again. FILE has the format of a <stem>.select.yml sidecar (docs/SELECTION.md):

              max_per_well: 200
              cell_sets:
                - name: big
                  well: A1
                  select: area_nucleus > quantile(area_nucleus, 0.9)
                - {name: picked, well: B1, ids_csv: picked.csv}

            The new cut file <stem>_<sets>.v<N>.xml and preview.v<N>.png go to the run directory and \
            the outbox; the sets are recorded in the catalog as selection version N.
            """)

    @Argument(help: "Run id.")
    var run: Int64

    @Option(name: .long, help: "Selection rules (YAML: cell_sets, max_per_well).")
    var sets: String

    @OptionGroup var options: ConfigOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await guarded {
            let config = try options.load()
            let catalog = try options.catalog()
            let reselection = Reselection(catalog: catalog, layout: config.layout, logger: options.logger(config))
            let outcome = try await reselection.run(runID: run, setsFile: sets)
            if output.json {
                try Report.printJSON(outcome)
            } else {
                print("run \(outcome.runID) selection v\(outcome.version): \(outcome.summary)")
                for set in outcome.sets {
                    print("  \(set.name): \(set.cellIDs.count) cells\(set.well.map { " → \($0)" } ?? "")")
                }
                print("cut file: \(outcome.xml)")
                print("preview:  \(outcome.preview)")
                for path in outcome.published { print("outbox:   \(path)") }
            }
        }
    }
}
