import KTModel

/// One lint finding: a stable code, the YAML path, where it is, what is wrong and what was likely meant.
public struct ConfigDiagnostic: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Severity: String, Sendable { case error, warning }

    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// Unknown policy kind.
        public static let unknownPolicyKind = Code(rawValue: "E001")
        /// Unknown or invalid key or value (wrong type, missing required field, bad enum value).
        public static let invalidKeyOrValue = Code(rawValue: "E002")
        /// A chain entry without its `policy.<kind>` block.
        public static let missingPolicyBlock = Code(rawValue: "E003")
        /// YAML syntax.
        public static let yamlSyntax = Code(rawValue: "E004")
        /// Provider wiring: duplicate target id, missing secret_key_ref, bad base_url.
        public static let providerWiring = Code(rawValue: "E005")
        /// A value out of its allowed range.
        public static let outOfRange = Code(rawValue: "E006")
        /// audit-logger is not the last policy of the chain.
        public static let auditLoggerNotLast = Code(rawValue: "W001")
        /// A `policy.<kind>` block whose kind is not in the chain (it has no effect).
        public static let unusedPolicyBlock = Code(rawValue: "W002")
        /// A prompt-injection threshold low enough to block many benign prompts.
        public static let lowInjectionThreshold = Code(rawValue: "W003")
        /// A provider target that no routing can reach twice (duplicate model with round_robin off) etc.
        public static let providerNote = Code(rawValue: "W004")
        /// A regular expression with a nested quantifier (`(a+)+`): exponential backtracking.
        public static let riskyRegex = Code(rawValue: "W005")
    }

    public var code: Code
    public var severity: Severity
    public var path: String
    public var location: SourceLocation?
    public var message: String
    public var suggestion: String?

    public init(_ code: Code, _ severity: Severity = .error, path: String, at location: SourceLocation?,
                _ message: String, suggestion: String? = nil) {
        self.code = code
        self.severity = severity
        self.path = path
        self.location = location
        self.message = message
        self.suggestion = suggestion
    }

    public var description: String {
        var s = "\(severity)[\(code)]: \(message) at \(path.isEmpty ? "<root>" : path)"
        if let location { s += " (\(location.file) \(location))" }
        if let suggestion { s += "; did you mean '\(suggestion)'?" }
        return s
    }
}

/// Thrown when a config cannot be used; carries every error found, not just the first.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [ConfigDiagnostic]
    public init(_ diagnostics: [ConfigDiagnostic]) { self.diagnostics = diagnostics }
    public var errors: [ConfigDiagnostic] { diagnostics.filter { $0.severity == .error } }
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
