import Foundation
import KTPolicy
import KTModel

/// `kt dev eval-injection`: the shipped detector on kt's own fixtures (hard negatives, attacks in
/// six languages, evasion variants) at a threshold.
enum EvalInjectionCommand {
    static let run: Command.Run = { args, ctx in
        let dir = args.value("fixtures") ?? "fixtures/prompt-injection"
        let threshold = Double(args.value("threshold") ?? "0.8") ?? 0.8
        do {
            let r = try InjectionFixtureEvaluation.run(directory: dir, threshold: threshold)
            if args.flag("json") {
                // One JSON document (read by scripts): per group rows, flagged and the rate.
                func groups(_ gs: [InjectionFixtureEvaluation.Group]) -> JSONValue {
                    .array((gs + [r.total(gs)]).map { .object([("name", .string($0.name)), ("rows", .int($0.total)), ("flagged", .int($0.flagged)), ("rate", .double($0.rate))]) })
                }
                var fields: [(String, JSONValue)] = [("threshold", .double(threshold)), ("hard_negatives_blocked", groups(r.hardNegatives)),
                                                     ("attacks_caught", groups(r.attacks)), ("evasion_caught", groups(r.evasion))]
                if args.flag("errors") {
                    fields.append(("errors", .array(r.errors.map { .object([("file", .string($0.0)), ("score", .double($0.2)), ("text", .string($0.1))]) })))
                }
                ctx.out(JSONValue.object(fields).serialized(pretty: true))
                return 0
            }
            func table(_ title: String, _ what: String, _ groups: [InjectionFixtureEvaluation.Group]) {
                ctx.out("| \(title) | rows | \(what) @\(threshold) |\n|---|---|---|")
                for g in groups + [r.total(groups)] {
                    ctx.out(String(format: "| %@ | %d | %.1f %% |", g.name == "all" ? "**all**" : g.name, g.total, g.rate * 100))
                }
                ctx.out("")
            }
            table("hard negatives (kind)", "blocked", r.hardNegatives)
            table("attacks (language, kind)", "caught", r.attacks)
            table("evasion (transformation)", "caught", r.evasion)
            if args.flag("errors") {
                for (file, text, score) in r.errors { ctx.out(String(format: "%@ %.3f %@", file, score, String(text.prefix(120)).debugDescription)) }
            }
            return 0
        } catch {
            ctx.err("error: cannot read the fixtures in \(dir): \(error)")
            return 1
        }
    }
}
