/// A parsed HTTP/1.1 request with its whole body.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The request target as sent, e.g. `/v1/models?x=1`.
    public var target: String
    public var headers: HTTPHeaders
    public var body: [UInt8]
    public var keepAlive: Bool
    /// Loopback peers may use admin endpoints without a token.
    public var peerIsLoopback: Bool
    /// Arrived over TLS.
    public var isTLS = false
    /// Sent as HTTP/1.0: its answer may not be chunked, and keep-alive must be announced.
    public var isHTTP10 = false
    /// The names (DNS/URI SANs, then the CN) of the client certificate the TLS handshake verified;
    /// empty without one.
    public var peerCertificateNames: [String] = []

    public init(method: String, target: String, headers: HTTPHeaders, body: [UInt8], keepAlive: Bool = true, peerIsLoopback: Bool = true) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.keepAlive = keepAlive
        self.peerIsLoopback = peerIsLoopback
    }

    public var path: Substring {
        if let q = target.firstIndex(of: "?") { return target[..<q] }
        return target[...]
    }

    /// Query parameters, percent-decoded.
    public var query: [String: String] {
        guard let q = target.firstIndex(of: "?") else { return [:] }
        var out: [String: String] = [:]
        for part in target[target.index(after: q)...].split(separator: "&") {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(kv[0]).removingPercentEncoding ?? String(kv[0])
            let value = kv.count > 1 ? (String(kv[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(kv[1])) : ""
            out[key] = value
        }
        return out
    }
}

/// Header fields in order; names compared case-insensitively (stored lower-cased).
public struct HTTPHeaders: Sendable, Sequence {
    public private(set) var fields: [(name: String, value: String)] = []

    public init() {}
    public init(_ pairs: [(String, String)]) {
        for (n, v) in pairs { add(n, v) }
    }

    public mutating func add(_ name: String, _ value: String) { fields.append((name.lowercased(), value)) }

    public mutating func set(_ name: String, _ value: String) {
        let lower = name.lowercased()
        fields.removeAll { $0.name == lower }
        fields.append((lower, value))
    }

    public subscript(name: String) -> String? {
        let lower = name.lowercased()
        return fields.first { $0.name == lower }?.value
    }

    public func values(_ name: String) -> [String] {
        let lower = name.lowercased()
        return fields.filter { $0.name == lower }.map(\.value)
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }
}

import Foundation
