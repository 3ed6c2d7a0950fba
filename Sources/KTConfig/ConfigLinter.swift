import KTModel

/// The result of `kt policy lint`: every error and warning of one config file.
public struct LintReport: Sendable {
    public var file: String
    public var loaded: LoadedConfig?
    public var errors: [ConfigDiagnostic]
    public var warnings: [ConfigDiagnostic]
    public var valid: Bool { errors.isEmpty && loaded != nil }

    public init(file: String, loaded: LoadedConfig?, errors: [ConfigDiagnostic], warnings: [ConfigDiagnostic]) {
        self.file = file
        self.loaded = loaded
        self.errors = errors
        self.warnings = warnings
    }

    /// Exit code of §2: 0 valid, 2 invalid.
    public var exitCode: Int32 { valid ? 0 : 2 }
}

public enum ConfigLinter {
    /// Lints one or more layered files. Throws `KTError` only when it could not run (I/O).
    public static func lint(paths: [String], loader: ConfigLoader = ConfigLoader()) throws(KTError) -> LintReport {
        let display = paths.joined(separator: " + ")
        var trees: [YAMLNode] = []
        for path in paths {
            switch try loader.parseFile(path) {
            case .success(let tree): trees.append(tree)
            case .failure(let diagnostic):
                return LintReport(file: display, loaded: nil, errors: [diagnostic], warnings: [])
            }
        }
        do {
            let loaded = try loader.load(trees: trees, files: paths)
            return LintReport(file: display, loaded: loaded, errors: [], warnings: loaded.warnings)
        } catch {
            return LintReport(file: display, loaded: nil,
                              errors: error.diagnostics.filter { $0.severity == .error },
                              warnings: error.diagnostics.filter { $0.severity == .warning })
        }
    }
}

extension LintReport {
    /// JSON exactly as PRODUCT.md §2 "Lint".
    public var json: JSONValue {
        func diag(_ d: ConfigDiagnostic) -> JSONValue {
            .object([
                ("code", .string(d.code.rawValue)),
                ("path", .string(d.path)),
                ("line", d.location.map { .int($0.line) } ?? .null),
                ("column", d.location.map { .int($0.column) } ?? .null),
                ("message", .string(d.message)),
                ("suggestion", .optional(d.suggestion)),
            ])
        }
        if let loaded, valid {
            return .object([
                ("valid", true),
                ("file", .string(file)),
                ("pack", .object([("name", .string(loaded.config.pack.name)), ("version", .string(loaded.config.pack.version))])),
                ("chain", .array(loaded.config.chain.map { .string($0.rawValue) })),
                ("policy_count", .int(loaded.config.chain.count)),
                ("sha", .string(loaded.sha)),
                ("warnings", .array(warnings.map(diag))),
            ])
        }
        return .object([
            ("valid", false),
            ("file", .string(file)),
            ("errors", .array(errors.map(diag))),
            ("warnings", .array(warnings.map(diag))),
        ])
    }

    /// Human output; `style` adds colour and symbols on a terminal.
    public func human(style: TerminalStyle) -> String {
        var out = ""
        func block(_ d: ConfigDiagnostic) {
            let head = "\(d.severity.rawValue)[\(d.code.rawValue)]"
            out += (d.severity == .error ? style.red(head) : style.yellow(head)) + ": \(d.message)\n"
            var where_ = "  --> \(d.path.isEmpty ? "<root>" : d.path)"
            if let loc = d.location { where_ += " (line \(loc.line), col \(loc.column))" }
            out += style.dim(where_) + "\n"
            if let s = d.suggestion { out += "  help: did you mean '\(s)'?\n" }
        }
        if let loaded, valid {
            let c = loaded.config
            out += "\(style.green(style.check)) \(file) is valid\n"
            out += "  pack:   \(c.pack.name) \(c.pack.version)\(c.pack.enabled ? "" : " (disabled)")\n"
            out += "  chain:  \(c.chain.isEmpty ? "(empty: passthrough)" : c.chain.map(\.rawValue).joined(separator: " → "))\n"
            out += "  sha:    \(loaded.sha)\n"
        } else {
            let n = errors.count
            out += "\(style.red(style.cross)) \(file) has \(n) error\(n == 1 ? "" : "s")\n"
            errors.forEach(block)
        }
        warnings.forEach(block)
        return out
    }
}

/// Colour and symbols only on a TTY, and never when NO_COLOR is set.
public struct TerminalStyle: Sendable {
    public var color: Bool
    public var unicode: Bool

    public init(color: Bool, unicode: Bool = true) {
        self.color = color
        self.unicode = unicode
    }

    public static let plain = TerminalStyle(color: false)

    public var check: String { unicode ? "✓" : "OK" }
    public var cross: String { unicode ? "✗" : "FAIL" }
    public var warn: String { unicode ? "⚠" : "WARN" }

    func wrap(_ s: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
    public func red(_ s: String) -> String { wrap(s, "31") }
    public func green(_ s: String) -> String { wrap(s, "32") }
    public func yellow(_ s: String) -> String { wrap(s, "33") }
    public func dim(_ s: String) -> String { wrap(s, "2") }
    public func bold(_ s: String) -> String { wrap(s, "1") }
}
