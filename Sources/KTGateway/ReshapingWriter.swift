import Foundation
import Synchronization
import KTHTTP
import KTModel

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

/// The Messages API for an Anthropic SDK client: a chat.completion becomes a message, the
/// OpenAI error envelope Anthropic's (a policy block stays a 409 and keeps `x-should-retry:
/// false`), and a stream of chat.completion.chunk events becomes `message_start`,
/// `content_block_start|delta|stop`, `message_delta`, `message_stop` (an error event mid-stream
/// becomes Anthropic's `error` event).
typealias AnthropicMessagesWriter = ReshapingWriter<AnthropicMessagesWriterShape>
