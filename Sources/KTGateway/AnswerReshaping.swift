import Foundation
import KTModel

/// A request to `/v1/messages` or `/v1/responses` that cannot be translated: what is wrong, and where.
struct InboundRequestInvalid: Error {
    var message: String

    /// A request body read strictly (RFC 8259: no key given twice, no trailing comma — what the
    /// chat path refuses too), then as Foundation objects for the translation.
    static func jsonObject(_ body: [UInt8]) throws(InboundRequestInvalid) -> [String: Any] {
        guard !body.isEmpty else { throw InboundRequestInvalid(message: "the request body is empty; expected a JSON object") }
        do throws(JSONValue.ParseError) { _ = try JSONValue.parse(body, maxDepth: 256) } catch {
            throw InboundRequestInvalid(message: "the request body is not valid JSON: \(error.description)")
        }
        guard let any = try? JSONSerialization.jsonObject(with: Data(body)) else { throw InboundRequestInvalid(message: "the request body is not valid JSON") }
        guard let object = any as? [String: Any] else { throw InboundRequestInvalid(message: "the request body must be a JSON object") }
        return object
    }
}

/// How an answer in chat-completions shape is written in another API's shape: the whole body
/// (answer or error), and a stream's SSE bytes as they come.
protocol AnswerReshaping: Sendable {
    init()
    func body(status: Int, _ body: [UInt8], model: String) -> [UInt8]
    mutating func feed(_ bytes: [UInt8], model: String) -> [UInt8]
}
