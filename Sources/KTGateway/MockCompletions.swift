import Foundation
import KTModel

/// OpenAI-format answers made up in process: used by the `mock` provider and by the mock
/// upstream server (`kt dev mock-upstream`) so both speak exactly the same wire format.
public enum MockCompletions {
    public enum Endpoint: String, Sendable { case chat = "/chat/completions", completions = "/completions", embeddings = "/embeddings" }

    public static func endpoint(forURL url: String) -> Endpoint? {
        let path = url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? url
        if path.hasSuffix("/chat/completions") { return .chat }
        if path.hasSuffix("/completions") { return .completions }
        if path.hasSuffix("/embeddings") { return .embeddings }
        return nil
    }

    /// The reply text: the fixed response, or an echo of the last user message / prompt.
    public static func replyText(request: [String: Any], fixed: String?) -> String {
        if let fixed { return fixed }
        if let messages = request["messages"] as? [[String: Any]] {
            let last = messages.last { ($0["role"] as? String) == "user" } ?? messages.last
            return "Echo: " + text(ofContent: last?["content"])
        }
        if let prompt = request["prompt"] as? String { return "Echo: " + prompt }
        if let prompts = request["prompt"] as? [String], let first = prompts.first { return "Echo: " + first }
        return "Echo:"
    }

    /// Message content is a string or a list of parts (`{type: text, text: ...}`).
    public static func text(ofContent content: Any?) -> String {
        if let s = content as? String { return s }
        if let parts = content as? [[String: Any]] {
            return parts.compactMap { $0["text"] as? String }.joined(separator: "\n")
        }
        return ""
    }

    /// Whitespace-separated words, a rough token count that is stable and cheap.
    public static func tokenCount(_ s: String) -> Int { max(1, s.split(whereSeparator: \.isWhitespace).count) }

    static func promptText(_ request: [String: Any]) -> String {
        if let messages = request["messages"] as? [[String: Any]] {
            return messages.map { text(ofContent: $0["content"]) }.joined(separator: "\n")
        }
        return (request["prompt"] as? String) ?? ""
    }

    public static func completionID() -> String { "chatcmpl-" + String(UInt64.random(in: 0...UInt64.max), radix: 36) }

    public static func jsonResponse(endpoint: Endpoint, request: [String: Any], fixed: String?, created: Int) -> JSONValue {
        let model = (request["model"] as? String) ?? "mock"
        let reply = replyText(request: request, fixed: fixed)
        let promptTokens = tokenCount(promptText(request))
        let completionTokens = tokenCount(reply)
        let usage: JSONValue = .object([("prompt_tokens", .int(promptTokens)), ("completion_tokens", .int(completionTokens)),
                                        ("total_tokens", .int(promptTokens + completionTokens))])
        switch endpoint {
        case .chat:
            return .object([
                ("id", .string(completionID())), ("object", "chat.completion"), ("created", .int(created)), ("model", .string(model)),
                ("choices", .array([.object([
                    ("index", 0),
                    ("message", .object([("role", "assistant"), ("content", .string(reply))])),
                    ("logprobs", .null),
                    ("finish_reason", "stop"),
                ])])),
                ("usage", usage),
            ])
        case .completions:
            return .object([
                ("id", .string("cmpl-" + String(UInt64.random(in: 0...UInt64.max), radix: 36))), ("object", "text_completion"),
                ("created", .int(created)), ("model", .string(model)),
                ("choices", .array([.object([("text", .string(reply)), ("index", 0), ("logprobs", .null), ("finish_reason", "stop")])])),
                ("usage", usage),
            ])
        case .embeddings:
            let inputs: [String]
            if let s = request["input"] as? String { inputs = [s] } else { inputs = (request["input"] as? [String]) ?? [""] }
            let data = inputs.enumerated().map { (i, text) -> JSONValue in
                .object([("object", "embedding"), ("index", .int(i)), ("embedding", .array(embedding(of: text).map { .double($0) }))])
            }
            let tokens = inputs.map(tokenCount).reduce(0, +)
            return .object([("object", "list"), ("data", .array(data)), ("model", .string(model)),
                            ("usage", .object([("prompt_tokens", .int(tokens)), ("total_tokens", .int(tokens))]))])
        }
    }

    /// A deterministic 16-dimensional unit vector derived from the text.
    static func embedding(of text: String) -> [Double] {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        var v: [Double] = []
        for _ in 0..<16 {
            h = h &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            v.append(Double(Int64(bitPattern: h >> 11) % 2000) / 1000.0 - 1.0)
        }
        let norm = (v.map { $0 * $0 }.reduce(0, +)).squareRoot()
        return norm > 0 ? v.map { ($0 / norm * 1e6).rounded() / 1e6 } : v
    }

    /// The SSE events of a streamed answer, each a complete `data: ...\n\n` event, ending in `[DONE]`.
    public static func streamEvents(endpoint: Endpoint, request: [String: Any], fixed: String?, chunkChars: Int, created: Int) -> [[UInt8]] {
        let model = (request["model"] as? String) ?? "mock"
        let reply = replyText(request: request, fixed: fixed)
        let id = completionID()
        var events: [[UInt8]] = []
        func event(_ v: JSONValue) { events.append(Array("data: \(v.serialized())\n\n".utf8)) }
        var pieces: [String] = []
        var current = ""
        for ch in reply {
            current.append(ch)
            if current.count >= chunkChars { pieces.append(current); current = "" }
        }
        if !current.isEmpty { pieces.append(current) }
        switch endpoint {
        case .chat, .embeddings:
            func chunk(_ delta: JSONValue, finish: JSONValue) -> JSONValue {
                .object([("id", .string(id)), ("object", "chat.completion.chunk"), ("created", .int(created)), ("model", .string(model)),
                         ("choices", .array([.object([("index", 0), ("delta", delta), ("logprobs", .null), ("finish_reason", finish)])]))])
            }
            event(chunk(.object([("role", "assistant"), ("content", "")]), finish: .null))
            for p in pieces { event(chunk(.object([("content", .string(p))]), finish: .null)) }
            event(chunk(.object([]), finish: "stop"))
        case .completions:
            for p in pieces {
                event(.object([("id", .string(id)), ("object", "text_completion"), ("created", .int(created)), ("model", .string(model)),
                               ("choices", .array([.object([("text", .string(p)), ("index", 0), ("logprobs", .null), ("finish_reason", .null)])]))]))
            }
        }
        events.append(Array("data: [DONE]\n\n".utf8))
        return events
    }
}
