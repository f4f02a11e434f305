// libFuzzer harness for the ND2 reader (built by Fuzz/run.sh, not by SwiftPM).
import Foundation
import MicroscopyIO

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzND2(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzInput.withFile(data, size) { path in ND2Fuzz.run(path: path) }
    return 0
}
