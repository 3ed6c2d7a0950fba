import Foundation
import KTModel
import KTPolicy

/// `kt dev eval-pii`: span precision/recall of the pii-detector recognisers on labelled data, or
/// (`--generated`) on rows generated from the formats themselves, with the over-redaction of
/// benign rows (dates, amounts, order numbers, versions).
enum EvalPIICommand {
    static let run: Command.Run = { args, ctx in
        let generated = args.flag("generated")
        let path = args.value("data") ?? "../shared/data/pii/dev.jsonl"
        do {
            let verbose = args.flag("errors")
            let sink: ((String, String, String) -> Void)? = verbose ? { kind, entity, value in ctx.out("\(kind) \(entity): \(value)") } : nil
            let report: PIIEvaluation.Report
            if generated {
                let seed = UInt64(args.value("seed") ?? "1") ?? 1
                report = try PIIEvaluation.evaluate(PIISynthesis.rows(seed: seed), errors: sink)
            } else {
                report = PIIEvaluation.Report(metrics: try PIIEvaluation.run(path: path, errors: sink))
            }
            if args.flag("json") {
                let entities: [(String, JSONValue)] = report.metrics.sorted(by: { $0.key < $1.key }).map { e, m in
                    (e, .object([("precision", .double(m.precision)), ("recall", .double(m.recall)), ("f1", .double(m.f1)),
                                 ("tp", .int(m.truePositives)), ("fp", .int(m.falsePositives)), ("fn", .int(m.falseNegatives))]))
                }
                var fields: [(String, JSONValue)] = [("source", .string(generated ? "generated" : path)), ("entities", .object(entities))]
                if report.benignRows > 0 {
                    fields.append(("benign", .object([("rows", .int(report.benignRows)), ("redacted", .int(report.benignRowsRedacted)),
                                                      ("over_redaction", .double(report.overRedaction))])))
                }
                ctx.out(JSONValue.object(fields).serialized(pretty: true))
                return 0
            }
            ctx.out("| entity | precision | recall | F1 | TP | FP | FN |\n|---|---|---|---|---|---|---|")
            for (entity, m) in report.metrics.sorted(by: { $0.key < $1.key }) {
                ctx.out(String(format: "| %@ | %.3f | %.3f | %.3f | %d | %d | %d |", entity, m.precision, m.recall, m.f1,
                               m.truePositives, m.falsePositives, m.falseNegatives))
            }
            if report.benignRows > 0 {
                ctx.out(String(format: "\nbenign rows with anything redacted: %d of %d (%.1f %%)", report.benignRowsRedacted, report.benignRows, report.overRedaction * 100))
            }
            return 0
        } catch {
            ctx.err("error: cannot evaluate \(generated ? "the generated rows" : path): \(error)")
            return 1
        }
    }
}
