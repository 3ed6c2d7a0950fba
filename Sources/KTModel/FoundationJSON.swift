import Foundation

/// Serialises what `JSONSerialization` parsed (dictionaries, arrays, strings, numbers, booleans,
/// null) straight into UTF-8 bytes. A rewritten request or answer (redaction) is re-serialised on
/// every such request, and Foundation's writer was a tenth of the gateway's CPU there.
public enum FoundationJSON {
    /// The bytes of `object`, or nil if it holds something JSON cannot say (a non-finite number,
    /// a type JSONSerialization never produces).
    public static func bytes(_ object: Any, sortedKeys: Bool = false) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        return write(object, to: &out, sortedKeys: sortedKeys) ? out : nil
    }

    private static func write(_ value: Any, to out: inout [UInt8], sortedKeys: Bool) -> Bool {
        switch value {
        case let s as String:
            appendEscaped(s, to: &out)
        case let d as [String: Any]:
            out.append(UInt8(ascii: "{"))
            var first = true
            func pair(_ key: String, _ v: Any) -> Bool {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                appendEscaped(key, to: &out)
                out.append(UInt8(ascii: ":"))
                return write(v, to: &out, sortedKeys: sortedKeys)
            }
            if sortedKeys {
                for key in d.keys.sorted() where !pair(key, d[key]!) { return false }
            } else {
                for (key, v) in d where !pair(key, v) { return false }
            }
            out.append(UInt8(ascii: "}"))
        case let a as [Any]:
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                guard write(v, to: &out, sortedKeys: sortedKeys) else { return false }
            }
            out.append(UInt8(ascii: "]"))
        case is NSNull:
            out.append(contentsOf: "null".utf8)
        case let n as NSNumber:
            // JSONSerialization makes booleans NSNumbers of type "c" (char); a number's own text
            // keeps its exact value (an integer that does not fit a double, -0.0, 5e-324).
            let type = String(cString: n.objCType)
            if type == "c" || type == "B" {
                out.append(contentsOf: (n.boolValue ? "true" : "false").utf8)
            } else {
                let text = n.description
                guard n.doubleValue.isFinite, let first = text.utf8.first, first == UInt8(ascii: "-") || (48...57).contains(first),
                      text.utf8.allSatisfy({ (48...57).contains($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") })
                else { return false }
                out.append(contentsOf: text.utf8)
            }
        case let b as Bool:
            out.append(contentsOf: (b ? "true" : "false").utf8)
        case let i as Int:
            out.append(contentsOf: String(i).utf8)
        case let d as Double:
            guard d.isFinite else { return false }
            out.append(contentsOf: String(d).utf8)
        default:
            return false
        }
        return true
    }

    static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    static func appendEscaped(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20, 0x7F:
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
