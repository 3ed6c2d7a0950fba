/// A node of the `kt` command tree: a group of subcommands, or a runnable leaf.
public struct Command: Sendable {
    public typealias Run = @Sendable (ParsedArguments, CLIContext) async -> Int32

    public var name: String
    public var summary: String
    public var options: [OptionSpec]
    public var positionals: [PositionalSpec]
    public var subcommands: [Command]
    /// nil on a leaf: the command is part of the surface but not built yet (exit 2).
    public var run: Run?
    /// The issue that will build a command that is not built yet.
    public var plannedIn: String?

    public static func group(_ name: String, _ summary: String, _ subcommands: [Command]) -> Command {
        Command(name: name, summary: summary, options: [], positionals: [], subcommands: subcommands, run: nil, plannedIn: nil)
    }

    public static func leaf(_ name: String, _ summary: String, options: [OptionSpec] = [], positionals: [PositionalSpec] = [],
                            plannedIn: String? = nil, run: Run? = nil) -> Command {
        Command(name: name, summary: summary, options: options, positionals: positionals, subcommands: [], run: run,
                plannedIn: plannedIn)
    }

    public var isGroup: Bool { !subcommands.isEmpty }

    func usage(path: String) -> String {
        if isGroup { return "\(path) <command> [options]" }
        var parts = [path]
        for p in positionals { parts.append(p.required ? "<\(p.name)>" : "[<\(p.name)>]") }
        if !options.isEmpty { parts.append("[options]") }
        return parts.joined(separator: " ")
    }

    func help(path: String) -> String {
        var out = "\(path) — \(summary)\n\nUsage: \(usage(path: path))\n"
        if let plannedIn, run == nil { out += "\nNot built yet in this release (planned: \(plannedIn)).\n" }
        if isGroup {
            out += "\nCommands:\n"
            let width = subcommands.map(\.name.count).max() ?? 0
            for c in subcommands {
                out += "  \(c.name.padding(toLength: width + 2, withPad: " ", startingAt: 0))\(c.summary)\n"
            }
            out += "\nRun '\(path) <command> --help' for a command's options.\n"
            return out
        }
        if !positionals.isEmpty {
            out += "\nArguments:\n"
            let width = positionals.map(\.name.count).max()! + 2
            for p in positionals {
                out += "  \("<\(p.name)>".padding(toLength: width + 2, withPad: " ", startingAt: 0))\(p.help)\n"
            }
        }
        let rows = options.map { o in ((o.short.map { "-\($0), " } ?? "") + "--\(o.name)" + (o.valueName.map { " \($0)" } ?? ""), o.help + (o.repeatable ? " (repeatable)" : "")) }
            + [("-h, --help", "show this help")]
        let width = rows.map(\.0.count).max() ?? 0
        out += "\nOptions:\n"
        for (flag, help) in rows {
            out += "  \(flag.padding(toLength: width + 2, withPad: " ", startingAt: 0))\(help)\n"
        }
        return out
    }
}
