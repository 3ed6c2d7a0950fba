import KTModel
import KTConfig

/// One `--flag` a command accepts.
public struct OptionSpec: Sendable {
    public var name: String          // without the leading dashes
    public var valueName: String?    // nil: a boolean flag
    public var help: String
    public var repeatable: Bool
    /// A one-letter spelling (`-l` for `--selector`), for the few options people type all day.
    public var short: Character?

    public init(_ name: String, short: Character? = nil, value: String? = nil, repeatable: Bool = false, _ help: String) {
        self.name = name
        self.valueName = value
        self.help = help
        self.repeatable = repeatable
        self.short = short
    }
}

public struct PositionalSpec: Sendable {
    public var name: String
    public var help: String
    public var required: Bool
    public init(_ name: String, required: Bool = true, _ help: String) {
        self.name = name
        self.help = help
        self.required = required
    }
}

/// Options and positionals after parsing.
public struct ParsedArguments: Sendable {
    public var values: [String: [String]] = [:]
    public var flags: Set<String> = []
    public var positionals: [String] = []

    public func value(_ name: String) -> String? { values[name]?.last }
    public func all(_ name: String) -> [String] { values[name] ?? [] }
    public func flag(_ name: String) -> Bool { flags.contains(name) }
}

/// A usage mistake: printed with a hint, exit code 2.
public struct UsageError: Error, Sendable {
    public var message: String
    public var command: String
    public init(_ message: String, command: String) {
        self.message = message
        self.command = command
    }
}

public enum CommandLineParser {
    /// Parses `tokens` against `options`: `--flag value`, `--flag=value`, repeated flags where
    /// allowed, `--` to end options; unknown flags get a did-you-mean.
    public static func parse(_ tokens: [String], options: [OptionSpec], positionals: [PositionalSpec],
                             variadicPositionals: Bool = false, command: String) throws(UsageError) -> ParsedArguments {
        var parsed = ParsedArguments()
        var i = 0
        var optionsEnded = false
        while i < tokens.count {
            let token = tokens[i]
            i += 1
            if optionsEnded || !token.hasPrefix("-") || token == "-" {
                parsed.positionals.append(token)
                continue
            }
            if token == "--" { optionsEnded = true; continue }
            var name: String
            if token.hasPrefix("--") {
                name = String(token.dropFirst(2))
            } else if token.count == 2, let spec = options.first(where: { $0.short == token.last }) {
                name = spec.name
            } else {
                throw UsageError("unknown option '\(token)'; options are spelled with two dashes (e.g. --json)", command: command)
            }
            var inlineValue: String?
            if let eq = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            guard let spec = options.first(where: { $0.name == name }) else {
                var message = "unknown option '--\(name)' for '\(command)'"
                if let s = Suggestion.closest(to: name, in: options.map(\.name)) { message += "; did you mean '--\(s)'?" }
                throw UsageError(message, command: command)
            }
            if let valueName = spec.valueName {
                let value: String
                if let inlineValue {
                    value = inlineValue
                } else {
                    guard i < tokens.count else {
                        throw UsageError("option '--\(name)' needs a value (\(valueName))", command: command)
                    }
                    value = tokens[i]
                    i += 1
                }
                if !spec.repeatable, parsed.values[name] != nil {
                    throw UsageError("option '--\(name)' was given more than once", command: command)
                }
                parsed.values[name, default: []].append(value)
            } else {
                if inlineValue != nil {
                    throw UsageError("option '--\(name)' is a flag and takes no value", command: command)
                }
                parsed.flags.insert(name)
            }
        }
        let required = positionals.filter(\.required).count
        if parsed.positionals.count < required {
            let missing = positionals[parsed.positionals.count]
            throw UsageError("missing argument <\(missing.name)>", command: command)
        }
        if !variadicPositionals, parsed.positionals.count > positionals.count {
            throw UsageError("unexpected argument '\(parsed.positionals[positionals.count])'", command: command)
        }
        return parsed
    }
}

extension UsageError {
    /// A flag's integer value: digits only, in `range`; otherwise a usage error (exit 2) that
    /// names the flag and the allowed range.
    static func integer(_ text: String, flag: String, in range: ClosedRange<Int>, command: String) throws(UsageError) -> Int {
        do { return try BoundedField.integer(text: text, flag, in: range) } catch { throw UsageError(error.message, command: command) }
    }
}
