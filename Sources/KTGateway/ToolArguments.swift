import Foundation

/// The text inside a tool call's `arguments` (a JSON document in a string): its string values,
/// in a stable order (object keys sorted, arrays in order), so policies can scan them and a
/// redaction can be written back as valid JSON.
enum ToolArguments {
    /// The string values, or nil when `arguments` is not JSON (then it is scanned as plain text).
    static func leaves(_ arguments: String) -> [String]? {
        guard let value = try? JSONSerialization.jsonObject(with: Data(arguments.utf8), options: [.fragmentsAllowed]) else { return nil }
        var out: [String] = []
        collect(value, into: &out)
        return out
    }

    /// `arguments` with the string values at the given positions replaced; nil when it is not JSON.
    static func replacing(_ arguments: String, with replacements: [Int: String]) -> String? {
        guard let value = try? JSONSerialization.jsonObject(with: Data(arguments.utf8), options: [.fragmentsAllowed]) else { return nil }
        var position = 0
        let rewritten = replace(value, replacements, &position)
        guard let data = try? JSONSerialization.data(withJSONObject: rewritten, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes]) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    private static func collect(_ value: Any, into out: inout [String]) {
        switch value {
        case let s as String: out.append(s)
        case let a as [Any]: for v in a { collect(v, into: &out) }
        case let d as [String: Any]: for k in d.keys.sorted() { collect(d[k]!, into: &out) }
        default: break
        }
    }

    private static func replace(_ value: Any, _ replacements: [Int: String], _ position: inout Int) -> Any {
        switch value {
        case let s as String:
            defer { position += 1 }
            return replacements[position] ?? s
        case let a as [Any]:
            return a.map { replace($0, replacements, &position) }
        case let d as [String: Any]:
            var out: [String: Any] = [:]
            for k in d.keys.sorted() { out[k] = replace(d[k]!, replacements, &position) }
            return out
        default:
            return value
        }
    }
}
