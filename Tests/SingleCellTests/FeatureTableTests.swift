import Testing
@testable import SingleCell

@Suite struct FeatureTableTests {
    @Test func rejectsRaggedAndDuplicateColumns() throws {
        #expect(throws: SingleCellError.self) {
            _ = try FeatureTable(cellIDs: [1, 2], columns: [.init(name: "a", values: [1])])
        }
        #expect(throws: SingleCellError.self) {
            _ = try FeatureTable(cellIDs: [1], columns: [.init(name: "a", values: [1]), .init(name: "a", values: [2])])
        }
        let table = try FeatureTable(cellIDs: [3, 5], columns: [.init(name: "area", values: [10, 20])])
        #expect(table.column("area")?.values == [10, 20])
        #expect(table.column("nope") == nil)
        #expect(table.rowCount == 2)
    }

    @Test func layoutNamesMasksFirst() {
        let layout = CellStackLayout(maskNames: ["seg_all_nucleus", "seg_all_cytosol"], imageChannelNames: ["nucleus", "cytosol"], imageSize: 128)
        #expect(layout.channelNames == ["seg_all_nucleus", "seg_all_cytosol", "nucleus", "cytosol"])
        #expect(layout.channelMapping == ["mask", "mask", "image_channel", "image_channel"])
        #expect(layout.valuesPerCell == 4 * 128 * 128)
    }
}
