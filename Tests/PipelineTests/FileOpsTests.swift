import Foundation
import LMDTestSupport
import Testing
@testable import Pipeline

@Suite("FileOps")
struct FileOpsTests {
    @Test("writeAtomically replaces the content and leaves no temporary file")
    func writeAtomically() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("run.json")
        try FileOps.writeAtomically(Data("first".utf8), to: path)
        #expect(contents(path) == "first")
        try FileOps.writeAtomically(Data("second, longer".utf8), to: path)
        #expect(contents(path) == "second, longer")
        try FileOps.writeAtomically(Data(), to: path)
        #expect(contents(path) == "")
        #expect(try directory.list() == ["run.json"])
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int).map { $0 & 0o777 } == 0o640)
    }

    @Test("writeAtomically into a missing directory fails with writeFailed and leaves nothing")
    func writeAtomicallyFailure() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("missing/run.json")
        let error = try #require(pipelineError { () throws(PipelineError) in
            try FileOps.writeAtomically(Data("x".utf8), to: path)
        })
        #expect(error.code == .writeFailed)
        #expect(error.message.contains("cannot create"))
        #expect(try directory.list().isEmpty)
    }

    @Test("removeStaleTemporaries clears temporaries a crash left, and nothing else")
    func removeStaleTemporaries() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("run.json")
        try directory.write(".run.json.tmp-12345-678", "half a file")
        try directory.write(".hidden-but-not-temporary", "keep")
        try FileOps.writeAtomically(Data("whole".utf8), to: path)
        #expect(FileOps.removeStaleTemporaries(in: directory.path) == [".run.json.tmp-12345-678"])
        #expect(try directory.list().sorted() == [".hidden-but-not-temporary", "run.json"])
    }

    @Test("copyAtomically copies and replaces")
    func copyAtomically() throws {
        let directory = try TemporaryDirectory()
        let source = try directory.write("a.txt", "new content")
        let target = try directory.write("out/b.txt", "old")
        try FileOps.copyAtomically(from: source, to: target)
        #expect(contents(target) == "new content")
        #expect(contents(source) == "new content")
        #expect(try directory.list("out") == ["b.txt"])
        let missing = pipelineError { () throws(PipelineError) in
            try FileOps.copyAtomically(from: directory.file("absent"), to: directory.file("out/c.txt"))
        }
        #expect(missing?.code == .inputUnreadable)
    }

    @Test("moveIntoDirectory never overwrites and keeps .ome.tif as one extension")
    func moveNeverOverwrites() throws {
        let directory = try TemporaryDirectory()
        let archive = directory.file("archive")

        let first = try directory.write("inbox/slide.ome.tif", "first")
        let moved1 = try FileOps.moveIntoDirectory(first, directory: archive)
        #expect(moved1 == "\(archive)/slide.ome.tif")
        #expect(!FileManager.default.fileExists(atPath: first))

        let second = try directory.write("inbox/slide.ome.tif", "second")
        let moved2 = try FileOps.moveIntoDirectory(second, directory: archive)
        #expect(moved2 == "\(archive)/slide-1.ome.tif")

        let third = try directory.write("inbox/slide.ome.tif", "third")
        let moved3 = try FileOps.moveIntoDirectory(third, directory: archive)
        #expect(moved3 == "\(archive)/slide-2.ome.tif")

        #expect(contents(moved1) == "first")
        #expect(contents(moved2) == "second")
        #expect(contents(moved3) == "third")
        #expect(try directory.list("archive") == ["slide-1.ome.tif", "slide-2.ome.tif", "slide.ome.tif"])
        #expect(try directory.list("inbox").isEmpty)
    }

    @Test("moveIntoDirectory numbers plain names and names without extension")
    func moveNumbering() throws {
        let directory = try TemporaryDirectory()
        let target = directory.file("failed")
        _ = try FileOps.moveIntoDirectory(try directory.write("in/a.nd2", "1"), directory: target)
        #expect(try FileOps.moveIntoDirectory(try directory.write("in/a.nd2", "2"), directory: target)
            == "\(target)/a-1.nd2")
        _ = try FileOps.moveIntoDirectory(try directory.write("in/README", "1"), directory: target)
        #expect(try FileOps.moveIntoDirectory(try directory.write("in/README", "2"), directory: target)
            == "\(target)/README-1")
    }

    @Test("moveIntoDirectory does not replace a dangling symlink of the same name")
    func moveAvoidsSymlink() throws {
        let directory = try TemporaryDirectory()
        let target = directory.file("archive")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(target)/c.nd2", withDestinationPath: "/nonexistent/x")
        let moved = try FileOps.moveIntoDirectory(try directory.write("in/c.nd2", "data"), directory: target)
        #expect(moved == "\(target)/c-1.nd2")
        #expect(FileOps.stat("\(target)/c.nd2")?.isSymlink == true)
    }

    @Test("moveIntoDirectory of a missing file fails")
    func moveMissing() throws {
        let directory = try TemporaryDirectory()
        let error = pipelineError { () throws(PipelineError) in
            try FileOps.moveIntoDirectory(directory.file("absent.nd2"), directory: directory.file("archive"))
        }
        #expect(error != nil)
    }

    @Test("SHA-256 of bytes matches the known vector for 'abc' and the empty string")
    func sha256KnownVectors() {
        #expect(FileOps.sha256(of: Data("abc".utf8))
            == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(FileOps.sha256(of: "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(FileOps.sha256(of: Data())
            == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("SHA-256 of a file equals SHA-256 of its bytes (several 1 MiB blocks)")
    func sha256OfFile() throws {
        let directory = try TemporaryDirectory()
        let bytes = Data((0..<(2 * (1 << 20) + 12_345)).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) })
        let path = try directory.write("big.bin", bytes)
        #expect(try FileOps.sha256(ofFile: path) == FileOps.sha256(of: bytes))
        let abc = try directory.write("abc.txt", "abc")
        #expect(try FileOps.sha256(ofFile: abc) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let empty = try directory.write("empty", Data())
        #expect(try FileOps.sha256(ofFile: empty) == FileOps.sha256(of: Data()))
    }

    @Test("SHA-256 of a missing file is inputUnreadable")
    func sha256Missing() {
        let error = pipelineError { () throws(PipelineError) in
            try FileOps.sha256(ofFile: "/nonexistent/\(UUID().uuidString)")
        }
        #expect(error?.code == .inputUnreadable)
    }

    @Test("splitExtension", arguments: [
        ("slide.nd2", "slide", ".nd2"),
        ("slide.ome.tif", "slide", ".ome.tif"),
        ("slide.ome.tiff", "slide", ".ome.tiff"),
        ("SLIDE.OME.TIF", "SLIDE", ".OME.TIF"),
        ("big.ome.btf", "big", ".ome.btf"),
        ("archive.tar.gz", "archive.tar", ".gz"),
        ("README", "README", ""),
        (".hidden", ".hidden", ""),
        (".ome.tif", ".ome", ".tif"),
        ("dots.in.name.tif", "dots.in.name", ".tif"),
    ])
    func splitExtension(name: String, stem: String, ext: String) {
        let split = FileOps.splitExtension(name)
        #expect(split.stem == stem)
        #expect(split.ext == ext)
    }

    @Test("stat reports size, regular files and symlinks")
    func stat() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("f.bin", Data(count: 1234))
        let facts = try #require(FileOps.stat(path))
        #expect(facts.size == 1234)
        #expect(facts.isRegular)
        #expect(!facts.isSymlink)
        #expect(facts.mtimeNs > 1_600_000_000 * 1_000_000_000)
        let link = directory.file("link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        let linkFacts = try #require(FileOps.stat(link))
        #expect(linkFacts.isSymlink)
        #expect(!linkFacts.isRegular)
        #expect(FileOps.stat(directory.file("absent")) == nil)
    }

    @Test("createDirectory creates parents and accepts an existing directory")
    func createDirectory() throws {
        let directory = try TemporaryDirectory()
        let nested = directory.file("a/b/c")
        try FileOps.createDirectory(nested)
        try FileOps.createDirectory(nested)
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: nested, isDirectory: &isDirectory) && isDirectory.boolValue)
    }

    @Test("StateLayout puts everything under the state directory")
    func stateLayout() throws {
        let directory = try TemporaryDirectory()
        let layout = StateLayout(stateDirectory: directory.file("state"))
        #expect(layout.catalog == directory.file("state/catalog.sqlite"))
        #expect(layout.runs == directory.file("state/runs"))
        #expect(layout.outbox == directory.file("state/outbox"))
        try layout.createDirectories()
        #expect(try directory.list("state") == ["archive", "failed", "outbox", "runs"])
    }
}
