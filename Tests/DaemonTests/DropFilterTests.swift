import LMDTestSupport
import Testing
@testable import Daemon

@Suite("DropFilter")
struct DropFilterTests {
    static let extensions = DaemonConfig().extensions

    @Test("hidden and editor/lock names are temporary", arguments: [
        ".slide.nd2", ".DS_Store", "~$slide.nd2", "#slide.nd2#", ".slide.nd2.abc123",
    ])
    func hidden(name: String) {
        #expect(DropFilter.classify(name, extensions: Self.extensions) == .temporary)
    }

    @Test("files still being copied are temporary", arguments: [
        "slide.nd2.part", "slide.nd2.crdownload", "slide.nd2~", "slide.nd2.tmp", "slide.nd2.PART",
        "slide.tif.partial", "slide.nd2.filepart", "slide.nd2.lock", "slide.nd2.!sync",
    ])
    func temporary(name: String) {
        #expect(DropFilter.classify(name, extensions: Self.extensions) == .temporary)
    }

    @Test("sidecars are recognised", arguments: [
        "slide.calibration.json", "slide.select.yml", "slide.select.yaml", "x.mask.tif", "x.MASK.TIFF",
        "slide.error.txt", "slide.stitching.json", "notes.json",
    ])
    func sidecars(name: String) {
        #expect(DropFilter.classify(name, extensions: Self.extensions) == .sidecar)
    }

    @Test("accepted extensions are inputs, case-insensitively", arguments: [
        "slide.nd2", "X.ND2", "a.ome.tif", "B.OME.TIFF", "big.btf", "scan 01.Tif", "name.with.dots.nd2",
    ])
    func inputs(name: String) {
        #expect(DropFilter.classify(name, extensions: Self.extensions) == .input)
    }

    @Test("other names are unsupported, with their extension")
    func unsupported() {
        #expect(DropFilter.classify("readme.txt", extensions: Self.extensions) == .unsupported("txt"))
        #expect(DropFilter.classify("Photo.JPG", extensions: Self.extensions) == .unsupported("jpg"))
        #expect(DropFilter.classify("README", extensions: Self.extensions) == .unsupported(""))
        #expect(DropFilter.classify("slide.czi", extensions: Self.extensions) == .unsupported("czi"))
    }

    @Test("the accepted extensions come from the configuration")
    func configuredExtensions() {
        #expect(DropFilter.classify("slide.czi", extensions: ["czi"]) == .input)
        #expect(DropFilter.classify("slide.nd2", extensions: ["czi"]) == .unsupported("nd2"))
        // Temporary and sidecar rules apply whatever the extensions.
        #expect(DropFilter.classify("slide.czi.part", extensions: ["czi", "part"]) == .temporary)
    }
}
