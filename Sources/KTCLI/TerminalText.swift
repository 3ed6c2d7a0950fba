import KTModel

/// Text that came from elsewhere (a gateway's NACK error, an event's fields, labels, a config's
/// change lines) made safe to print on a terminal: C0 and C1 control characters, DEL and the
/// bidi embedding/override/isolate characters are shown as escapes (`\x1b`, `\n`, `\u202e`)
/// instead of being interpreted. A gateway-token holder must not be able to move the operator's
/// cursor, retitle the window, hide a row or reorder what a line appears to say.
enum TerminalText {
    /// `keepingNewlines`: line breaks stay (a multi-line error message); elsewhere a value is
    /// one cell or one line, so they are escaped too.
    static func visible(_ s: String, keepingNewlines: Bool = false) -> String {
        func escaped(_ u: Unicode.Scalar) -> Bool { needsEscape(u) && !(keepingNewlines && u == "\n") }
        guard s.unicodeScalars.contains(where: escaped) else { return s }
        var out = ""
        out.unicodeScalars.reserveCapacity(s.unicodeScalars.count + 8)
        for u in s.unicodeScalars {
            guard escaped(u) else { out.unicodeScalars.append(u); continue }
            switch u {
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                let hex = String(u.value, radix: 16)
                out += u.value <= 0xFF ? "\\x" + String(repeating: "0", count: 2 - hex.count) + hex
                                       : "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
            }
        }
        return out
    }

    static func needsEscape(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0..<0x20, 0x7F...0x9F: return true
        case 0x202A...0x202E, 0x2066...0x2069, 0x2028, 0x2029: return true
        default: return false
        }
    }
}

extension JSONValue {
    /// Every string and object key passed through `TerminalText.visible`, for human output
    /// (`--json` output stays as received: its serializer escapes the C0 controls already).
    var terminalSafe: JSONValue {
        switch self {
        case .null, .bool, .int, .double: return self
        case .string(let s): return .string(TerminalText.visible(s))
        case .array(let a): return .array(a.map(\.terminalSafe))
        case .object(let pairs): return .object(pairs.map { (TerminalText.visible($0.0), $0.1.terminalSafe) })
        }
    }
}
