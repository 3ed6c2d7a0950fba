import Foundation
import KTModel

extension AnthropicMessagesWriterShape {
    func body(status: Int, _ body: [UInt8], model: String) -> [UInt8] {
        let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        if (200..<300).contains(status), let object, object["choices"] != nil {
            return FoundationJSON.bytes(AnthropicInbound.message(object, model: model)) ?? body
        }
        if status >= 400 {
            let message = (object?["error"] as? [String: Any])?["message"] as? String ?? String(decoding: body.prefix(300), as: UTF8.self)
            return AnthropicInbound.error(status: status, message: message)
        }
        return body
    }
}

/// Chat-completion chunks in, Messages API events out.
struct AnthropicMessagesWriterShape: AnswerReshaping {
    var buffer: [UInt8] = []
    var started = false
    /// The content block being written: its index and whether it is text.
    var open: (index: Int, text: Bool)?
    var nextIndex = 0
    /// Tool calls by their index in the chunks → content block index.
    var toolBlocks: [Int: Int] = [:]
    var stopReason: String?
    var outputTokens = 0
    var inputTokens = 0
    var finished = false

    static func event(_ name: String, _ data: [String: Any]) -> [UInt8] {
        Array("event: \(name)\ndata: ".utf8) + (FoundationJSON.bytes(data, sortedKeys: true) ?? Array("{}".utf8)) + Array("\n\n".utf8)
    }

    mutating func feed(_ bytes: [UInt8], model: String) -> [UInt8] {
        SSEFraming.payloads(&buffer, adding: bytes).reduce(into: []) { $0 += translate($1, model: model) }
    }

    mutating func start(_ id: Any?, model: String) -> [UInt8] {
        guard !started else { return [] }
        started = true
        return Self.event("message_start", ["type": "message_start", "message": [
            "id": AnthropicInbound.messageID(id), "type": "message", "role": "assistant", "model": model, "content": [[String: Any]](),
            "stop_reason": NSNull(), "stop_sequence": NSNull(), "usage": ["input_tokens": 0, "output_tokens": 0]] as [String: Any]])
    }

    mutating func closeBlock() -> [UInt8] {
        guard let o = open else { return [] }
        open = nil
        return Self.event("content_block_stop", ["type": "content_block_stop", "index": o.index])
    }

    mutating func translate(_ payload: [UInt8], model: String) -> [UInt8] {
        guard !finished, !payload.isEmpty else { return [] }
        if payload == Array("[DONE]".utf8) {
            finished = true
            var out = start(nil, model: model) + closeBlock()
            out += Self.event("message_delta", ["type": "message_delta", "delta": ["stop_reason": stopReason.map { $0 as Any } ?? NSNull(), "stop_sequence": NSNull()] as [String: Any],
                                                "usage": ["output_tokens": outputTokens]])
            out += Self.event("message_stop", ["type": "message_stop"])
            return out
        }
        guard let chunk = (try? JSONSerialization.jsonObject(with: Data(payload))) as? [String: Any] else { return [] }
        if let e = chunk["error"] as? [String: Any] {
            // The stream ends here: a policy block or an upstream failure, never a complete answer.
            finished = true
            let message = e["message"] as? String ?? "the stream failed"
            let type = e["type"] as? String == "policy_violation" ? "invalid_request_error" : "api_error"
            return Self.event("error", ["type": "error", "error": ["type": type, "message": message]])
        }
        var out = start(chunk["id"], model: model)
        if let usage = chunk["usage"] as? [String: Any] {
            outputTokens = AnthropicTranslation.tokens(usage["completion_tokens"])
            inputTokens = AnthropicTranslation.tokens(usage["prompt_tokens"])
        }
        for choice in (chunk["choices"] as? [[String: Any]]) ?? [] {
            let delta = choice["delta"] as? [String: Any] ?? [:]
            if let text = delta["content"] as? String, !text.isEmpty {
                if open?.text != true {
                    out += closeBlock()
                    open = (nextIndex, true)
                    out += Self.event("content_block_start", ["type": "content_block_start", "index": nextIndex, "content_block": ["type": "text", "text": ""]])
                    nextIndex += 1
                }
                out += Self.event("content_block_delta", ["type": "content_block_delta", "index": open!.index, "delta": ["type": "text_delta", "text": text]])
            }
            for call in (delta["tool_calls"] as? [[String: Any]]) ?? [] {
                let k = call["index"] as? Int ?? 0
                let f = call["function"] as? [String: Any] ?? [:]
                if toolBlocks[k] == nil {
                    out += closeBlock()
                    toolBlocks[k] = nextIndex
                    open = (nextIndex, false)
                    out += Self.event("content_block_start", ["type": "content_block_start", "index": nextIndex, "content_block": [
                        "type": "tool_use", "id": call["id"] as? String ?? "toolu_\(k)", "name": f["name"] as? String ?? "tool", "input": [String: Any]()] as [String: Any]])
                    nextIndex += 1
                }
                if let args = f["arguments"] as? String, !args.isEmpty, let index = toolBlocks[k] {
                    out += Self.event("content_block_delta", ["type": "content_block_delta", "index": index, "delta": ["type": "input_json_delta", "partial_json": args]])
                }
            }
            if let finish = choice["finish_reason"], !(finish is NSNull) { stopReason = AnthropicInbound.stopReason(finish) as? String }
        }
        return out
    }
}
