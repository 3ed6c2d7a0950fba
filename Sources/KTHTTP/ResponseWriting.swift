/// What a handler writes its answer to: the connection's `HTTPResponseWriter`, or an adapter
/// that reshapes the answer on its way out (the gateway's Anthropic `/v1/messages` speaks chat
/// completions inside and the Messages API to its client).
public protocol ResponseWriting: Sendable {
    var isClientGone: Bool { get }
    func respond(status: Int, headers: HTTPHeaders, body: [UInt8])
    func startStream(status: Int, headers: HTTPHeaders)
    /// Suspends while the client is slower than the producer (see `HTTPResponseWriter`).
    func writeChunk(_ body: [UInt8]) async
    func endStream()
}

extension HTTPResponseWriter: ResponseWriting {
    public func writeChunk(_ body: [UInt8]) async { await writeChunk(body[...]) }
}
