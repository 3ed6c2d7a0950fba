import CKTTLS
import Foundation

/// A TLS problem, with what to fix ("cannot load the private key …: bad decrypt").
public struct TLSError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A server's certificate, key and (for mutual TLS) client CA, loaded into one OpenSSL context:
/// TLS 1.2 and 1.3 only, modern AEAD suites, ALPN http/1.1, session resumption. Immutable once
/// loaded; a certificate reload builds a new one and swaps it in (sessions keep the old one alive).
public final class TLSServerContext: Sendable {
    public struct Files: Sendable, Equatable {
        public var certificate: String
        public var key: String
        /// With it, clients must present a certificate signed by this CA.
        public var clientCA: String?
        public init(certificate: String, key: String, clientCA: String? = nil) {
            self.certificate = certificate
            self.key = key
            self.clientCA = clientCA
        }
    }

    public let files: Files
    nonisolated(unsafe) let raw: UnsafeMutableRawPointer
    public var requiresClientCertificate: Bool { files.clientCA != nil }

    public init(_ files: Files) throws(TLSError) {
        var err = [CChar](repeating: 0, count: 1024)
        guard let ctx = kt_tls_server_ctx_new(files.certificate, files.key, files.clientCA, &err, err.count) else {
            throw TLSError(Self.text(err))
        }
        self.files = files
        self.raw = ctx
    }

    deinit { kt_tls_ctx_free(raw) }

    /// A NUL-terminated C buffer as a String.
    static func text(_ buf: [CChar]) -> String {
        String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// What a TLS client trusts and presents: the system store plus an optional private CA
/// (`KEEPTRUSTS_CA_FILE`), and a client certificate for mutual TLS.
public final class TLSClientContext: Sendable {
    nonisolated(unsafe) let raw: UnsafeMutableRawPointer

    public init(caFile: String?, certificate: String? = nil, key: String? = nil) throws(TLSError) {
        var err = [CChar](repeating: 0, count: 1024)
        guard let ctx = kt_tls_client_ctx_new(caFile, certificate, key, &err, err.count) else {
            throw TLSError(TLSServerContext.text(err))
        }
        raw = ctx
    }

    deinit { kt_tls_ctx_free(raw) }
}

/// One TLS session on a socket. Not thread-safe: its owner (a connection on the loop thread,
/// or one blocking client) is its only user.
final class TLSSession {
    static func text(_ buf: [CChar]) -> String { TLSServerContext.text(buf) }

    enum IO: Equatable {
        case bytes(Int)
        case wantRead
        case wantWrite
        /// close_notify or end of stream.
        case closed
        case failed
    }

    enum Failure: String, CaseIterable, Sendable {
        case plainHTTP = "plain_http"
        case protocolVersion = "protocol"
        case clientCertificate = "client_certificate"
        case eof
        case timeout
        case other
    }

    let ssl: UnsafeMutableRawPointer
    /// Keeps the context alive as long as the session (OpenSSL counts its own reference too).
    private let context: AnyObject

    init?(server: TLSServerContext, fd: Int32) {
        guard let ssl = kt_tls_server_session(server.raw, fd) else { return nil }
        self.ssl = ssl
        self.context = server
    }

    init?(client: TLSClientContext, fd: Int32, host: String) {
        guard let ssl = kt_tls_client_session(client.raw, fd, host) else { return nil }
        self.ssl = ssl
        self.context = client
    }

    deinit { kt_tls_session_free(ssl) }

    private static func io(_ rc: Int32) -> IO {
        switch rc {
        case let n where n > 0: return .bytes(Int(n))
        case KT_TLS_WANT_READ: return .wantRead
        case KT_TLS_WANT_WRITE: return .wantWrite
        case KT_TLS_CLOSED: return .closed
        default: return .failed
        }
    }

    func handshake() -> IO { Self.io(kt_tls_handshake(ssl)) }

    func read(_ buf: UnsafeMutableRawBufferPointer) -> IO {
        Self.io(kt_tls_read(ssl, buf.baseAddress, Int32(min(buf.count, Int(Int32.max)))))
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> IO {
        Self.io(kt_tls_write(ssl, bytes.baseAddress, Int32(min(bytes.count, 1 << 20))))
    }

    /// Decrypted or buffered bytes OpenSSL holds that epoll cannot see.
    var hasPending: Bool { kt_tls_pending(ssl) != 0 }
    var handshakeDone: Bool { kt_tls_handshake_done(ssl) != 0 }
    var resumed: Bool { kt_tls_resumed(ssl) != 0 }
    var version: String { String(cString: kt_tls_version(ssl)) }

    var failure: Failure {
        switch kt_tls_failure_kind(ssl) {
        case KT_TLS_FAIL_PLAIN_HTTP: return .plainHTTP
        case KT_TLS_FAIL_PROTOCOL: return .protocolVersion
        case KT_TLS_FAIL_CLIENT_CERT: return .clientCertificate
        case KT_TLS_FAIL_EOF: return .eof
        default: return .other
        }
    }

    var errorText: String {
        var buf = [CChar](repeating: 0, count: 512)
        kt_tls_error_text(ssl, &buf, buf.count)
        return Self.text(buf)
    }

    var peerNames: [String] {
        var buf = [CChar](repeating: 0, count: 4096)
        guard kt_tls_peer_names(ssl, &buf, buf.count) > 0 else { return [] }
        var seen = Set<String>()
        // A certificate usually repeats its CN as a SAN; each name once, SANs first.
        return Self.text(buf).split(separator: "\n").map(String.init).filter { seen.insert($0).inserted }
    }

    var alpn: String {
        var buf = [CChar](repeating: 0, count: 64)
        kt_tls_alpn(ssl, &buf, buf.count)
        return Self.text(buf)
    }

    func shutdown() { kt_tls_shutdown(ssl) }
}
