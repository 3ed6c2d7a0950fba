import Foundation
import KTModel

// libFuzzer target: the gateway's /v1/messages and /v1/responses. Arbitrary request bodies go
// through both request translators (a clear error or a chat request, never a trap); arbitrary
// upstream bytes, cut where the first byte says, go through both stream reshapers, and feeding
// in two pieces must give what feeding at once gives.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzInboundAPIs(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = FuzzInput(data, size)
    func check(_ chat: [String: Any]) {
        fuzzCheck(chat["model"] is String && chat["messages"] is [Any], "a translated request without model or messages")
        fuzzCheck(FoundationJSON.bytes(chat) != nil, "a translated request that cannot be serialised")
    }
    do throws(InboundRequestInvalid) { check(try AnthropicInbound.chatRequest(input.bytes)) } catch { fuzzCheck(!error.message.isEmpty, "an empty error message") }
    do throws(InboundRequestInvalid) { check(try ResponsesInbound.chatRequest(input.bytes)) } catch { fuzzCheck(!error.message.isEmpty, "an empty error message") }
    let (body, at) = input.split
    func reshape<S: AnswerReshaping>(_ type: S.Type) {
        var whole = S(), pieces = S()
        let once = whole.feed(body, model: "m")
        let twice = pieces.feed(Array(body[..<at]), model: "m") + pieces.feed(Array(body[at...]), model: "m")
        fuzzCheck(once.count == twice.count, "\(S.self): split-dependent output (\(once.count) vs \(twice.count) bytes)")
        _ = whole.body(status: 200, body, model: "m")
        _ = whole.body(status: 409, body, model: "m")
    }
    reshape(AnthropicMessagesWriterShape.self)
    reshape(ResponsesAPIShape.self)
    return 0
}
