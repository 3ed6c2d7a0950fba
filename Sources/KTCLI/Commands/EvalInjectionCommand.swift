import Foundation
import KTPolicy

/// `kt dev eval-injection`: the shipped detector on kt's own fixtures (hard negatives, attacks in
/// six languages, evasion variants) at a threshold.
enum EvalInjectionCommand {
    static let run: Command.Run = { args, ctx in
        let dir = args.value("fixtures") ?? "fixtures/prompt-injection"
        let threshold = Double(args.value("threshold") ?? "0.8") ?? 0.8
        do {
            let r = try InjectionFixtureEvaluation.run(directory: dir, threshold: threshold)
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
