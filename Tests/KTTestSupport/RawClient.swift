import Foundation
import Glibc
import KTHTTP

/// Runs blocking work on its own thread so tests never block the cooperative pool.
public func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { c in
        let t = Thread { c.resume(returning: body()) }
        t.start()
    }
}

/// Runs CPU-bound work (simulations) on a thread of its own at the lowest priority (nice 19):
/// on a 2-core machine it must not starve the gateways and control planes other tests start.
public func onBackgroundThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { c in
        let t = Thread {
            // On Linux `who` 0 is the calling thread (each thread has its own nice value).
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
            c.resume(returning: body())
        }
        t.start()
    }
}

/// A blocking HTTP/1.1 client over a raw socket, for exercising framing and timeouts exactly.
/// Every read has a receive timeout so a broken server fails a test instead of hanging it.
public final class RawClient: @unchecked Sendable {
    /// Closed only by `close()` or `deinit`, once: a descriptor closed twice may by then belong to
    /// another thread (a server's epoll descriptor once, which then spun on EINVAL).
    private var fd: Int32
    /// Bytes read since the last complete response (what `readUntilClosed` returns).
    private var raw: [UInt8] = []
    private var parser = HTTPResponseParser()

    /// `timeoutSeconds` is a deadline for a broken server, not a wait: a read returns as soon as
    /// bytes arrive. 30 s by default because CI runs the whole suite on two cores, where a server's
    /// handler can queue behind other suites' work for seconds (5 s once failed a passing test).
    /// `sendTimeoutSeconds`: a send that the peer does not take for this long gives up (tests of
    /// servers that stop reading); 0 waits for ever.
    public init(port: Int, timeoutSeconds: Int = 30, sendTimeoutSeconds: Int = 0) throws {
        // `self.fd` is assigned last: a throw before it skips `deinit`, which would otherwise
        // close the same number a second time — by then perhaps another thread's descriptor.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EMFILE) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if sendTimeoutSeconds > 0 {
            var stv = timeval(tv_sec: sendTimeoutSeconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &stv, socklen_t(MemoryLayout<timeval>.size))
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 { Glibc.close(fd); throw POSIXError(.ECONNREFUSED) }
        self.fd = fd
    }

    deinit { close() }

    /// Closes the connection now (the server sees EOF); later calls do nothing.
    public func close() {
        guard fd >= 0 else { return }
        Glibc.close(fd)
        fd = -1
    }

    public func send(_ text: String) { send(Array(text.utf8)) }
    /// Sends what the peer takes; returns how many bytes that was (less on error or send timeout).
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Int {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return off }
            off += n
        }
        return off
    }

    public func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }
    /// Ends both directions now; unlike `close`, this also wakes a thread blocked sending on it.
    public func shutdownBoth() { shutdown(fd, Int32(SHUT_RDWR)) }

    /// Reads more bytes; false on EOF, error or timeout.
    @discardableResult
    public func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { return false }
        raw.append(contentsOf: chunk[0..<n])
        parser.feed(chunk[0..<n])
        return true
    }

    /// Reads until the server closes; `closed` is false when the receive timeout ran out first.
    public func readToEOF() -> (bytes: [UInt8], closed: Bool) {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { out.append(contentsOf: chunk[0..<n]); continue }
            if n < 0 && errno == EINTR { continue }
            return (out, n == 0 || errno == ECONNRESET)
        }
    }

    /// How the server ended the connection, read after whatever came before it.
    public enum Ending: Sendable, Equatable { case closed, reset, timedOut }

    /// Reads (and drops) until the connection ends: a clean close (FIN), a reset, or nothing
    /// within the receive timeout.
    public func ending() -> Ending {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { continue }
            if n == 0 { return .closed }
            if errno == EINTR { continue }
            return errno == ECONNRESET ? .reset : .timedOut
        }
    }

    /// True when the server closed the connection (EOF) within the timeout.
    public func readUntilClosed() -> [UInt8] {
        while fill() {}
        defer { raw.removeAll() }
        return raw
    }

    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]
        public var chunks: [[UInt8]]
        public var cleanEnd: Bool
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Reads one response with KTHTTP's parser. nil on EOF/timeout before a full head;
    /// `cleanEnd` is false when the body stopped before its framing said it ends.
    public func readResponse() -> Response? {
        var status = 0, headers: [String: String] = [:], body: [UInt8] = [], chunks: [[UInt8]] = []
        while true {
            guard let event = try? parser.next() else { return nil }
            switch event {
            case .head(let s, let h):
                status = s
                headers = h
            case .body(let b):
                body += b
                chunks.append(b)
            case .end:
                parser.reset()
                raw.removeAll()
                return Response(status: status, headers: headers, body: body, chunks: chunks, cleanEnd: true)
            case .needMoreData:
                if fill() { continue }
                if case .end = parser.peerClosed() {
                    return Response(status: status, headers: headers, body: body, chunks: chunks, cleanEnd: true)
                }
                return status == 0 ? nil : Response(status: status, headers: headers, body: body, chunks: chunks, cleanEnd: false)
            }
        }
    }
}

/// Resident memory of a process (VmRSS), in bytes.
public func residentBytes(pid: Int32) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kb = Int(line.split(separator: " ").dropFirst().first ?? "") else { return -1 }
    return kb * 1024
}

/// Raises this process's descriptor soft limit to its hard limit (tests that open thousands).
public func raiseDescriptorLimit() -> Int {
    var rl = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0 else { return -1 }
    rl.rlim_cur = rl.rlim_max
    _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl)
    _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl)
    return Int(rl.rlim_cur)
}

/// Open file descriptors of this process.
public func openFDCount(pid: Int32? = nil) -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid.map(String.init) ?? "self")/fd").count) ?? -1
}

extension RawClient {
    /// A one-shot JSON POST on a fresh connection.
    public static func post(port: Int, path: String, json: String, headers: [String: String] = [:]) -> Response? {
        guard let c = try? RawClient(port: port) else { return nil }
        var head = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        c.send(head + "\r\n" + json)
        return c.readResponse()
    }

    public static func get(port: Int, path: String, headers: [String: String] = [:], timeoutSeconds: Int = 30) -> Response? {
        request(port: port, method: "GET", path: path, headers: headers, timeoutSeconds: timeoutSeconds)
    }

    /// Any method, optional body, on a fresh connection.
    public static func request(port: Int, method: String, path: String, body: String? = nil, headers: [String: String] = [:],
                               timeoutSeconds: Int = 30) -> Response? {
        guard let c = try? RawClient(port: port, timeoutSeconds: timeoutSeconds) else { return nil }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        c.send(head + "\r\n" + (body ?? ""))
        return c.readResponse()
    }
}

/// The same one-shot requests for async tests: the blocking socket calls run on a thread of their
/// own, so a test waiting for a reply never holds one of the cooperative pool's threads.
extension RawClient {
    public static func post(port: Int, path: String, json: String, headers: [String: String] = [:]) async -> Response? {
        await onThread { post(port: port, path: path, json: json, headers: headers) }
    }

    public static func get(port: Int, path: String, headers: [String: String] = [:], timeoutSeconds: Int = 30) async -> Response? {
        await onThread { get(port: port, path: path, headers: headers, timeoutSeconds: timeoutSeconds) }
    }

    public static func request(port: Int, method: String, path: String, body: String? = nil, headers: [String: String] = [:]) async -> Response? {
        await onThread { request(port: port, method: method, path: path, body: body, headers: headers) }
    }
}
