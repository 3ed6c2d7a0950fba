import KTModel

/// The canonical serialisation a config's sha is computed over: JSON with keys sorted by their
/// UTF-8 bytes, no whitespace, scalars resolved by the YAML core schema (so `0.80` and `0.8`,
/// `"a"` and `a`, are the same value) and comments, key order and anchors gone.
///
/// It is computed over the merged file tree rather than the decoded model on purpose: a kt
/// release that adds a field with a default must not change the sha of an unchanged file, or
/// gateways on different versions would report drift for the same config.
public enum CanonicalJSON {
    public static func serialize(_ node: YAMLNode) -> String {
        var out = ""
        write(node, to: &out)
        return out
    }

    static func write(_ node: YAMLNode, to out: inout String) {
        switch node.kind {
        case .mapping(let pairs):
            out += "{"
            let sorted = pairs.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            for (i, pair) in sorted.enumerated() {
                if i > 0 { out += "," }
                JSONText.appendString(pair.key, to: &out)
                out += ":"
                write(pair.value, to: &out)
            }
            out += "}"
        case .sequence(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                write(item, to: &out)
            }
            out += "]"
        case .scalar:
            switch node.resolved! {
            case .null: out += "null"
            case .bool(let b): out += b ? "true" : "false"
            case .int(let i): out += String(i)
            case .float(let d):
                if d.isNaN || d.isInfinite {
                    JSONText.appendString(d.isNaN ? ".nan" : (d < 0 ? "-.inf" : ".inf"), to: &out)
                } else if d.rounded() == d, abs(d) < 1e15 {
                    out += String(Int(d))  // 1.0 and 1 are the same number
                } else {
                    out += String(d)  // shortest round-trip representation, identical on every machine
                }
            case .string(let s): JSONText.appendString(s, to: &out)
            }
        }
    }
}

/// JSON string escaping shared by the canonical form and CLI output.
public enum JSONText {
    public static func appendString(_ s: String, to out: inout String) {
        out += JSONValue.string(s).serialized()
    }

    public static func quoted(_ s: String) -> String { JSONValue.string(s).serialized() }
}
