import Foundation
import LMDTestSupport
import Testing
@testable import Daemon

/// Temporaries a `kill -9` leaves in the outbox during publishing (found by the reliability
/// suite's kill trials, docs/RELIABILITY.md) are removed at the next start.
@Suite("StaleTemporaries")
struct StaleTemporariesTests {
    @Test("the writer's pid is read from both temporary name forms")
    func names() {
        #expect(StaleTemporaries.writerPID(of: ".preview.png.tmp-12507-2355394817") == 12507)
        #expect(StaleTemporaries.writerPID(of: ".scan.tif.tmp-42") == 42)
        #expect(StaleTemporaries.writerPID(of: ".a.tmp-file.xml.tmp-7-1") == 7)
        #expect(StaleTemporaries.writerPID(of: "preview.png") == nil)
        #expect(StaleTemporaries.writerPID(of: ".hidden") == nil)
        #expect(StaleTemporaries.writerPID(of: "visible.tmp-12-3") == nil)
    }

    @Test("temporaries of dead writers go; live writers' temporaries and real files stay")
    func sweep() throws {
        let root = try TemporaryDirectory()
        let dead = try root.write("outbox/s1/.s1_all.xml.tmp-111-5", "<half")
        let live = try root.write("outbox/s1/.preview.png.tmp-222-6", "png in progress")
        let published = try root.write("outbox/s1/s1_all.xml", "<xml/>")
        let other = try root.write("outbox/s1/.notes", "kept")
        let archived = try root.write("archive/.scan.tif.tmp-111", "half a copy")
        let removed = StaleTemporaries.sweep([root.file("outbox"), root.file("archive")], isAlive: { $0 == 222 })
        #expect(Set(removed) == [dead, archived])
        for path in [live, published, other] { #expect(FileManager.default.fileExists(atPath: path)) }
        #expect(!FileManager.default.fileExists(atPath: dead))
    }

    @Test("this process counts as alive, a free pid does not")
    func liveness() {
        #expect(StaleTemporaries.processIsAlive(getpid()))
        #expect(!StaleTemporaries.processIsAlive(0))
        #expect(!StaleTemporaries.processIsAlive(Int32.max))
    }
}
