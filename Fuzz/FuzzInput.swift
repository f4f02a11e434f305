// The readers work on paths (pread), so each input is written to a file in /dev/shm first.
import Foundation

enum FuzzInput {
    static let path = "/dev/shm/lmdflow-fuzz-\(getpid())"

    static func withFile(_ data: UnsafePointer<UInt8>?, _ size: Int, _ body: (String) -> Void) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { return }
        if let data, size > 0 { _ = write(fd, data, size) }
        close(fd)
        body(path)
    }
}
