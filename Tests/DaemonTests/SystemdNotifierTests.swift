import Foundation
import LMDTestSupport
import Testing
@testable import Daemon

#if canImport(Glibc)
import Glibc
#endif

/// An AF_UNIX datagram socket the test binds, standing in for systemd's notify socket.
final class NotifySocket {
    let fd: Int32
    /// The value for `NOTIFY_SOCKET`.
    let address: String

    /// Binds a socket at `path`, or in the abstract namespace when `path` starts with `@`.
    init(address: String) throws {
        self.address = address
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        var sockaddr = sockaddr_un()
        sockaddr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(address.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &sockaddr.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let result = withUnsafePointer(to: &sockaddr) {
            $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            throw POSIXError(.init(rawValue: code) ?? .EIO)
        }
    }

    deinit { close(fd) }

    /// The next datagram, or nil after the receive timeout.
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, 0)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }
}

@Suite("SystemdNotifier")
struct SystemdNotifierTests {
    @Test("notify delivers the message to a socket path")
    func notifyPath() throws {
        let directory = try TemporaryDirectory()
        let socket = try NotifySocket(address: directory.file("notify.sock"))
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.address])
        #expect(notifier.socketPath == socket.address)
        #expect(notifier.notify("READY=1"))
        #expect(socket.receive() == "READY=1")
        #expect(notifier.notify("STATUS=watching 2 folders\nWATCHDOG=1"))
        #expect(socket.receive() == "STATUS=watching 2 folders\nWATCHDOG=1")
    }

    @Test("notify delivers the message to an abstract socket (@name)")
    func notifyAbstract() throws {
        let socket = try NotifySocket(address: "@lmdflow-test-\(UUID().uuidString)")
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.address])
        #expect(notifier.notify("READY=1"))
        #expect(socket.receive() == "READY=1")
    }

    @Test("without NOTIFY_SOCKET nothing is sent")
    func noSocket() {
        let unset = SystemdNotifier(environment: [:])
        #expect(unset.socketPath == nil)
        #expect(!unset.notify("READY=1"))
        let empty = SystemdNotifier(environment: ["NOTIFY_SOCKET": ""])
        #expect(empty.socketPath == nil)
        #expect(!empty.notify("READY=1"))
    }

    @Test("a socket that does not exist, or a path too long, returns false")
    func unreachableSocket() throws {
        let directory = try TemporaryDirectory()
        #expect(!SystemdNotifier(environment: ["NOTIFY_SOCKET": directory.file("absent.sock")]).notify("READY=1"))
        let long = "/" + String(repeating: "x", count: 200)
        #expect(!SystemdNotifier(environment: ["NOTIFY_SOCKET": long]).notify("READY=1"))
    }

    @Test("WATCHDOG_USEC gives the watchdog interval for this process only")
    func watchdog() {
        let mine = "\(getpid())"
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "500000"]).watchdogInterval == .milliseconds(500))
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "500000", "WATCHDOG_PID": mine]).watchdogInterval
            == .seconds(0.5))
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "500000", "WATCHDOG_PID": "\(getpid() + 1)"])
            .watchdogInterval == nil)
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "500000", "WATCHDOG_PID": "1"]).watchdogInterval
            == nil)
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "0"]).watchdogInterval == nil)
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "soon"]).watchdogInterval == nil)
        #expect(SystemdNotifier(environment: [:]).watchdogInterval == nil)
    }
}
