import Foundation
import KTModel
import KTConfig

/// `kt policy lint --file F [--json]` (PRODUCT.md §2 "Lint").
enum PolicyLintCommand {
    static let run: Command.Run = { args, ctx in
        let files = args.all("file") + args.positionals
        guard !files.isEmpty else {
            ctx.err("error: missing --file FILE\nRun 'kt policy lint --help' for usage.")
            return 2
        }
        var report: LintReport
        do throws(KTError) {
            report = try ConfigLinter.lint(paths: files.map { resolve($0, in: ctx) })
        } catch {
            // Could not run at all (missing file, I/O): one line, exit 1.
            if args.flag("json") {
                ctx.out(JSONValue.object([("valid", false), ("file", .string(files.joined(separator: " + "))),
                                          ("error", .string(error.message))]).serialized(pretty: true))
            } else {
                ctx.err("error: \(error.message)")
            }
            return 1
        }
        // Show paths as the user wrote them, not resolved.
        report.file = files.joined(separator: " + ")
        if args.flag("json") {
            ctx.out(report.json.serialized(pretty: true))
        } else {
            ctx.stdout.write(report.human(style: ctx.style))
        }
        return report.exitCode
    }

    static func resolve(_ path: String, in ctx: CLIContext) -> String {
        path.hasPrefix("/") ? path : (ctx.currentDirectory as NSString).appendingPathComponent(path)
    }
}
