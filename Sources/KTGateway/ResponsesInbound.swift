import Foundation
import KTModel

/// The gateway's `POST /v1/responses` (the OpenAI SDK's `responses.create`): the request becomes
/// a chat-completions request through the one proxy path, and `ResponsesAPIShape` writes the
/// answer as a Responses API `response` (or its stream of events). The gateway keeps no
/// conversation state, so `previous_response_id` is refused.
enum ResponsesInbound {
    typealias Invalid = InboundRequestInvalid

    static func chatRequest(_ body: [UInt8]) throws(Invalid) -> [String: Any] {
        let r = try Invalid.jsonObject(body)
        guard let model = r["model"] as? String, !model.isEmpty else { throw Invalid(message: "model: a string is required") }
        if let prev = r["previous_response_id"], !(prev is NSNull) {
            throw Invalid(message: "previous_response_id: this gateway stores no responses; send the conversation in 'input'")
        }
        var out: [String: Any] = ["model": model]
        if let s = r["stream"], !(s is NSNull) {
            guard AnthropicInbound.isBool(s), let b = s as? Bool else { throw Invalid(message: "stream: a boolean is expected") }
            if b { out["stream"] = true }
        }
        if let m = r["max_output_tokens"], !(m is NSNull) {
            guard !AnthropicInbound.isBool(m), let n = m as? Int, n >= 1 else { throw Invalid(message: "max_output_tokens: a positive integer is expected") }
            out["max_tokens"] = n
        }
        for key in ["temperature", "top_p"] { if let v = r[key] as? NSNumber { out[key] = v } }
        if let u = r["user"] as? String { out["user"] = u }
        var messages: [[String: Any]] = []
        if let instructions = r["instructions"] as? String { messages.append(["role": "system", "content": instructions]) }
        switch r["input"] {
        case let s as String: messages.append(["role": "user", "content": s])
        case let items as [Any]:
            for (i, item) in items.enumerated() {
                guard let item = item as? [String: Any] else { throw Invalid(message: "input[\(i)]: an object is expected") }
                switch item["type"] as? String ?? "message" {
                case "message":
                    guard let role = item["role"] as? String, ["user", "assistant", "system", "developer"].contains(role) else {
                        throw Invalid(message: "input[\(i)].role: user, assistant, system or developer is expected")
                    }
                    messages.append(["role": role, "content": try content(item["content"], at: "input[\(i)].content")])
                case "function_call":
                    messages.append(["role": "assistant", "content": NSNull(), "tool_calls": [[
                        "id": item["call_id"] as? String ?? "call", "type": "function",
                        "function": ["name": item["name"] as? String ?? "tool", "arguments": item["arguments"] as? String ?? "{}"]]]])
                case "function_call_output":
                    // `output` is a string or, in newer clients, an array of input parts.
                    messages.append(["role": "tool", "tool_call_id": item["call_id"] as? String ?? "",
                                     "content": try content(item["output"], at: "input[\(i)].output")])
                case let other:
                    throw Invalid(message: "input[\(i)].type: '\(other)' is not supported by this gateway")
                }
            }
        default: throw Invalid(message: "input: a string or an array of items is required")
        }
        guard messages.contains(where: { $0["role"] as? String != "system" }) else { throw Invalid(message: "input: at least one item is required") }
        out["messages"] = messages
        if let tools = r["tools"] as? [[String: Any]] {
            var chatTools: [[String: Any]] = []
            for (i, t) in tools.enumerated() {
                guard t["type"] as? String == "function", let name = t["name"] as? String else {
                    throw Invalid(message: "tools[\(i)]: only function tools are supported by this gateway")
                }
                var f: [String: Any] = ["name": name, "parameters": t["parameters"] ?? ["type": "object"]]
                if let d = t["description"] { f["description"] = d }
                chatTools.append(["type": "function", "function": f])
            }
            out["tools"] = chatTools
        }
        switch r["tool_choice"] {
        case let s as String: out["tool_choice"] = s
        case let o as [String: Any]: if let name = o["name"] as? String { out["tool_choice"] = ["type": "function", "function": ["name": name]] }
        default: break
        }
        return out
    }

    /// An input item's content: a string, or parts (`input_text`, `input_image`, `output_text`).
    static func content(_ c: Any?, at path: String) throws(Invalid) -> Any {
        if let s = c as? String { return s }
        guard let parts = c as? [[String: Any]] else { throw Invalid(message: "\(path): a string or an array of parts is expected") }
        var out: [[String: Any]] = []
        for (k, p) in parts.enumerated() {
            switch p["type"] as? String {
            case "input_text", "output_text", "text":
                guard let t = p["text"] as? String else { throw Invalid(message: "\(path)[\(k)].text: a string is required") }
                out.append(["type": "text", "text": t])
            case "input_image":
                guard let url = p["image_url"] as? String else { throw Invalid(message: "\(path)[\(k)].image_url: a URL is required") }
                out.append(["type": "image_url", "image_url": ["url": url]])
            default: throw Invalid(message: "\(path)[\(k)].type: '\(p["type"] as? String ?? "?")' is not supported by this gateway")
            }
        }
        return out.allSatisfy { $0["type"] as? String == "text" } ? out.compactMap { $0["text"] as? String }.joined(separator: "\n") : out
    }
}

/// A chat completion (or its stream) as a Responses API `response` (or its events). Errors keep
/// the OpenAI envelope, which the Responses API shares.
struct ResponsesAPIShape: AnswerReshaping {
    var buffer: [UInt8] = []
    var sequence = 0
    var responseID = "resp_kt"
    var created = Int(Date().timeIntervalSince1970)
    var started = false
    var text = ""
    var textOpen = false
    /// Function calls by their index in the chunks: output index, item id, call id, name, arguments.
    var calls: [Int: (output: Int, item: String, call: String, name: String, arguments: String)] = [:]
    var nextOutput = 0
    var textOutput = -1
    var finish: String?
    var usage: (input: Int, output: Int) = (0, 0)
    var finished = false

    static func response(id: String, created: Int, model: String, status: String, output: [[String: Any]], usage: (Int, Int)?,
                         incomplete: Bool = false) -> [String: Any] {
        var r: [String: Any] = ["id": id, "object": "response", "created_at": created, "status": status, "model": model, "output": output,
                                "error": NSNull(), "incomplete_details": incomplete ? ["reason": "max_output_tokens"] : NSNull(),
                                "parallel_tool_calls": true, "tool_choice": "auto", "tools": [Any](), "text": ["format": ["type": "text"]]]
        if let (i, o) = usage {
            r["usage"] = ["input_tokens": i, "output_tokens": o, "total_tokens": i + o,
                          "input_tokens_details": ["cached_tokens": 0], "output_tokens_details": ["reasoning_tokens": 0]]
        }
        return r
    }

    static func messageItem(_ id: String, text: String, done: Bool) -> [String: Any] {
        ["type": "message", "id": id, "status": done ? "completed" : "in_progress", "role": "assistant",
         "content": done ? [["type": "output_text", "text": text, "annotations": [Any]()]] : [[String: Any]]()]
    }

    static func callItem(_ c: (output: Int, item: String, call: String, name: String, arguments: String), done: Bool) -> [String: Any] {
        ["type": "function_call", "id": c.item, "call_id": c.call, "name": c.name, "arguments": done ? c.arguments : "", "status": done ? "completed" : "in_progress"]
    }

    func body(status: Int, _ body: [UInt8], model: String) -> [UInt8] {
        guard (200..<300).contains(status), let c = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any], c["choices"] != nil else { return body }
        let choice = (c["choices"] as? [[String: Any]])?.first ?? [:]
        let m = choice["message"] as? [String: Any] ?? [:]
        let id = (c["id"] as? String).map { "resp_" + $0 } ?? "resp_kt"
        var output: [[String: Any]] = []
        if let t = m["content"] as? String, !t.isEmpty { output.append(Self.messageItem("msg_" + id.dropFirst(5), text: t, done: true)) }
        for (k, call) in ((m["tool_calls"] as? [[String: Any]]) ?? []).enumerated() {
            let f = call["function"] as? [String: Any] ?? [:]
            output.append(Self.callItem((k, "fc_\(k)_" + id.dropFirst(5), call["id"] as? String ?? "call_\(k)", f["name"] as? String ?? "tool", f["arguments"] as? String ?? "{}"), done: true))
        }
        let u = c["usage"] as? [String: Any] ?? [:]
        let incomplete = choice["finish_reason"] as? String == "length"
        let r = Self.response(id: id, created: c["created"] as? Int ?? created, model: model, status: incomplete ? "incomplete" : "completed", output: output,
                              usage: (AnthropicTranslation.tokens(u["prompt_tokens"]), AnthropicTranslation.tokens(u["completion_tokens"])), incomplete: incomplete)
        return FoundationJSON.bytes(r) ?? body
    }

    mutating func event(_ type: String, _ fields: [String: Any]) -> [UInt8] {
        var data = fields
        data["type"] = type
        data["sequence_number"] = sequence
        sequence += 1
        return Array("event: \(type)\ndata: ".utf8) + (FoundationJSON.bytes(data, sortedKeys: true) ?? Array("{}".utf8)) + Array("\n\n".utf8)
    }

    mutating func feed(_ bytes: [UInt8], model: String) -> [UInt8] {
        SSEFraming.payloads(&buffer, adding: bytes).reduce(into: []) { $0 += translate($1, model: model) }
    }

    var messageID: String { "msg_" + responseID.dropFirst(5) }

    mutating func translate(_ payload: [UInt8], model: String) -> [UInt8] {
        guard !finished, !payload.isEmpty else { return [] }
        var out: [UInt8] = []
        if payload == Array("[DONE]".utf8) {
            finished = true
            out += start(model: model)
            var output: [(Int, [String: Any])] = []
            if textOpen {
                out += event("response.output_text.done", ["item_id": messageID, "output_index": textOutput, "content_index": 0, "text": text])
                out += event("response.content_part.done", ["item_id": messageID, "output_index": textOutput, "content_index": 0,
                                                            "part": ["type": "output_text", "text": text, "annotations": [Any]()]])
                let item = Self.messageItem(messageID, text: text, done: true)
                out += event("response.output_item.done", ["output_index": textOutput, "item": item])
                output.append((textOutput, item))
            }
            for c in calls.values.sorted(by: { $0.output < $1.output }) {
                out += event("response.function_call_arguments.done", ["item_id": c.item, "output_index": c.output, "arguments": c.arguments])
                let item = Self.callItem(c, done: true)
                out += event("response.output_item.done", ["output_index": c.output, "item": item])
                output.append((c.output, item))
            }
            let incomplete = finish == "length"
            out += event(incomplete ? "response.incomplete" : "response.completed", ["response": Self.response(
                id: responseID, created: created, model: model, status: incomplete ? "incomplete" : "completed",
                output: output.sorted { $0.0 < $1.0 }.map(\.1), usage: usage, incomplete: incomplete)])
            return out
        }
        guard let chunk = (try? JSONSerialization.jsonObject(with: Data(payload))) as? [String: Any] else { return [] }
        if let e = chunk["error"] as? [String: Any] {
            finished = true
            return start(model: model) + event("error", ["code": e["code"] ?? NSNull(), "message": e["message"] ?? "the stream failed", "param": NSNull()])
        }
        if !started, let id = chunk["id"] as? String { responseID = "resp_" + id }
        out += start(model: model)
        if let u = chunk["usage"] as? [String: Any] { usage = (AnthropicTranslation.tokens(u["prompt_tokens"]), AnthropicTranslation.tokens(u["completion_tokens"])) }
        for choice in (chunk["choices"] as? [[String: Any]]) ?? [] {
            let delta = choice["delta"] as? [String: Any] ?? [:]
            if let t = delta["content"] as? String, !t.isEmpty {
                if !textOpen {
                    textOpen = true
                    textOutput = nextOutput
                    nextOutput += 1
                    out += event("response.output_item.added", ["output_index": textOutput, "item": Self.messageItem(messageID, text: "", done: false)])
                    out += event("response.content_part.added", ["item_id": messageID, "output_index": textOutput, "content_index": 0,
                                                                 "part": ["type": "output_text", "text": "", "annotations": [Any]()]])
                }
                text += t
                out += event("response.output_text.delta", ["item_id": messageID, "output_index": textOutput, "content_index": 0, "delta": t])
            }
            for call in (delta["tool_calls"] as? [[String: Any]]) ?? [] {
                let k = call["index"] as? Int ?? 0
                let f = call["function"] as? [String: Any] ?? [:]
                if calls[k] == nil {
                    let c = (nextOutput, "fc_\(k)_" + responseID.dropFirst(5), call["id"] as? String ?? "call_\(k)", f["name"] as? String ?? "tool", "")
                    calls[k] = c
                    nextOutput += 1
                    out += event("response.output_item.added", ["output_index": c.0, "item": Self.callItem(c, done: false)])
                }
                if let args = f["arguments"] as? String, !args.isEmpty, var c = calls[k] {
                    c.arguments += args
                    calls[k] = c
                    out += event("response.function_call_arguments.delta", ["item_id": c.item, "output_index": c.output, "delta": args])
                }
            }
            if let f = choice["finish_reason"] as? String { finish = f }
        }
        return out
    }

    mutating func start(model: String) -> [UInt8] {
        guard !started else { return [] }
        started = true
        let r = Self.response(id: responseID, created: created, model: model, status: "in_progress", output: [], usage: nil)
        return event("response.created", ["response": r]) + event("response.in_progress", ["response": r])
    }
}
