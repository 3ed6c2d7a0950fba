import Foundation

/// Anthropic's stream events (`message_start`, `content_block_*`, `message_delta`,
/// `message_stop`) as OpenAI `chat.completion.chunk` events, incrementally.
struct AnthropicStreamTranslator {
    private var buffer: [UInt8] = []
    private var id = "msg"
    private var model = ""
    private let created: Int
    private var inputTokens = 0
    /// Content block index → tool call index (tool_use blocks only).
    private var toolIndex: [Int: Int] = [:]
    static let maxEvent = 1 << 20

    init(created: Int) { self.created = created }

    /// An event larger than `maxEvent` (a broken or hostile upstream).
    struct EventTooLarge: Error { var limit: Int }

    mutating func feed(_ bytes: [UInt8]) throws(EventTooLarge) -> [UInt8] {
        buffer += bytes
        var out: [UInt8] = []
        while let end = SSEFraming.eventEnd(buffer) {
            let event = Array(buffer[0..<end.start])
            buffer.removeFirst(end.next)
            out += translate(event)
        }
        guard buffer.count <= Self.maxEvent else { throw EventTooLarge(limit: Self.maxEvent) }
        return out
    }

    /// Keys sorted: the same events give the same bytes (dictionary order is not stable).
    private func chunk(_ delta: [String: Any], finish: Any = NSNull(), usage: [String: Any]? = nil) -> [UInt8] {
        var o: [String: Any] = ["id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                                "choices": [["index": 0, "delta": delta, "logprobs": NSNull(), "finish_reason": finish]]]
        if let usage { o["usage"] = usage }
        return Array("data: ".utf8) + [UInt8]((try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data()) + Array("\n\n".utf8)
    }

    private mutating func translate(_ event: [UInt8]) -> [UInt8] {
        let payload = SSEFraming.dataPayload(event)
        guard let o = (try? JSONSerialization.jsonObject(with: Data(payload))) as? [String: Any], let type = o["type"] as? String else { return [] }
        switch type {
        case "message_start":
            let m = o["message"] as? [String: Any] ?? [:]
            id = m["id"] as? String ?? id
            model = m["model"] as? String ?? model
            inputTokens = AnthropicTranslation.tokens((m["usage"] as? [String: Any])?["input_tokens"])
            return chunk(["role": "assistant", "content": ""])
        case "content_block_start":
            let block = o["content_block"] as? [String: Any] ?? [:]
            guard block["type"] as? String == "tool_use", let index = o["index"] as? Int else { return [] }
            let k = toolIndex.count
            toolIndex[index] = k
            return chunk(["tool_calls": [["index": k, "id": block["id"] ?? "", "type": "function",
                                          "function": ["name": block["name"] ?? "", "arguments": ""]]]])
        case "content_block_delta":
            let d = o["delta"] as? [String: Any] ?? [:]
            switch d["type"] as? String {
            case "text_delta": return chunk(["content": d["text"] as? String ?? ""])
            case "input_json_delta":
                guard let index = o["index"] as? Int, let k = toolIndex[index] else { return [] }
                return chunk(["tool_calls": [["index": k, "function": ["arguments": d["partial_json"] as? String ?? ""]]]])
            default: return []
            }
        case "message_delta":
            let d = o["delta"] as? [String: Any] ?? [:]
            let output = AnthropicTranslation.tokens((o["usage"] as? [String: Any])?["output_tokens"])
            return chunk([:], finish: AnthropicTranslation.finishReason(d["stop_reason"]),
                         usage: ["prompt_tokens": inputTokens, "completion_tokens": output, "total_tokens": inputTokens + output])
        case "message_stop":
            return Array("data: [DONE]\n\n".utf8)
        case "error":
            let e = o["error"] as? [String: Any] ?? [:]
            let err: [String: Any] = ["error": ["type": "api_error", "message": "anthropic: \(e["message"] as? String ?? "stream error")", "code": e["type"] ?? "error"]]
            return Array("data: ".utf8) + [UInt8]((try? JSONSerialization.data(withJSONObject: err, options: [.sortedKeys])) ?? Data()) + Array("\n\n".utf8)
        default:
            return []   // ping, content_block_stop
        }
    }
}
