import KTHTTP
import KTModel

/// One HTTP request to a provider target.
public struct UpstreamRequest: Sendable {
    public var url: String
    public var method: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    public var timeoutMs: Int
    public var stream: Bool
    /// The transfer stops as soon as the body passes this (max_response_bytes), not after it.
    public var maxResponseBytes: Int
    /// The consumer reports what it passed on (`UpstreamResponse.consumed`), and a stream pauses
    /// while more than about a megabyte waits for it. Off for consumers that read to the end.
    public var pausesForConsumer = false
    /// HTTPS trust and client certificate (nil: the system trust store, no client certificate).
    public var tls: TLSClientOptions?

    public init(url: String, method: String = "POST", headers: [(String, String)], body: [UInt8], timeoutMs: Int, stream: Bool,
                maxResponseBytes: Int = 1 << 30) {
        self.maxResponseBytes = maxResponseBytes
        self.url = url
        self.method = method
        self.headers = headers
        self.body = body
        self.timeoutMs = timeoutMs
        self.stream = stream
    }
}

/// The head of an upstream response with its body still arriving.
public struct UpstreamResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: AsyncThrowingStream<[UInt8], any Error>
    /// Called by the consumer with the size of each chunk it has passed on (written to its
    /// client); a transport that pauses a fast upstream resumes it from here.
    public var consumed: @Sendable (Int) -> Void

    public init(status: Int, headers: [(String, String)], body: AsyncThrowingStream<[UInt8], any Error>,
                consumed: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.status = status
        self.headers = headers
        self.body = body
        self.consumed = consumed
    }

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.0.lowercased() == lower }?.1
    }

    /// Collects the whole body, refusing more than `limit` bytes.
    public func collect(limit: Int) async throws -> [UInt8] {
        var out: [UInt8] = []
        for try await chunk in body {
            out.append(contentsOf: chunk)
            if out.count > limit { throw UpstreamError(.responseTooLarge, "upstream response is larger than \(limit) bytes") }
            consumed(chunk.count)
        }
        return out
    }
}

/// Why an upstream attempt failed, classified the way fallback triggers are.
public struct UpstreamError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case connectError = "connect_error"
        case timeout
        case protocolError = "protocol_error"
        case responseTooLarge = "response_too_large"
        case cancelled
    }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { "\(kind.rawValue): \(message)" }
}

/// Sends requests to a provider over some transport (libcurl, or in-process for `mock`).
public protocol UpstreamTransport: Sendable {
    func send(_ request: UpstreamRequest) async throws(UpstreamError) -> UpstreamResponse
}
