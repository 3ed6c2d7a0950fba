import Foundation
import Synchronization
import KTHTTP
import KTModel

/// A request to `/v1/messages` or `/v1/responses` that cannot be translated: what is wrong, and where.
struct InboundRequestInvalid: Error { var message: String }

/// How an answer in chat-completions shape is written in another API's shape: the whole body
/// (answer or error), and a stream's SSE bytes as they come.
protocol AnswerReshaping: Sendable {
    init()
    func body(status: Int, _ body: [UInt8], model: String) -> [UInt8]
    mutating func feed(_ bytes: [UInt8], model: String) -> [UInt8]
}

/// A `ResponseWriting` that reshapes what the chat-completions proxy writes (the gateway's
/// `/v1/messages` and `/v1/responses`): headers and status pass through, bodies and stream
/// events are rewritten.
final class ReshapingWriter<Shape: AnswerReshaping>: ResponseWriting {
    let inner: any ResponseWriting
    /// The model the client asked for (named in every answer), set once the request is parsed.
    let model = Mutex("")
    private let shape = Mutex(Shape())

    init(inner: any ResponseWriting) {
        self.inner = inner
    }

    var isClientGone: Bool { inner.isClientGone }

    func respond(status: Int, headers: HTTPHeaders, body: [UInt8]) {
        let out = shape.withLock { $0.body(status: status, body, model: model.withLock { $0 }) }
        var h = HTTPHeaders()
        for (name, value) in headers where name.lowercased() != "content-type" { h.add(name, value) }
        h.add("content-type", "application/json")
        inner.respond(status: status, headers: h, body: out)
    }

    func startStream(status: Int, headers: HTTPHeaders) { inner.startStream(status: status, headers: headers) }

    func writeChunk(_ body: [UInt8]) async {
        let name = model.withLock { $0 }
        let out = shape.withLock { $0.feed(body, model: name) }
        if !out.isEmpty { await inner.writeChunk(out) }
    }

    func endStream() { inner.endStream() }
}
