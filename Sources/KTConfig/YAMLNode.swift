import KTModel

/// A parsed YAML node that remembers where it came from.
public struct YAMLNode: Sendable, Equatable {
    public enum ScalarStyle: Sendable, Equatable { case plain, quoted }

    public enum Kind: Sendable, Equatable {
        case scalar(String, ScalarStyle)
        case mapping([YAMLPair])
        case sequence([YAMLNode])
    }

    /// A scalar resolved by the YAML 1.2 core schema (plain scalars only; quoted ones are strings).
    public enum Resolved: Sendable, Equatable {
        case null
        case bool(Bool)
        case int(Int)
        case float(Double)
        case string(String)
    }

    public var kind: Kind
    public var location: SourceLocation

    public init(_ kind: Kind, at location: SourceLocation) {
        self.kind = kind
        self.location = location
    }

    public var typeName: String {
        switch kind {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar:
            switch resolved {
            case .null: return "null"
            case .bool: return "a boolean"
            case .int: return "an integer"
            case .float: return "a number"
            case .string, nil: return "a string"
            }
        }
    }

    public var resolved: Resolved? {
        guard case .scalar(let text, let style) = kind else { return nil }
        if style == .quoted { return .string(text) }
        return YAMLNode.resolvePlain(text)
    }

    public var mappingPairs: [YAMLPair]? {
        if case .mapping(let pairs) = kind { return pairs }
        return nil
    }

    public var sequenceItems: [YAMLNode]? {
        if case .sequence(let items) = kind { return items }
        return nil
    }

    /// The value of a scalar if it resolved to a string (or any scalar's text when `lenient`).
    public var stringValue: String? {
        if case .string(let s) = resolved { return s }
        return nil
    }

    public var scalarText: String? {
        if case .scalar(let text, _) = kind { return text }
        return nil
    }

    /// Looks up a mapping key (string keys only).
    public subscript(key: String) -> YAMLNode? {
        mappingPairs?.last { $0.key == key }?.value
    }

    static func resolvePlain(_ text: String) -> Resolved {
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .float(.infinity)
        case "-.inf", "-.Inf", "-.INF": return .float(-.infinity)
        case ".nan", ".NaN", ".NAN": return .float(.nan)
        default: break
        }
        let bytes = Array(text.utf8)
        if isDecimalInteger(bytes), let v = Int(text) { return .int(v) }
        if bytes.count > 2, bytes[0] == UInt8(ascii: "0") {
            if bytes[1] == UInt8(ascii: "x"), let v = Int(text.dropFirst(2), radix: 16) { return .int(v) }
            if bytes[1] == UInt8(ascii: "o"), let v = Int(text.dropFirst(2), radix: 8) { return .int(v) }
        }
        if isFloatLiteral(bytes), let v = Double(text) { return .float(v) }
        return .string(text)
    }

    private static func isDecimalInteger(_ b: [UInt8]) -> Bool {
        var i = 0
        if i < b.count, b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") { i += 1 }
        guard i < b.count else { return false }
        return b[i...].allSatisfy { $0 >= 48 && $0 <= 57 }
    }

    private static func isFloatLiteral(_ b: [UInt8]) -> Bool {
        // [-+]? ( \.[0-9]+ | [0-9]+ ( \.[0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
        var i = 0
        func digits() -> Int { let s = i; while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }; return i - s }
        if i < b.count, b[i] == 45 || b[i] == 43 { i += 1 }
        let intDigits = digits()
        var fracDigits = 0
        if i < b.count, b[i] == 46 { i += 1; fracDigits = digits() }
        guard intDigits + fracDigits > 0 else { return false }
        if i < b.count, b[i] == 101 || b[i] == 69 {
            i += 1
            if i < b.count, b[i] == 45 || b[i] == 43 { i += 1 }
            guard digits() > 0 else { return false }
        }
        return i == b.count
    }
}

public struct YAMLPair: Sendable, Equatable {
    /// Keys are scalars; a non-scalar key is rejected by the parser.
    public var key: String
    public var keyLocation: SourceLocation
    public var value: YAMLNode

    public init(key: String, keyLocation: SourceLocation, value: YAMLNode) {
        self.key = key
        self.keyLocation = keyLocation
        self.value = value
    }
}

extension YAMLNode {
    /// The node as a JSON value, scalars resolved by the core schema (key order kept).
    public var jsonValue: JSONValue {
        switch kind {
        case .mapping(let pairs): return .object(pairs.map { ($0.key, $0.value.jsonValue) })
        case .sequence(let items): return .array(items.map(\.jsonValue))
        case .scalar:
            switch resolved! {
            case .null: return .null
            case .bool(let b): return .bool(b)
            case .int(let i): return .int(i)
            case .float(let d): return .double(d)
            case .string(let s): return .string(s)
            }
        }
    }
}
