import Foundation
import Testing
@testable import Catalog

@Suite("Catalog: cells, features and cell sets")
struct SingleCellCatalogTests {
    @Test("cells and feature vectors round-trip, NaN included, and a re-import replaces them")
    func cellsRoundTrip() throws {
        let fixture = try CatalogFixture()
        let runID = try #require(try fixture.queue("/in/a.nd2").id)
        let table = CellTableRecord(columns: ["area_nucleus", "mean_ch0_nucleus"], cells: [
            .init(cellID: 3, centroidX: 10.5, centroidY: 20, area: 120, values: [120, 0.25]),
            .init(cellID: 7, values: [80, .nan]),
        ])
        try fixture.catalog.saveCells(runID: runID, table: table)
        let back = try fixture.catalog.cells(runID: runID)
        #expect(back.columns == table.columns)
        #expect(back.cells.map(\.cellID) == [3, 7])
        #expect(back.cells[0].values == [120, 0.25])
        #expect(back.cells[0].centroidX == 10.5)
        #expect(back.cells[1].values[1].isNaN)
        #expect(back.cells[1].centroidX == nil)
        try fixture.catalog.saveCells(runID: runID, table: CellTableRecord(columns: ["a"], cells: [.init(cellID: 1, values: [1])]))
        #expect(try fixture.catalog.cellCount(runID: runID) == 1)
        #expect(try fixture.catalog.cells(runID: runID).columns == ["a"])
        #expect(try fixture.catalog.integrityCheck() == ["ok"])
    }

    @Test("a vector of the wrong length is refused and nothing is written")
    func raggedVector() throws {
        let fixture = try CatalogFixture()
        let runID = try #require(try fixture.queue("/in/a.nd2").id)
        let error = catalogError { () throws(CatalogError) in
            try fixture.catalog.saveCells(runID: runID, table: CellTableRecord(columns: ["a", "b"], cells: [.init(cellID: 1, values: [1])]))
        }
        #expect(error?.code == .invalidRecord)
        #expect(try fixture.catalog.cellCount(runID: runID) == 0)
    }

    @Test("cell sets are kept per selection version")
    func cellSetVersions() throws {
        let fixture = try CatalogFixture()
        let runID = try #require(try fixture.queue("/in/a.nd2").id)
        #expect(try fixture.catalog.latestSelectionVersion(runID: runID) == 0)
        try fixture.catalog.saveCellSets(runID: runID, version: 1, sets: [
            CellSetRecord(runID: runID, version: 1, ordinal: 0, name: "big", well: "A1", cellIDs: [1, 4], rule: "area > 2", source: "profile"),
        ])
        try fixture.catalog.saveCellSets(runID: runID, version: 2, sets: [
            CellSetRecord(runID: runID, version: 2, ordinal: 0, name: "small", well: "B1", cellIDs: [2], rule: nil, source: "cli:x.yml"),
            CellSetRecord(runID: runID, version: 2, ordinal: 1, name: "rest", well: nil, cellIDs: [], rule: "all", source: "cli:x.yml"),
        ])
        let sets = try fixture.catalog.cellSets(runID: runID)
        #expect(sets.map(\.version) == [1, 2, 2])
        #expect(sets[0].cellIDs == [1, 4])
        #expect(sets[2].well == nil)
        #expect(try fixture.catalog.latestSelectionVersion(runID: runID) == 2)
        #expect(try fixture.catalog.events(runID: runID).contains { $0.kind == "cells_selected" })
    }
}
