import Foundation
import KTPolicy
import KTModel

/// Moves text between OpenAI JSON bodies and policy segments, and back after redaction.
///
/// Locations: `[i]` a message's (or choice's) string content, `[i, j]` its text part `j`, and
/// `[i, slot, j, k]` string value `k` of tool call `j`'s JSON arguments (`slot` is `toolCallSlot`
/// or `functionCallSlot`; `k == wholeArguments` when the arguments are not JSON).
enum PolicySegments {
    static let toolCallSlot = -1
    static let functionCallSlot = -2
    static let wholeArguments = -1
    /// The role of text a model wrote into tool-call arguments: scanned by PII, DLP and safety
    /// policies like any content; the rewriter (which writes prose) leaves it alone.
    static let toolCallRole = "tool_call"

    /// Segments for the arguments of a message's `tool_calls` and legacy `function_call`.
    static func toolCallSegments(_ message: [String: Any], at i: Int) -> [TextSegment] {
        var out: [TextSegment] = []
        func add(_ arguments: String, slot: Int, call j: Int) {
            if let leaves = ToolArguments.leaves(arguments) {
                for (k, leaf) in leaves.enumerated() where !leaf.isEmpty {
                    out.append(TextSegment(role: toolCallRole, text: leaf, location: [i, slot, j, k]))
                }
            } else if !arguments.isEmpty {
                out.append(TextSegment(role: toolCallRole, text: arguments, location: [i, slot, j, wholeArguments]))
            }
        }
        for (j, call) in ((message["tool_calls"] as? [[String: Any]]) ?? []).enumerated() {
            if let a = (call["function"] as? [String: Any])?["arguments"] as? String { add(a, slot: toolCallSlot, call: j) }
        }
        if let a = (message["function_call"] as? [String: Any])?["arguments"] as? String { add(a, slot: functionCallSlot, call: 0) }
        return out
    }

    /// Writes redacted tool-call segments of one message back, keeping the arguments valid JSON.
    static func writeToolCalls(_ segments: [TextSegment], into message: inout [String: Any]) {
        var byCall: [[Int]: [TextSegment]] = [:]
        for s in segments where s.location.count == 4 { byCall[[s.location[1], s.location[2]], default: []].append(s) }
        for (key, list) in byCall {
            let (slot, j) = (key[0], key[1])
            func rewrite(_ function: inout [String: Any]) {
                guard let arguments = function["arguments"] as? String else { return }
                if let whole = list.first(where: { $0.location[3] == wholeArguments }) {
                    function["arguments"] = whole.text
                } else if let replaced = ToolArguments.replacing(arguments, with: Dictionary(list.map { ($0.location[3], $0.text) }, uniquingKeysWith: { a, _ in a })) {
                    function["arguments"] = replaced
                }
            }
            if slot == toolCallSlot, var calls = message["tool_calls"] as? [[String: Any]], j < calls.count, var f = calls[j]["function"] as? [String: Any] {
                rewrite(&f)
                calls[j]["function"] = f
                message["tool_calls"] = calls
            } else if slot == functionCallSlot, var f = message["function_call"] as? [String: Any] {
                rewrite(&f)
                message["function_call"] = f
            }
        }
    }

    /// Content parts the policies cannot read (images, audio, files), by type: they are passed
    /// through and recorded in the decision event as unscanned.
    static func unscannedParts(_ object: [String: Any], endpoint: MockCompletions.Endpoint = .chat) -> [String: Int] {
        var out: [String: Int] = [:]
        if endpoint != .chat {
            // Token-id prompts and inputs (LangChain's embeddings send them by default) reach the
            // model as text the policies never read: recorded, like images.
            let value = object[endpoint == .completions ? "prompt" : "input"]
            if let list = value as? [Any], !list.isEmpty, !(list is [String]) {
                let nested = list.filter { $0 is [Any] }.count
                out["token_ids"] = nested > 0 ? nested : 1
            }
            return out
        }
        for m in (object["messages"] as? [[String: Any]]) ?? [] {
            for p in (m["content"] as? [[String: Any]]) ?? [] where p["text"] as? String == nil {
                out[(p["type"] as? String).map { String($0.prefix(40)) } ?? "unknown", default: 0] += 1
            }
        }
        return out
    }

    /// Request texts: chat message contents (string or text parts), completion prompts, embedding inputs.
    static func request(_ object: [String: Any], endpoint: MockCompletions.Endpoint) -> [TextSegment] {
        var out: [TextSegment] = []
        switch endpoint {
        case .chat:
            for (i, m) in ((object["messages"] as? [[String: Any]]) ?? []).enumerated() {
                // `function` is the legacy name of a tool result: policies read it as `tool`.
                let given = (m["role"] as? String) ?? "user"
                let role = given == "function" ? "tool" : given
                if let s = m["content"] as? String { out.append(TextSegment(role: role, text: s, location: [i])) }
                if let parts = m["content"] as? [[String: Any]] {
                    for (j, p) in parts.enumerated() {
                        if let t = p["text"] as? String { out.append(TextSegment(role: role, text: t, location: [i, j])) }
                    }
                }
                out += toolCallSegments(m, at: i)
            }
        case .completions, .embeddings:
            let key = endpoint == .completions ? "prompt" : "input"
            if let s = object[key] as? String { out.append(TextSegment(role: "user", text: s, location: [0])) }
            if let list = object[key] as? [String] {
                for (i, s) in list.enumerated() { out.append(TextSegment(role: "user", text: s, location: [i])) }
            }
        }
        return out
    }

    static func writeRequest(_ segments: [TextSegment], into object: inout [String: Any], endpoint: MockCompletions.Endpoint) {
        switch endpoint {
        case .chat:
            guard var messages = object["messages"] as? [[String: Any]] else { return }
            for s in segments {
                let i = s.location[0]
                guard i < messages.count else { continue }
                if s.location.count == 4 {
                    continue   // tool-call arguments: written per message below
                } else if s.location.count == 1 {
                    messages[i]["content"] = s.text
                } else if var parts = messages[i]["content"] as? [[String: Any]], s.location[1] < parts.count {
                    parts[s.location[1]]["text"] = s.text
                    messages[i]["content"] = parts
                }
            }
            for i in Set(segments.filter { $0.location.count == 4 }.map { $0.location[0] }) where i < messages.count {
                writeToolCalls(segments.filter { $0.location.count == 4 && $0.location[0] == i }, into: &messages[i])
            }
            object["messages"] = messages
        case .completions, .embeddings:
            let key = endpoint == .completions ? "prompt" : "input"
            if object[key] is String, let s = segments.first { object[key] = s.text }
            if var list = object[key] as? [String] {
                for s in segments where s.location[0] < list.count { list[s.location[0]] = s.text }
                object[key] = list
            }
        }
    }

    /// The first answer field the response policies would have to read but cannot, because it
    /// has a type the API never gives it (`content` as an array or a number, `choices` as an
    /// object); nil when every text is a string or null. Such an answer is refused, not relayed
    /// unread. `stream` reads `delta` where a JSON answer has `message`.
    static func unreadableAnswerField(_ object: [String: Any], stream: Bool) -> String? {
        guard let raw = object["choices"] else { return nil }
        guard let choices = raw as? [Any] else { return "choices" }
        for (i, item) in choices.enumerated() {
            guard let c = item as? [String: Any] else { return "choices[\(i)]" }
            if let field = unreadableChoiceField(c, at: i, stream: stream) { return field }
        }
        return nil
    }

    /// `unreadableAnswerField` for one choice (a stream checks each event's choices as it reads them).
    static func unreadableChoiceField(_ c: [String: Any], at i: Int, stream: Bool) -> String? {
        if let t = c["text"], !(t is String), !(t is NSNull) { return "choices[\(i)].text" }
        let holder = stream ? "delta" : "message"
        guard let h = c[holder], !(h is NSNull) else { return nil }
        guard let m = h as? [String: Any] else { return "choices[\(i)].\(holder)" }
        // `reasoning` is left out: some providers send an object there (not read, not refused).
        for field in ["content", "reasoning_content", "refusal"] {
            if let t = m[field], !(t is String), !(t is NSNull) { return "choices[\(i)].\(holder).\(field)" }
        }
        if let calls = m["tool_calls"], !(calls is NSNull), !(calls is [Any]) { return "choices[\(i)].\(holder).tool_calls" }
        if let f = m["function_call"], !(f is NSNull), !(f is [String: Any]) { return "choices[\(i)].\(holder).function_call" }
        return nil
    }

    /// Text a model sends besides its answer, which clients show too: reasoning (DeepSeek,
    /// vLLM and SGLang reasoning parsers, OpenRouter) and a refusal. The response policies read
    /// it under its own role, so PII, DLP and safety rules apply and rewrite rules (which act on
    /// the answer, role `assistant`) do not.
    static let asideFields: [(field: String, role: String)] = [("reasoning_content", "reasoning"), ("reasoning", "reasoning"), ("refusal", "refusal")]

    /// Answer texts of a JSON response: chat `choices[i].message.content` (and its asides),
    /// completion `choices[i].text`.
    static func response(_ object: [String: Any]) -> [TextSegment] {
        var out: [TextSegment] = []
        for (i, c) in ((object["choices"] as? [[String: Any]]) ?? []).enumerated() {
            if let m = c["message"] as? [String: Any] {
                if let t = m["content"] as? String { out.append(TextSegment(role: "assistant", text: t, location: [i])) }
                for (k, aside) in asideFields.enumerated() {
                    if let t = m[aside.field] as? String, !t.isEmpty { out.append(TextSegment(role: aside.role, text: t, location: [i, k, 0])) }
                }
                out += toolCallSegments(m, at: i)
            } else if let t = c["text"] as? String {
                out.append(TextSegment(role: "assistant", text: t, location: [i]))
            }
        }
        return out
    }

    static func writeResponse(_ segments: [TextSegment], into object: inout [String: Any]) {
        guard var choices = object["choices"] as? [[String: Any]] else { return }
        for i in Set(segments.filter { $0.location.count == 4 }.map { $0.location[0] }) where i < choices.count {
            guard var m = choices[i]["message"] as? [String: Any] else { continue }
            writeToolCalls(segments.filter { $0.location.count == 4 && $0.location[0] == i }, into: &m)
            choices[i]["message"] = m
        }
        for s in segments where s.location.count == 3 && s.location[0] < choices.count {
            guard var m = choices[s.location[0]]["message"] as? [String: Any] else { continue }
            m[asideFields[s.location[1]].field] = s.text
            choices[s.location[0]]["message"] = m
        }
        for s in segments where s.location[0] < choices.count && s.location.count == 1 {
            let i = s.location[0]
            if var m = choices[i]["message"] as? [String: Any] {
                m["content"] = s.text
                choices[i]["message"] = m
            } else {
                choices[i]["text"] = s.text
            }
        }
        object["choices"] = choices
    }
}
