import KTModel
import KTConfig

/// The `kt` entry point: resolves the command path, parses options, runs the command and
/// returns its exit code (0 success, 1 failure, 2 invalid usage or input).
public enum KT {
    public static func main(_ arguments: [String], context: CLIContext, root: Command = CommandCatalog.root()) async -> Int32 {
        var context = context
        // `--profile NAME` is global: taken out wherever it stands (before `--`).
        var arguments = arguments
        var profile: String?
        if let i = arguments.firstIndex(where: { $0 == "--profile" || $0.hasPrefix("--profile=") }),
           arguments.firstIndex(of: "--").map({ i < $0 }) ?? true {
            if arguments[i] == "--profile" {
                guard i + 1 < arguments.count, !arguments[i + 1].hasPrefix("-") else {
                    context.err("error: --profile needs a profile name\nRun 'kt profile list' to see them.")
                    return 2
                }
                profile = arguments[i + 1]
                arguments.removeSubrange(i...(i + 1))
            } else {
                profile = String(arguments[i].dropFirst("--profile=".count))
                arguments.remove(at: i)
            }
        }
        var node = root
        var path = "kt"
        var rest = arguments[...]
        while node.isGroup, let next = rest.first {
            if next == "--help" || next == "-h" || next == "help" {
                context.out(node.help(path: path))
                return 0
            }
            if next == "--version" || next == "-V" {
                context.out("kt \(KTVersion.current)")
                return 0
            }
            if next.hasPrefix("-") {
                context.err("error: unknown option '\(next)' for '\(path)'\nRun '\(path) --help' for usage.")
                return 2
            }
            guard let child = node.subcommands.first(where: { $0.name == next }) else {
                var message = "error: unknown command '\(next)' for '\(path)'"
                if let s = Suggestion.closest(to: next, in: node.subcommands.map(\.name)) { message += "; did you mean '\(s)'?" }
                context.err(message + "\nRun '\(path) --help' to see the commands.")
                return 2
            }
            node = child
            path += " \(next)"
            rest = rest.dropFirst()
        }
        if node.isGroup {
            // `kt gateway` with no subcommand: show what it has, as a usage error.
            context.err(node.help(path: path))
            return 2
        }
        // Help wins over everything else, but not after `--`.
        let beforeDashDash = rest.prefix { $0 != "--" }
        if beforeDashDash.contains("--help") || beforeDashDash.contains("-h") {
            context.out(node.help(path: path))
            return 0
        }
        let parsed: ParsedArguments
        do {
            parsed = try CommandLineParser.parse(Array(rest), options: node.options, positionals: node.positionals, command: path)
        } catch {
            context.err("error: \(error.message)\nRun '\(path) --help' for usage.")
            return 2
        }
        let commandPath = path.split(separator: " ").dropFirst().map(String.init)
        if ProfileStore.applies(to: commandPath) {
            do throws(ProfileStore.Failure) { context.environment = try ProfileStore.apply(named: profile, to: context.environment) } catch {
                context.err("error: \(error.message)")
                return 2
            }
        } else if profile != nil {
            context.err("error: '\(path)' does not use CLI profiles (a server takes its own settings: KEEPTRUSTS_API_URL and its token)")
            return 2
        }
        guard let run = node.run else {
            context.err("error: '\(path)' is not built yet in kt \(KTVersion.current)\(node.plannedIn.map { " (planned: \($0))" } ?? "").")
            return 2
        }
        return await run(parsed, context)
    }
}
