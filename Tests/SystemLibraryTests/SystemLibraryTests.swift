import CGEOS
import CInotifyTools
import CLibXML2
import CTIFF
import CZlib
import Foundation
import Testing

/// The system-library shims compile, link and reach the Debian libraries `make deps` installs.
@Suite struct SystemLibraryTests {
    @Test func geosReentrantContextWorks() throws {
        let handle = try #require(GEOS_init_r())
        defer { GEOS_finish_r(handle) }
        let version = String(cString: GEOSversion())
        #expect(version.hasPrefix("3."))
        let reader = try #require(GEOSWKTReader_create_r(handle))
        defer { GEOSWKTReader_destroy_r(handle, reader) }
        let square = try #require(GEOSWKTReader_read_r(handle, reader, "POLYGON((0 0,4 0,4 4,0 4,0 0))"))
        defer { GEOSGeom_destroy_r(handle, square) }
        var area = 0.0
        #expect(GEOSArea_r(handle, square, &area) == 1)
        #expect(area == 16)
        #expect(GEOSisValid_r(handle, square) == 1)
    }

    @Test func libxml2ParsesWithoutICUClash() throws {
        let xml = "<ImageData><ShapeCount>2</ShapeCount></ImageData>"
        let doc = try #require(xml.withCString { xmlReadMemory($0, Int32(strlen($0)), "t.xml", nil, 0) })
        defer { xmlFreeDoc(doc) }
        let root = try #require(xmlDocGetRootElement(doc))
        #expect(String(cString: root.pointee.name) == "ImageData")
    }

    @Test func libtiffAndZlibVersions() {
        #expect(String(cString: TIFFGetVersion()).contains("LIBTIFF"))
        #expect(String(cString: zlibVersion()).hasPrefix("1."))
    }

    @Test func inotifyEventNameAccessor() throws {
        // The shim's accessor reads the flexible array member Swift cannot import.
        let size = MemoryLayout<inotify_event>.size + 16
        let raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer { raw.deallocate() }
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        let event = raw.assumingMemoryBound(to: inotify_event.self)
        event.pointee.len = 16
        let name = Array("sample.nd2".utf8)
        (raw + MemoryLayout<inotify_event>.size).copyMemory(from: name, byteCount: name.count)
        #expect(String(cString: lmdflow_inotify_event_name(event)) == "sample.nd2")
        #expect(inotifytools_str_to_event("close_write") == Int32(IN_CLOSE_WRITE))
    }
}
