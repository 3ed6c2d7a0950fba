import Foundation

/// Span-level precision and recall of the recognisers on a labelled JSONL file
/// (`{"text", "spans": [{"type","start","end"}]}`, offsets in Unicode scalars as Python counts).
public enum PIIEvaluation {
    public struct Metrics: Sendable, CustomStringConvertible {
        public var truePositives = 0, falsePositives = 0, falseNegatives = 0
        public var precision: Double { Double(truePositives) / Double(max(1, truePositives + falsePositives)) }
        public var recall: Double { Double(truePositives) / Double(max(1, truePositives + falseNegatives)) }
        public var f1: Double { precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall) }
        public var description: String {
            String(format: "P %.3f R %.3f F1 %.3f (tp %d fp %d fn %d)", precision, recall, f1, truePositives, falsePositives, falseNegatives)
        }
    }

    public static let labelToEntity: [String: String] = ["EMAIL_ADDRESS": "email", "CREDIT_CARD": "credit_card", "IBAN_CODE": "iban",
                                                         "US_SSN": "us_ssn", "IP_ADDRESS": "ip_address", "PHONE_NUMBER": "phone"]

    /// Span metrics per entity, plus how many benign rows (rows without any span) had anything
    /// redacted — the over-redaction of text that holds no PII.
    public struct Report: Sendable {
        public var metrics: [String: Metrics] = [:]
        public var benignRows = 0
        public var benignRowsRedacted = 0
        public var overRedaction: Double { Double(benignRowsRedacted) / Double(max(1, benignRows)) }
        public init(metrics: [String: Metrics] = [:]) { self.metrics = metrics }
    }

    /// A predicted span counts as correct when it overlaps a gold span of the same entity by at
    /// least half of the longer of the two.
    public static func run(path: String, errors: ((String, String, String) -> Void)? = nil) throws -> [String: Metrics] {
        var rows: [PIISynthesis.Row] = []
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let text = o["text"] as? String else { continue }
            let spans = ((o["spans"] as? [[String: Any]]) ?? []).compactMap { span -> (String, Int, Int)? in
                guard let type = span["type"] as? String, let start = span["start"] as? Int, let end = span["end"] as? Int else { return nil }
                return (type, start, end)
            }
            rows.append(PIISynthesis.Row(text: text, spans: spans))
        }
        return try evaluate(rows, errors: errors).metrics
    }

    public static func evaluate(_ rows: [PIISynthesis.Row], errors: ((String, String, String) -> Void)? = nil) throws -> Report {
        let recognizers = try PIIRecognizers()
        var report = Report()
        for row in rows {
            let text = row.text
            let scalars = Array(text.unicodeScalars)
            // Gold offsets are scalar offsets; convert to UTF-16 to compare with NSRange.
            var utf16At = [Int](repeating: 0, count: scalars.count + 1)
            for (i, s) in scalars.enumerated() { utf16At[i + 1] = utf16At[i] + (s.value > 0xFFFF ? 2 : 1) }
            var gold: [(String, NSRange)] = []
            var labelled = false
            for (type, start, end) in row.spans {
                labelled = true
                guard let entity = labelToEntity[type], end <= scalars.count else { continue }
                gold.append((entity, NSRange(location: utf16At[start], length: utf16At[end] - utf16At[start])))
            }
            let predicted = ((try? recognizers.find(in: text)) ?? []).filter { labelToEntity.values.contains($0.entity) }
            if !labelled {
                report.benignRows += 1
                if !predicted.isEmpty {
                    report.benignRowsRedacted += 1
                    errors?("OVER", predicted.map(\.entity).joined(separator: ","), predicted.map(\.value).joined(separator: " | ") + "   «" + text + "»")
                }
            }
            var matchedGold = Set<Int>()
            for p in predicted {
                if let g = gold.indices.first(where: { !matchedGold.contains($0) && gold[$0].0 == p.entity && overlaps(gold[$0].1, p.range) }) {
                    matchedGold.insert(g)
                    report.metrics[p.entity, default: Metrics()].truePositives += 1
                } else {
                    report.metrics[p.entity, default: Metrics()].falsePositives += 1
                    errors?("FP", p.entity, p.value + "   «" + String(text.prefix(80)) + "»")
                }
            }
            for (i, g) in gold.enumerated() where !matchedGold.contains(i) {
                report.metrics[g.0, default: Metrics()].falseNegatives += 1
                errors?("FN", g.0, (text as NSString).substring(with: g.1) + "   «" + String(text.prefix(80)) + "»")
            }
        }
        return report
    }

    static func overlaps(_ a: NSRange, _ b: NSRange) -> Bool {
        let inter = NSIntersectionRange(a, b).length
        return inter > 0 && Double(inter) >= 0.5 * Double(max(a.length, b.length))
    }
}
