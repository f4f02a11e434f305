import Testing

@testable import SingleCell

@Suite("Selection id lists (CSV)")
struct SelectionIDListTests {
    private func ids(_ csv: String) throws(SingleCellError) -> [Int] {
        try IDList.parse(csv: csv, path: "picked.csv")
    }

    private func failure(_ csv: String) -> SingleCellError? {
        selectionError { () throws(SingleCellError) in try ids(csv) }
    }

    @Test("a header naming the id column; other columns are ignored")
    func header() throws {
        #expect(try ids("score,cell_id\n0.5,12\n0.7,40\n") == [12, 40])
        #expect(
            try ids(
                "obs_index,region,scportrait_cell_id,nucleus_area\n0,seg_all_cytosol,5,10\n1,seg_all_cytosol,8,11\n")
                == [5, 8])
        #expect(try ids("ID\n3\n1\n") == [3, 1])
        #expect(try ids("Cell_ID , x\n 7 , 1\n") == [7])
        // cell_id wins over id.
        #expect(try ids("id,cell_id\n1,100\n2,200\n") == [100, 200])
        #expect(try ids("cell_id\n") == [])
    }

    @Test("one column without a header; blank lines, comments, CRLF and a BOM are fine")
    func plain() throws {
        #expect(try ids("12\n40\n\n# chosen by hand\n7\r\n9\r\n") == [12, 40, 7, 9])
        #expect(try ids("\u{FEFF}cell_id\r\n4\r\n4\r\n") == [4, 4])
        #expect(try ids("5") == [5])
    }

    @Test("tab and semicolon delimiters, quoted fields, float-formatted ids")
    func dialects() throws {
        #expect(try ids("name\tcell_id\na\t3\nb\t4\n") == [3, 4])
        #expect(try ids("cell_id;score\n11;0,5\n12;0,7\n") == [11, 12])
        #expect(try ids("\"label, long\",\"cell_id\"\n\"x, y\",\"21\"\n\"say \"\"hi\"\"\",22\n") == [21, 22])
        #expect(try ids("cell_id\n12.0\n+13\n") == [12, 13])
    }

    @Test("a value that is not an id names the line and field")
    func badValue() throws {
        let error = try #require(failure("cell_id\n12\nabc\n"))
        #expect(error.code == .unknownCell)
        #expect(error.context.path == "picked.csv")
        #expect(error.context.object == "line 3, field 1 (cell_id)")
        #expect(error.message == "'abc' is not a cell id (a whole number ≥ 0)")
        #expect(
            error.description == "picked.csv: line 3, field 1 (cell_id): 'abc' is not a cell id (a whole number ≥ 0)")
        #expect(failure("x,cell_id\n1,2\n\n3,\n")?.context.object == "line 4, field 2 (cell_id)")
        #expect(failure("x,cell_id\n1,2\n3,\n")?.message.contains("an empty field") == true)
        #expect(failure("cell_id\n-5\n")?.message.contains("'-5' is not a cell id") == true)
        #expect(failure("cell_id\n1.5\n")?.message.contains("'1.5'") == true)
        #expect(failure("3\n4\nfive\n")?.context.object == "line 3, field 1")
    }

    @Test("malformed files: no id column, several columns without header, short rows, quotes, empty")
    func malformed() throws {
        let noColumn = try #require(failure("a,b\n1,2\n"))
        #expect(noColumn.message.contains("the header must name one of cell_id, scportrait_cell_id, id (found: a, b)"))
        #expect(noColumn.context.object == "line 1")
        #expect(failure("1,2\n3,4\n")?.message.contains("2 columns and no header") == true)
        let short = try #require(failure("x,cell_id\n1\n"))
        #expect(short.context.object == "line 2, field 2 (cell_id)")
        #expect(short.message.contains("the row has 1 field, so no id"))
        #expect(failure("cell_id\n\"12\n")?.message == "unterminated quote")
        #expect(failure("")?.message.contains("the id list is empty") == true)
        #expect(failure("\n# nothing\n\n")?.message.contains("the id list is empty") == true)
    }
}
