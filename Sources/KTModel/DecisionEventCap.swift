/// Decision events that leave a gateway's audit log — into its in-memory ring, its queue to the
/// control plane, the control plane's store and its live subscribers — are bounded in size.
///
/// With `include_content` an event carries the prompt and the answer, which may be megabytes; ten
/// thousand of them queued during a control-plane outage, or buffered for a slow `events tail`,
/// would be gigabytes. The audit log keeps the whole record; the copies elsewhere keep the
/// decision and the first `contentBytes` of each side, and say they were cut. The control plane
/// applies the same cap to what any gateway sends, whatever its fields.
public enum DecisionEventCap {
    /// The largest serialised event kept whole.
    public static let maxBytes = 64 * 1024
    /// What is kept of the prompt (all its parts together) and of the answer when content is cut.
    public static let contentBytes = 16 * 1024
    /// Top-level fields kept when even the cut event is too large (a hostile or buggy sender).
    static let essentials: Set<String> = ["id", "client_request_id", "client_key", "time", "gateway", "config_version", "config_sha",
                                          "route", "model", "target", "stream", "status", "verdict", "reason_code", "blocked_by",
                                          "phase", "error_code", "latency_ms", "overhead_ms", "prompt_chars", "prompt_sha256"]

    /// `event` itself when its serialisation (`serializedBytes`, if the caller has it) is within
    /// `maxBytes`; otherwise a copy with its content cut, and if that is still too large, only
    /// its essential scalar fields. Either copy has `"truncated": true`.
    public static func capped(_ event: JSONValue, serializedBytes: Int? = nil) -> JSONValue {
        guard (serializedBytes ?? event.serialized().utf8.count) > maxBytes, case .object(var fields) = event else { return event }
        if let i = fields.firstIndex(where: { $0.0 == "content" }), case .object(let content) = fields[i].1 {
            var cut: [(String, JSONValue)] = []
            for (k, v) in content {
                switch (k, v) {
                case ("prompt", .array(let parts)):
                    var budget = contentBytes
                    var kept: [JSONValue] = []
                    for p in parts {
                        guard budget > 0, case .string(let s) = p else { break }
                        let t = prefix(s, bytes: budget)
                        budget -= t.utf8.count
                        kept.append(.string(t))
                    }
                    cut.append((k, .array(kept)))
                case ("response", .string(let s)): cut.append((k, .string(prefix(s, bytes: contentBytes))))
                case ("prompt", _), ("response", _): cut.append((k, .null))
                default: break
                }
            }
            cut.append(("truncated", true))
            fields[i].1 = .object(cut)
        }
        fields.removeAll { $0.0 == "truncated" }
        fields.append(("truncated", true))
        let once = JSONValue.object(fields)
        if once.serialized().utf8.count <= maxBytes { return once }
        let kept = fields.filter { k, v in
            guard essentials.contains(k) else { return false }
            switch v {
            case .string(let s): return s.utf8.count <= 1024
            case .null, .bool, .int, .double: return true
            case .array, .object: return false
            }
        }
        return .object(kept + [("truncated", true)])
    }

    /// The longest prefix of `s` of at most `bytes` UTF-8 bytes that ends on a scalar boundary.
    static func prefix(_ s: String, bytes: Int) -> String {
        guard s.utf8.count > bytes else { return s }
        var out = String.UnicodeScalarView()
        var used = 0
        for u in s.unicodeScalars {
            let n = String(u).utf8.count
            guard used + n <= bytes else { break }
            out.append(u)
            used += n
        }
        return String(out)
    }
}
