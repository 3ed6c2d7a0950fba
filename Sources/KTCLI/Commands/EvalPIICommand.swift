import Foundation
import KTPolicy

/// `kt dev eval-pii`: span precision/recall of the pii-detector recognisers on labelled data.
enum EvalPIICommand {
    static let run: Command.Run = { args, ctx in
        let path = args.value("data") ?? "../shared/data/pii/dev.jsonl"
        do {
            let verbose = args.flag("errors")
            let metrics = try PIIEvaluation.run(path: path, errors: verbose ? { kind, entity, value in ctx.out("\(kind) \(entity): \(value)") } : nil)
            ctx.out("| entity | precision | recall | F1 | TP | FP | FN |\n|---|---|---|---|---|---|---|")
            for (entity, m) in metrics.sorted(by: { $0.key < $1.key }) {
                ctx.out(String(format: "| %@ | %.3f | %.3f | %.3f | %d | %d | %d |", entity, m.precision, m.recall, m.f1,
                               m.truePositives, m.falsePositives, m.falseNegatives))
            }
            return 0
        } catch {
            ctx.err("error: cannot evaluate \(path): \(error)")
            return 1
        }
    }
}
