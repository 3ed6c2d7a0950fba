import Foundation

/// The gateway's own `POST /v1/messages` (the Anthropic SDK pointed at the gateway): a Messages
/// API request becomes a chat-completions request, which takes the one proxy path (policies,
/// routing, fallback, audit) to any target — an `anthropic` target's transport turns it back
/// into a Messages request. `AnthropicMessagesWriter` turns the answer the other way.
enum AnthropicInbound {
    typealias Invalid = InboundRequestInvalid

    /// The chat-completions body for a Messages API body, or what is wrong with it (and where).
    static func chatRequest(_ body: [UInt8]) throws(Invalid) -> [String: Any] {
        let a = try Invalid.jsonObject(body)
        guard let model = a["model"] as? String, !model.isEmpty else { throw Invalid(message: "model: a string is required") }
        guard !isBool(a["max_tokens"]), let maxTokens = a["max_tokens"] as? Int, maxTokens >= 1 else {
            throw Invalid(message: "max_tokens: a positive integer is required")
        }
        guard let messages = a["messages"] as? [Any], !messages.isEmpty else { throw Invalid(message: "messages: a non-empty array is required") }
        var out: [String: Any] = ["model": model, "max_tokens": maxTokens]
        if let s = a["stream"], !(s is NSNull) {
            guard isBool(s), let b = s as? Bool else { throw Invalid(message: "stream: a boolean is expected") }
            if b { out["stream"] = true }
        }
        for key in ["temperature", "top_p"] { if let v = a[key] as? NSNumber { out[key] = v } }
        if let stop = a["stop_sequences"] as? [String] { out["stop"] = stop }
        if let user = (a["metadata"] as? [String: Any])?["user_id"] as? String { out["user"] = user }

        var chat: [[String: Any]] = []
        switch a["system"] {
        case nil, is NSNull: break
        case let s as String: chat.append(["role": "system", "content": s])
        case let blocks as [[String: Any]]: chat.append(["role": "system", "content": blocks.compactMap { $0["text"] as? String }.joined(separator: "\n")])
        default: throw Invalid(message: "system: a string or an array of text blocks is expected")
        }
        for (i, m) in messages.enumerated() {
            guard let m = m as? [String: Any], let role = m["role"] as? String, role == "user" || role == "assistant" else {
                throw Invalid(message: "messages[\(i)]: an object with role 'user' or 'assistant' is expected")
            }
            if let s = m["content"] as? String {
                chat.append(["role": role, "content": s])
                continue
            }
            guard let blocks = m["content"] as? [[String: Any]] else { throw Invalid(message: "messages[\(i)].content: a string or an array of content blocks is expected") }
            var parts: [[String: Any]] = []
            var calls: [[String: Any]] = []
            for (k, b) in blocks.enumerated() {
                switch b["type"] as? String {
                case "text":
                    guard let t = b["text"] as? String else { throw Invalid(message: "messages[\(i)].content[\(k)].text: a string is required") }
                    parts.append(["type": "text", "text": t])
                case "image":
                    let source = b["source"] as? [String: Any] ?? [:]
                    if source["type"] as? String == "base64", let data = source["data"] as? String {
                        parts.append(["type": "image_url", "image_url": ["url": "data:\(source["media_type"] as? String ?? "image/png");base64,\(data)"]])
                    } else if let url = source["url"] as? String {
                        parts.append(["type": "image_url", "image_url": ["url": url]])
                    } else {
                        throw Invalid(message: "messages[\(i)].content[\(k)].source: base64 data or a url is required")
                    }
                case "tool_use" where role == "assistant":
                    let input = b["input"] ?? [String: Any]()
                    let args = (try? JSONSerialization.data(withJSONObject: input, options: [.fragmentsAllowed])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
                    calls.append(["id": b["id"] as? String ?? "toolu_\(i)_\(k)", "type": "function", "function": ["name": b["name"] as? String ?? "tool", "arguments": args]])
                case "tool_result" where role == "user":
                    let content: String
                    if let s = b["content"] as? String { content = s } else { content = ((b["content"] as? [[String: Any]]) ?? []).compactMap { $0["text"] as? String }.joined(separator: "\n") }
                    chat.append(["role": "tool", "tool_call_id": b["tool_use_id"] as? String ?? "", "content": content])
                default:
                    throw Invalid(message: "messages[\(i)].content[\(k)]: block type '\(b["type"] as? String ?? "?")' is not supported in a \(role) turn")
                }
            }
            if role == "assistant" {
                var msg: [String: Any] = ["role": "assistant", "content": parts.compactMap { $0["text"] as? String }.joined()]
                if !calls.isEmpty { msg["tool_calls"] = calls }
                if !parts.isEmpty || !calls.isEmpty { chat.append(msg) }
            } else if !parts.isEmpty {
                // Text only: plain content (the form every upstream takes); images: content parts.
                chat.append(["role": "user", "content": parts.allSatisfy { $0["type"] as? String == "text" }
                             ? parts.compactMap { $0["text"] as? String }.joined(separator: "\n") as Any : parts as Any])
            }
        }
        out["messages"] = chat
        if let tools = a["tools"] as? [[String: Any]] {
            out["tools"] = tools.compactMap { t -> [String: Any]? in
                guard let name = t["name"] as? String else { return nil }
                var f: [String: Any] = ["name": name, "parameters": t["input_schema"] ?? ["type": "object"]]
                if let d = t["description"] { f["description"] = d }
                return ["type": "function", "function": f]
            }
        }
        if let choice = a["tool_choice"] as? [String: Any] {
            switch choice["type"] as? String {
            case "auto": out["tool_choice"] = "auto"
            case "any": out["tool_choice"] = "required"
            case "none": out["tool_choice"] = "none"
            case "tool": if let name = choice["name"] as? String { out["tool_choice"] = ["type": "function", "function": ["name": name]] }
            default: break
            }
        }
        return out
    }

    /// JSONSerialization's booleans are NSNumbers of type "c" (an integer 1 also casts to Bool).
    static func isBool(_ v: Any?) -> Bool { (v as? NSNumber).map { String(cString: $0.objCType) == "c" } ?? false }

    static func stopReason(_ finish: Any?) -> Any {
        switch finish as? String {
        case "stop": return "end_turn"
        case "length": return "max_tokens"
        case "tool_calls", "function_call": return "tool_use"
        case "content_filter": return "refusal"
        case .some(let other): return other
        case nil: return NSNull()
        }
    }

    /// A Messages API answer for a chat.completion.
    static func message(_ c: [String: Any], model: String) -> [String: Any] {
        let choice = (c["choices"] as? [[String: Any]])?.first ?? [:]
        let m = choice["message"] as? [String: Any] ?? [:]
        var content: [[String: Any]] = []
        if let t = m["content"] as? String, !t.isEmpty { content.append(["type": "text", "text": t]) }
        for call in (m["tool_calls"] as? [[String: Any]]) ?? [] {
            let f = call["function"] as? [String: Any] ?? [:]
            let input = (f["arguments"] as? String).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } ?? [String: Any]()
            content.append(["type": "tool_use", "id": call["id"] as? String ?? "toolu", "name": f["name"] as? String ?? "tool", "input": input])
        }
        let usage = c["usage"] as? [String: Any] ?? [:]
        return ["id": messageID(c["id"]), "type": "message", "role": "assistant", "model": model, "content": content,
                "stop_reason": stopReason(choice["finish_reason"]), "stop_sequence": NSNull(),
                "usage": ["input_tokens": AnthropicTranslation.tokens(usage["prompt_tokens"]), "output_tokens": AnthropicTranslation.tokens(usage["completion_tokens"])]]
    }

    static func messageID(_ id: Any?) -> String {
        guard let s = id as? String, !s.isEmpty else { return "msg_kt" }
        return s.hasPrefix("msg_") ? s : "msg_" + s
    }

    /// Anthropic's error envelope for a status and message (the SDK maps the status to its
    /// exception; the type names the kind).
    static func error(status: Int, message: String) -> [UInt8] {
        let type: String
        switch status {
        case 400, 405, 409, 422: type = "invalid_request_error"
        case 401: type = "authentication_error"
        case 403: type = "permission_error"
        case 404: type = "not_found_error"
        case 413: type = "request_too_large"
        case 429: type = "rate_limit_error"
        case 503, 529: type = "overloaded_error"
        default: type = "api_error"
        }
        let body: [String: Any] = ["type": "error", "error": ["type": type, "message": message]]
        return [UInt8]((try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data())
    }
}
