import Foundation
import KTPolicy

/// Moves text between OpenAI JSON bodies and policy segments, and back after redaction.
enum PolicySegments {
    /// Request texts: chat message contents (string or text parts), completion prompts, embedding inputs.
    static func request(_ object: [String: Any], endpoint: MockCompletions.Endpoint) -> [TextSegment] {
        var out: [TextSegment] = []
        switch endpoint {
        case .chat:
            for (i, m) in ((object["messages"] as? [[String: Any]]) ?? []).enumerated() {
                let role = (m["role"] as? String) ?? "user"
                if let s = m["content"] as? String { out.append(TextSegment(role: role, text: s, location: [i])) }
                if let parts = m["content"] as? [[String: Any]] {
                    for (j, p) in parts.enumerated() {
                        if let t = p["text"] as? String { out.append(TextSegment(role: role, text: t, location: [i, j])) }
                    }
                }
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
                if s.location.count == 1 {
                    messages[i]["content"] = s.text
                } else if var parts = messages[i]["content"] as? [[String: Any]], s.location[1] < parts.count {
                    parts[s.location[1]]["text"] = s.text
                    messages[i]["content"] = parts
                }
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

    /// Answer texts of a JSON response: chat `choices[i].message.content`, completion `choices[i].text`.
    static func response(_ object: [String: Any]) -> [TextSegment] {
        var out: [TextSegment] = []
        for (i, c) in ((object["choices"] as? [[String: Any]]) ?? []).enumerated() {
            if let m = c["message"] as? [String: Any], let t = m["content"] as? String {
                out.append(TextSegment(role: "assistant", text: t, location: [i]))
            } else if let t = c["text"] as? String {
                out.append(TextSegment(role: "assistant", text: t, location: [i]))
            }
        }
        return out
    }

    static func writeResponse(_ segments: [TextSegment], into object: inout [String: Any]) {
        guard var choices = object["choices"] as? [[String: Any]] else { return }
        for s in segments where s.location[0] < choices.count {
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
