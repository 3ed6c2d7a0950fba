import Foundation

/// A request to `/v1/messages` or `/v1/responses` that cannot be translated: what is wrong, and where.
struct InboundRequestInvalid: Error { var message: String }

/// How an answer in chat-completions shape is written in another API's shape: the whole body
/// (answer or error), and a stream's SSE bytes as they come.
protocol AnswerReshaping: Sendable {
    init()
    func body(status: Int, _ body: [UInt8], model: String) -> [UInt8]
    mutating func feed(_ bytes: [UInt8], model: String) -> [UInt8]
}
