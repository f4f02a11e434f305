import GRDB

/// The catalog schema as named, append-only migrations. A later module adds its tables with
/// one more `registerMigration` here (cells, features, selections, shapes...); never edit a
/// migration that has shipped. The schema is documented in docs/CATALOG.md.
enum CatalogMigrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-backbone") { db in
            try db.create(table: "inputs") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("path", .text).notNull()
                t.column("current_path", .text).notNull()
                t.column("profile", .text).notNull()
                t.column("size", .integer).notNull()
                t.column("mtime_ns", .integer).notNull()
                t.column("sha256", .text).notNull()
                t.column("state", .text).notNull()
                t.column("first_seen", .datetime).notNull()
                t.column("settled_at", .datetime).notNull()
                t.column("duplicate_of", .integer).references("inputs", onDelete: .setNull)
            }
            try db.create(index: "inputs_by_content", on: "inputs", columns: ["profile", "sha256", "size"])
            try db.create(index: "inputs_by_stat", on: "inputs", columns: ["path", "size", "mtime_ns"])

            try db.create(table: "runs") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("input_id", .integer).notNull().references("inputs", onDelete: .restrict)
                t.column("profile", .text).notNull()
                t.column("config_hash", .text).notNull()
                t.column("state", .text).notNull()
                    .check(sql: "state IN ('queued','running','succeeded','failed','cancelled')")
                t.column("attempts", .integer).notNull().defaults(to: 0)
                t.column("stage_count", .integer).notNull()
                t.column("created_at", .datetime).notNull()
                t.column("started_at", .datetime)
                t.column("finished_at", .datetime)
                t.column("error_code", .text)
                t.column("error_message", .text)
                t.column("version", .text).notNull()
                t.column("run_dir", .text)
                t.column("forced", .boolean).notNull().defaults(to: false)
                t.column("retry_of", .integer).references("runs", onDelete: .setNull)
            }
            try db.create(index: "runs_by_state", on: "runs", columns: ["state", "id"])
            try db.create(index: "runs_by_input", on: "runs", columns: ["input_id"])

            try db.create(table: "stages") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("run_id", .integer).notNull().references("runs", onDelete: .cascade)
                t.column("ordinal", .integer).notNull()
                t.column("name", .text).notNull()
                t.column("state", .text).notNull()
                t.column("started_at", .datetime)
                t.column("finished_at", .datetime)
                t.column("duration_s", .double)
                t.column("artifact_path", .text)
                t.column("artifact_sha256", .text)
                t.column("message", .text)
                t.uniqueKey(["run_id", "ordinal"])
            }

            try db.create(table: "outputs") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("run_id", .integer).notNull().references("runs", onDelete: .cascade)
                t.column("kind", .text).notNull()
                t.column("path", .text).notNull()
                t.column("sha256", .text).notNull()
                t.column("bytes", .integer).notNull()
                t.column("created_at", .datetime).notNull()
                t.uniqueKey(["run_id", "path"])
            }

            try db.create(table: "events") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("at", .datetime).notNull()
                t.column("level", .text).notNull()
                t.column("kind", .text).notNull()
                t.column("run_id", .integer).references("runs", onDelete: .setNull)
                t.column("input_id", .integer).references("inputs", onDelete: .setNull)
                t.column("path", .text)
                t.column("message", .text).notNull()
            }
            try db.create(index: "events_by_run", on: "events", columns: ["run_id"])

            try db.create(table: "daemon") { t in
                t.primaryKey("id", .integer).check { $0 == 1 }
                t.column("pid", .integer).notNull()
                t.column("started_at", .datetime).notNull()
                t.column("heartbeat_at", .datetime).notNull()
                t.column("state", .text).notNull()
                t.column("version", .text).notNull()
                t.column("config_path", .text).notNull()
                t.column("watching", .text).notNull()
            }
        }
        // Stage metrics (object counts, sub-step timings) as a JSON object of numbers.
        migrator.registerMigration("v2-stage-metrics") { db in
            try db.alter(table: "stages") { t in t.add(column: "metrics_json", .text) }
        }
        // Single cells: the cells of a run, their feature vectors (one row per cell; the column
        // names once per run) and the cell sets chosen for cutting, one version per selection.
        migrator.registerMigration("v3-single-cells") { db in
            try db.create(table: "cells") { t in
                t.column("run_id", .integer).notNull().references("runs", onDelete: .cascade)
                t.column("cell_id", .integer).notNull()
                t.column("centroid_x", .double)
                t.column("centroid_y", .double)
                t.column("area", .double)
                t.primaryKey(["run_id", "cell_id"])
            }
            try db.create(table: "feature_columns") { t in
                t.column("run_id", .integer).notNull().references("runs", onDelete: .cascade)
                t.column("ordinal", .integer).notNull()
                t.column("name", .text).notNull()
                t.primaryKey(["run_id", "ordinal"])
                t.uniqueKey(["run_id", "name"])
            }
            try db.create(table: "features") { t in
                t.column("run_id", .integer).notNull().references("runs", onDelete: .cascade)
                t.column("cell_id", .integer).notNull()
                // float64 little-endian, one per feature column in ordinal order (NaN = no value).
                t.column("vector", .blob).notNull()
                t.primaryKey(["run_id", "cell_id"])
            }
            try db.create(table: "cell_sets") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("run_id", .integer).notNull().references("runs", onDelete: .cascade)
                t.column("version", .integer).notNull()
                t.column("ordinal", .integer).notNull()
                t.column("name", .text).notNull()
                t.column("well", .text)
                t.column("cell_count", .integer).notNull()
                t.column("cell_ids_json", .text).notNull()
                t.column("rule", .text)
                t.column("source", .text).notNull()
                t.column("created_at", .datetime).notNull()
                t.uniqueKey(["run_id", "version", "ordinal"])
            }
        }
        return migrator
    }
}
