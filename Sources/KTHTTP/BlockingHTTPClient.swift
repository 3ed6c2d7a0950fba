import Foundation
import Glibc

/// A small blocking HTTP/1.1 client with keep-alive, for load generation on dedicated threads
/// (`kt bench`) and simple CLI calls. Never use it from the cooperative pool.
public final class BlockingHTTPClient {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]
        /// Seconds from sending the request to the first body byte.
        public var timeToFirstByte: Double
        /// Seconds from sending the request to the end of the body.
        public var total: Double
    }

    public struct ClientError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Where requests go: an `http://` or `https://` URL taken apart.
    public struct Target: Sendable {
        public var host: String
        public var port: Int
        public var path: String
        /// HTTPS, verified against `serverName`.
        public var secure: Bool
        /// The host as written (the name the certificate must carry; `host` may be its address).
        public var serverName: String
    }

    let host: String
    let port: Int
    let timeoutSeconds: Int
    let tls: TLSClientContext?
    let serverName: String
    private var fd: Int32 = -1
    private var session: TLSSession?
    private var parser = HTTPResponseParser()

    /// `tls`: speak HTTPS, verifying the server's certificate for `serverName` (default `host`).
    public init(host: String, port: Int, timeoutSeconds: Int = 60, tls: TLSClientContext? = nil, serverName: String? = nil) {
        self.host = host
        self.port = port
        self.timeoutSeconds = timeoutSeconds
        self.tls = tls
        self.serverName = serverName ?? host
    }

    deinit { disconnect() }

    private func disconnect() {
        session?.shutdown()
        session = nil
        if fd >= 0 { close(fd) }
        fd = -1
    }

    /// Parses `http(s)://host:port/path` into its parts.
    public static func split(url: String) throws(ClientError) -> Target {
        guard let c = URLComponents(string: url), let scheme = c.scheme, let host = c.host else { throw ClientError(message: "'\(url)' is not a URL") }
        guard scheme == "http" || scheme == "https" else { throw ClientError(message: "only http:// and https:// targets are supported (got \(scheme)://)") }
        let path = c.percentEncodedPath.isEmpty ? "/" : c.percentEncodedPath
        let secure = scheme == "https"
        return Target(host: host == "localhost" ? "127.0.0.1" : host, port: c.port ?? (secure ? 443 : 80),
                      path: path + (c.percentEncodedQuery.map { "?" + $0 } ?? ""), secure: secure, serverName: host)
    }

    private func connect() throws(ClientError) {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let ai = res else { throw ClientError(message: "cannot resolve \(host)") }
        defer { freeaddrinfo(res) }
        let s = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw ClientError(message: "socket: errno \(errno)") }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        guard Glibc.connect(s, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 else {
            let e = errno
            close(s)
            throw ClientError(message: "cannot connect to \(host):\(port): \(String(cString: strerror(e)))")
        }
        fd = s
        parser = HTTPResponseParser()
        if let tls {
            guard let session = TLSSession(client: tls, fd: s, host: serverName) else { disconnect(); throw ClientError(message: "cannot start TLS") }
            switch session.handshake() {
            case .bytes:
                self.session = session
            case .wantRead, .wantWrite:
                disconnect()
                throw ClientError(message: "TLS handshake with \(serverName):\(port) timed out after \(timeoutSeconds)s")
            case .closed, .failed:
                let reason = session.errorText
                disconnect()
                throw ClientError(message: "TLS handshake with \(serverName):\(port) failed: \(reason); \(TLSClientOptions.advice(forReason: reason))")
            }
        }
    }

    /// send(2), or through the TLS session; bytes sent, or -1.
    private func write(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard let session else { return send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
        if case .bytes(let n) = session.write(bytes) { return n }
        return -1
    }

    /// recv(2), or through the TLS session: bytes read, 0 at the end, -1 on error (errno EAGAIN: timeout).
    private func read(_ buf: UnsafeMutableRawBufferPointer) -> Int {
        guard let session else { return recv(fd, buf.baseAddress, buf.count, 0) }
        switch session.read(buf) {
        case .bytes(let n): return n
        case .closed: return 0
        case .wantRead, .wantWrite: errno = EAGAIN; return -1
        case .failed: errno = EIO; return -1
        }
    }

    /// Sends one request and reads its response; reconnects once if a kept-alive connection was closed.
    public func request(method: String, path: String, headers: [(String, String)] = [], body: [UInt8] = [],
                        onBody: ((ArraySlice<UInt8>) -> Void)? = nil) throws(ClientError) -> Response {
        let reused = fd >= 0
        do {
            return try attempt(method: method, path: path, headers: headers, body: body, onBody: onBody)
        } catch {
            disconnect()
            // Only a kept-alive connection the server may have closed meanwhile earns a retry.
            guard reused else { throw error }
            return try attempt(method: method, path: path, headers: headers, body: body, onBody: onBody)
        }
    }

    private func attempt(method: String, path: String, headers: [(String, String)], body: [UInt8],
                         onBody: ((ArraySlice<UInt8>) -> Void)?) throws(ClientError) -> Response {
        if fd < 0 { try connect() }
        var out = Array("\(method) \(path) HTTP/1.1\r\nhost: \(host):\(port)\r\n".utf8)
        for (n, v) in headers { out += Array("\(n): \(v)\r\n".utf8) }
        if !body.isEmpty || method == "POST" { out += Array("content-length: \(body.count)\r\n".utf8) }
        out += Array("\r\n".utf8)
        out += body
        let start = DispatchTime.now().uptimeNanoseconds
        var sent = 0
        while sent < out.count {
            let n = out.withUnsafeBytes { write(UnsafeRawBufferPointer(rebasing: $0[sent...])) }
            if n <= 0 { throw ClientError(message: "send failed: errno \(errno)") }
            sent += n
        }
        parser.expectsNoBody = method == "HEAD"
        var status = 0, respHeaders: [String: String] = [:], respBody: [UInt8] = []
        var ttfb = 0.0
        var buf = [UInt8](repeating: 0, count: 65_536)
        outer: while true {
            let event: HTTPResponseParser.Event
            do { event = try parser.next() } catch { throw ClientError(message: error.message) }
            switch event {
            case .head(let s, let h):
                status = s
                respHeaders = h
            case .body(let b):
                if ttfb == 0 { ttfb = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
                if let onBody { onBody(b[...]) } else { respBody += b }
            case .end:
                break outer
            case .needMoreData:
                let n = buf.withUnsafeMutableBytes { read($0) }
                if n == 0 {
                    if case .end = parser.peerClosed() { break outer }
                    throw ClientError(message: "connection closed before the response ended")
                }
                if n < 0 { throw ClientError(message: errno == EAGAIN ? "timed out after \(timeoutSeconds)s" : "recv failed: errno \(errno)") }
                parser.feed(buf[0..<n])
            }
        }
        parser.reset()
        if respHeaders["connection"]?.lowercased() == "close" { disconnect() }
        let total = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Response(status: status, headers: respHeaders, body: respBody, timeToFirstByte: ttfb == 0 ? total : ttfb, total: total)
    }
}
