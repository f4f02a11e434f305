// libFuzzer harness for the TIFF/OME-TIFF reader (built by Fuzz/run.sh, not by SwiftPM).
import Foundation
import MicroscopyIO

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTIFF(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzInput.withFile(data, size) { path in TIFFFuzz.run(path: path) }
    return 0
}
