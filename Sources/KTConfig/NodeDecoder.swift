import Foundation
import KTModel

/// Strict, error-collecting reads from a `YAMLNode` tree. Every problem becomes a
/// `ConfigDiagnostic` with its YAML path and position; decoding continues so that one lint
/// run reports all of them.
final class NodeDecoder {
    private(set) var diagnostics: [ConfigDiagnostic] = []

    var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

    func report(_ code: ConfigDiagnostic.Code, _ path: String, _ node: YAMLNode?, _ message: String,
                suggestion: String? = nil, severity: ConfigDiagnostic.Severity = .error) {
        diagnostics.append(ConfigDiagnostic(code, severity, path: path, at: node?.location, message, suggestion: suggestion))
    }

    func report(_ code: ConfigDiagnostic.Code, _ path: String, at location: SourceLocation?, _ message: String,
                suggestion: String? = nil, severity: ConfigDiagnostic.Severity = .error) {
        diagnostics.append(ConfigDiagnostic(code, severity, path: path, at: location, message, suggestion: suggestion))
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    // MARK: Mappings

    /// A mapping's entries, with unknown keys reported (E002 with a suggestion, or `unknownCode`).
    func mapping(_ node: YAMLNode, _ path: String, keys: [String], required: [String] = [],
                 unknownCode: ConfigDiagnostic.Code = .invalidKeyOrValue, what: String = "key") -> [String: YAMLNode]? {
        if case .scalar = node.kind, node.resolved == .null {
            // `key:` with nothing after it: an empty mapping.
            for r in required { report(.invalidKeyOrValue, Self.join(path, r), node, "missing required key '\(r)'") }
            return [:]
        }
        guard let pairs = node.mappingPairs else {
            report(.invalidKeyOrValue, path, node, "expected a mapping, found \(node.typeName)")
            return nil
        }
        var out: [String: YAMLNode] = [:]
        for pair in pairs {
            if keys.contains(pair.key) {
                out[pair.key] = pair.value
            } else {
                diagnostics.append(ConfigDiagnostic(unknownCode, .error, path: Self.join(path, pair.key), at: pair.keyLocation,
                                                    "unknown \(what) '\(pair.key)'",
                                                    suggestion: Suggestion.closest(to: pair.key, in: keys)))
            }
        }
        for r in required where out[r] == nil {
            report(.invalidKeyOrValue, Self.join(path, r), node, "missing required key '\(r)'")
        }
        return out
    }

    // MARK: Scalars

    func string(_ node: YAMLNode?, _ path: String, allowEmpty: Bool = false, maxLength: Int? = nil) -> String? {
        guard let node else { return nil }
        guard case .scalar(let text, let style) = node.kind else {
            report(.invalidKeyOrValue, path, node, "expected a string, found \(node.typeName)")
            return nil
        }
        // Numbers and booleans written where a string belongs are accepted as their text
        // (a version "1.0" or a model "4" should not need quotes); null is not.
        if style == .plain, node.resolved == .null {
            report(.invalidKeyOrValue, path, node, "expected a string, found null")
            return nil
        }
        if !allowEmpty && text.isEmpty {
            report(.outOfRange, path, node, "must not be empty")
            return nil
        }
        if let maxLength, text.count > maxLength {
            report(.outOfRange, path, node, "is \(text.count) characters; at most \(maxLength) allowed")
            return nil
        }
        return text
    }

    func bool(_ node: YAMLNode?, _ path: String) -> Bool? {
        guard let node else { return nil }
        if case .bool(let b) = node.resolved { return b }
        let got = node.scalarText.map { "'\($0)'" } ?? node.typeName
        report(.invalidKeyOrValue, path, node, "expected true or false, found \(got)")
        return nil
    }

    func int(_ node: YAMLNode?, _ path: String, range: ClosedRange<Int>) -> Int? {
        guard let node else { return nil }
        var value: Int?
        switch node.resolved {
        case .int(let v): value = v
        case .float(let d) where d.rounded() == d && abs(d) < 9e15: value = Int(d)
        default: break
        }
        guard let value else {
            let got = node.scalarText.map { "'\($0)'" } ?? node.typeName
            report(.invalidKeyOrValue, path, node, "expected an integer, found \(got)")
            return nil
        }
        guard range.contains(value) else {
            report(.outOfRange, path, node, "\(value) is out of range; allowed \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        return value
    }

    func double(_ node: YAMLNode?, _ path: String, range: ClosedRange<Double>) -> Double? {
        guard let node else { return nil }
        var value: Double?
        switch node.resolved {
        case .int(let v): value = Double(v)
        case .float(let d): value = d
        default: break
        }
        guard let value, value.isFinite else {
            let got = node.scalarText.map { "'\($0)'" } ?? node.typeName
            report(.invalidKeyOrValue, path, node, "expected a number, found \(got)")
            return nil
        }
        guard range.contains(value) else {
            report(.outOfRange, path, node, "\(format(value)) is out of range; allowed \(format(range.lowerBound))...\(format(range.upperBound))")
            return nil
        }
        return value
    }

    private func format(_ d: Double) -> String {
        d.rounded() == d && abs(d) < 1e15 ? String(Int(d)) : String(d)
    }

    func enumValue<E: RawRepresentable & CaseIterable>(_ node: YAMLNode?, _ path: String, as: E.Type) -> E? where E.RawValue == String {
        guard let node else { return nil }
        guard let text = string(node, path) else { return nil }
        if let value = E(rawValue: text) { return value }
        let allowed = E.allCases.map(\.rawValue)
        report(.invalidKeyOrValue, path, node,
               "'\(text)' is not one of \(allowed.joined(separator: ", "))",
               suggestion: Suggestion.closest(to: text, in: allowed))
        return nil
    }

    func list(_ node: YAMLNode?, _ path: String) -> [(YAMLNode, String)]? {
        guard let node else { return nil }
        if node.resolved == .null { return [] }
        guard let items = node.sequenceItems else {
            report(.invalidKeyOrValue, path, node, "expected a list, found \(node.typeName)")
            return nil
        }
        return items.enumerated().map { ($0.element, "\(path)[\($0.offset)]") }
    }

    func stringList(_ node: YAMLNode?, _ path: String) -> [String]? {
        guard let items = list(node, path) else { return nil }
        let values = items.compactMap { string($0.0, $0.1) }
        return values.count == items.count ? values : nil
    }

    /// A regular expression, compiled to check it (ICU syntax, as the policies run it).
    func regex(_ node: YAMLNode?, _ path: String) -> String? {
        guard let node, let pattern = string(node, path) else { return nil }
        do {
            _ = try NSRegularExpression(pattern: pattern)
            warnIfRisky(pattern, path, node)
            return pattern
        } catch {
            report(.invalidKeyOrValue, path, node, "invalid regular expression '\(pattern)'")
            return nil
        }
    }

    /// W005 for a nested quantifier: such a pattern can take exponential time on a short input
    /// (the gateway stops it at its policy budget, and fail_mode then decides the request).
    func warnIfRisky(_ pattern: String, _ path: String, _ node: YAMLNode?) {
        guard let group = RegexRisk.nestedQuantifier(in: pattern) else { return }
        report(.riskyRegex, path, node, "the pattern has a nested quantifier '\(group)': it can backtrack exponentially on a short input; "
               + "rewrite it without a repeated group around a repeat (e.g. (a+)+ → a+)", severity: .warning)
    }

    /// Patterns written either as plain regex strings or as `{name, pattern}` mappings.
    func namedPatterns(_ node: YAMLNode?, _ path: String, defaultPrefix: String) -> [NamedPattern]? {
        guard let items = list(node, path) else { return nil }
        var out: [NamedPattern] = []
        for (index, (item, itemPath)) in items.enumerated() {
            if item.mappingPairs != nil {
                guard let m = mapping(item, itemPath, keys: ["name", "pattern"], required: ["pattern"]),
                      let pattern = regex(m["pattern"], Self.join(itemPath, "pattern")) else { continue }
                let name = m["name"].flatMap { string($0, Self.join(itemPath, "name")) } ?? "\(defaultPrefix)_\(index)"
                out.append(NamedPattern(name: name, pattern: pattern))
            } else if let pattern = regex(item, itemPath) {
                out.append(NamedPattern(name: "\(defaultPrefix)_\(index)", pattern: pattern))
            }
        }
        return out
    }
}
