import Foundation

/// OpenAI chat completions ⇄ Anthropic Messages API: requests one way, answers and errors the
/// other. Pure functions on JSON objects; `AnthropicTransport` applies them.
enum AnthropicTranslation {
    static let apiVersion = "2023-06-01"
    static let defaultMaxTokens = 4096

    struct Failure: Error { var message: String }

    /// The Messages API body for an OpenAI chat-completions body.
    static func request(_ openAI: [String: Any], defaultMaxTokens: Int?) throws -> [String: Any] {
        var out: [String: Any] = [:]
        out["model"] = openAI["model"]
        out["max_tokens"] = (openAI["max_completion_tokens"] as? Int) ?? (openAI["max_tokens"] as? Int) ?? defaultMaxTokens ?? Self.defaultMaxTokens
        if let s = openAI["stream"] as? Bool, s { out["stream"] = true }
        for key in ["temperature", "top_p"] { if let v = openAI[key], !(v is NSNull) { out[key] = v } }
        if let stop = openAI["stop"] as? String { out["stop_sequences"] = [stop] } else if let stop = openAI["stop"] as? [String] { out["stop_sequences"] = stop }
        if let user = openAI["user"] as? String { out["metadata"] = ["user_id": user] }

        var system: [String] = []
        var messages: [[String: Any]] = []
        func append(role: String, _ blocks: [[String: Any]]) {
            guard !blocks.isEmpty else { return }
            // The Messages API wants user and assistant turns to alternate: merge neighbours.
            if var last = messages.last, last["role"] as? String == role, var content = last["content"] as? [[String: Any]] {
                content += blocks
                last["content"] = content
                messages[messages.count - 1] = last
            } else {
                messages.append(["role": role, "content": blocks])
            }
        }
        for m in (openAI["messages"] as? [[String: Any]]) ?? [] {
            let role = m["role"] as? String ?? "user"
            switch role {
            case "system", "developer":
                system.append(text(of: m["content"]))
            case "assistant":
                var blocks: [[String: Any]] = []
                let t = text(of: m["content"])
                if !t.isEmpty { blocks.append(["type": "text", "text": t]) }
                for call in (m["tool_calls"] as? [[String: Any]]) ?? [] {
                    let f = call["function"] as? [String: Any] ?? [:]
                    let args = (f["arguments"] as? String).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } ?? [String: Any]()
                    blocks.append(["type": "tool_use", "id": call["id"] as? String ?? "call", "name": f["name"] as? String ?? "tool", "input": args])
                }
                append(role: "assistant", blocks)
            case "tool", "function":
                append(role: "user", [["type": "tool_result", "tool_use_id": m["tool_call_id"] as? String ?? "", "content": text(of: m["content"])]])
            default:
                append(role: "user", try contentBlocks(m["content"]))
            }
        }
        if !system.isEmpty { out["system"] = system.joined(separator: "\n\n") }
        out["messages"] = messages
        if let tools = openAI["tools"] as? [[String: Any]] {
            out["tools"] = tools.compactMap { t -> [String: Any]? in
                guard let f = t["function"] as? [String: Any], let name = f["name"] as? String else { return nil }
                var tool: [String: Any] = ["name": name, "input_schema": f["parameters"] ?? ["type": "object"]]
                if let d = f["description"] { tool["description"] = d }
                return tool
            }
        }
        switch openAI["tool_choice"] {
        case let s as String where s == "auto": out["tool_choice"] = ["type": "auto"]
        case let s as String where s == "required": out["tool_choice"] = ["type": "any"]
        case let s as String where s == "none": out["tool_choice"] = ["type": "none"]
        case let o as [String: Any]:
            if let name = (o["function"] as? [String: Any])?["name"] as? String { out["tool_choice"] = ["type": "tool", "name": name] }
        default: break
        }
        return out
    }

    static func text(of content: Any?) -> String {
        if let s = content as? String { return s }
        return ((content as? [[String: Any]]) ?? []).compactMap { $0["text"] as? String }.joined(separator: "\n")
    }

    /// A user turn's content as blocks: text, and images as base64 data or a URL.
    static func contentBlocks(_ content: Any?) throws -> [[String: Any]] {
        if let s = content as? String { return [["type": "text", "text": s]] }
        var out: [[String: Any]] = []
        for part in (content as? [[String: Any]]) ?? [] {
            if let t = part["text"] as? String { out.append(["type": "text", "text": t]); continue }
            if let url = (part["image_url"] as? [String: Any])?["url"] as? String ?? part["image_url"] as? String {
                if url.hasPrefix("data:"), let comma = url.firstIndex(of: ",") {
                    let meta = url[url.index(url.startIndex, offsetBy: 5)..<comma]
                    let mediaType = meta.split(separator: ";").first.map(String.init) ?? "image/png"
                    out.append(["type": "image", "source": ["type": "base64", "media_type": mediaType, "data": String(url[url.index(after: comma)...])]])
                } else {
                    out.append(["type": "image", "source": ["type": "url", "url": url]])
                }
                continue
            }
            throw Failure(message: "a content part of type '\(part["type"] as? String ?? "?")' cannot be sent to an anthropic target")
        }
        return out
    }

    static func finishReason(_ stop: Any?) -> Any {
        switch stop as? String {
        case "end_turn", "stop_sequence", "pause_turn": return "stop"
        case "max_tokens": return "length"
        case "tool_use": return "tool_calls"
        case "refusal": return "content_filter"
        case .some(let other): return other
        case nil: return NSNull()
        }
    }

    /// A token count from the upstream, clamped: a hostile or broken upstream's huge numbers must
    /// not overflow the sums below.
    static func tokens(_ v: Any?) -> Int { min(max(v as? Int ?? 0, 0), 1 << 40) }

    static func usage(_ u: [String: Any]?) -> [String: Any]? {
        guard let u else { return nil }
        let input = tokens(u["input_tokens"]) + tokens(u["cache_read_input_tokens"]) + tokens(u["cache_creation_input_tokens"])
        let output = tokens(u["output_tokens"])
        return ["prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output]
    }

    /// A chat.completion for a Messages API answer.
    static func response(_ a: [String: Any], created: Int) -> [String: Any] {
        var text: [String] = []
        var calls: [[String: Any]] = []
        for block in (a["content"] as? [[String: Any]]) ?? [] {
            switch block["type"] as? String {
            case "text": if let t = block["text"] as? String { text.append(t) }
            case "tool_use":
                let input = block["input"] ?? [String: Any]()
                let args = (try? JSONSerialization.data(withJSONObject: input, options: [.fragmentsAllowed])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
                calls.append(["id": block["id"] ?? "", "type": "function", "function": ["name": block["name"] ?? "", "arguments": args]])
            default: break
            }
        }
        var message: [String: Any] = ["role": "assistant", "content": text.isEmpty ? NSNull() : text.joined()]
        if !calls.isEmpty { message["tool_calls"] = calls }
        var out: [String: Any] = ["id": a["id"] ?? "msg", "object": "chat.completion", "created": created, "model": a["model"] ?? "",
                                  "choices": [["index": 0, "message": message, "logprobs": NSNull(), "finish_reason": finishReason(a["stop_reason"])]]]
        if let u = usage(a["usage"] as? [String: Any]) { out["usage"] = u }
        return out
    }

    /// The OpenAI error envelope for an Anthropic error body, keeping the upstream's message.
    static func error(_ body: [UInt8], status: Int) -> [UInt8] {
        let o = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        let e = o?["error"] as? [String: Any]
        let type = e?["type"] as? String ?? "api_error"
        let message = e?["message"] as? String ?? String(decoding: body.prefix(300), as: UTF8.self)
        let openAIType = status == 401 || status == 403 ? "authentication_error" : (status == 429 ? "rate_limit_error" : (status >= 500 ? "api_error" : "invalid_request_error"))
        let out: [String: Any] = ["error": ["type": openAIType, "message": "anthropic: \(message)", "code": type, "param": NSNull()]]
        return [UInt8]((try? JSONSerialization.data(withJSONObject: out)) ?? Data())
    }
}
