import Foundation

/// Clears the hidden temporaries (`.<name>.tmp-<pid>-<random>`, `.<name>.tmp-<pid>`) that atomic
/// writes and moves leave behind when the process is killed in the middle of one, in the shared
/// folders the runner does not clean itself: the outbox (one folder per sample), `archive/` and
/// `failed/`. A run directory is cleaned by the runner when its run resumes.
///
/// Only temporaries of processes that are gone are removed: `lmdflow process` or `lmdflow select`
/// may be publishing into the outbox at the same moment.
enum StaleTemporaries {
    /// The process id in a temporary's name, or nil when the name is not one.
    static func writerPID(of name: String) -> Int32? {
        guard name.hasPrefix("."), let marker = name.range(of: ".tmp-", options: .backwards) else { return nil }
        let digits = name[marker.upperBound...].prefix { $0.isNumber }
        return Int32(digits)
    }

    /// Removes stale temporaries directly in `directories` and in their immediate subfolders.
    /// - Parameter isAlive: whether a process id is running (injectable for tests).
    /// - Returns: the paths removed.
    @discardableResult
    static func sweep(_ directories: [String], isAlive: (Int32) -> Bool = processIsAlive) -> [String] {
        var removed: [String] = []
        let files = FileManager.default
        for directory in directories {
            var folders = [directory]
            for name in (try? files.contentsOfDirectory(atPath: directory)) ?? [] where !name.hasPrefix(".") {
                var isDirectory: ObjCBool = false
                let path = "\(directory)/\(name)"
                if files.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { folders.append(path) }
            }
            for folder in folders {
                for name in (try? files.contentsOfDirectory(atPath: folder)) ?? [] {
                    guard let pid = writerPID(of: name), !isAlive(pid) else { continue }
                    if unlink("\(folder)/\(name)") == 0 { removed.append("\(folder)/\(name)") }
                }
            }
        }
        return removed
    }

    /// Whether a process with this id exists (`kill(pid, 0)`; EPERM means it exists).
    static func processIsAlive(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }
}
