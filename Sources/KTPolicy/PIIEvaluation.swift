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

    /// A predicted span counts as correct when it overlaps a gold span of the same entity by at
    /// least half of the longer of the two.
    public static func run(path: String, errors: ((String, String, String) -> Void)? = nil) throws -> [String: Metrics] {
        let recognizers = try PIIRecognizers()
        var metrics: [String: Metrics] = [:]
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let text = o["text"] as? String else { continue }
            let scalars = Array(text.unicodeScalars)
            // Gold offsets are scalar offsets; convert to UTF-16 to compare with NSRange.
            var utf16At = [Int](repeating: 0, count: scalars.count + 1)
            for (i, s) in scalars.enumerated() { utf16At[i + 1] = utf16At[i] + (s.value > 0xFFFF ? 2 : 1) }
            var gold: [(String, NSRange)] = []
            for span in (o["spans"] as? [[String: Any]]) ?? [] {
                guard let type = span["type"] as? String, let entity = labelToEntity[type],
                      let start = span["start"] as? Int, let end = span["end"] as? Int, end <= scalars.count else { continue }
                gold.append((entity, NSRange(location: utf16At[start], length: utf16At[end] - utf16At[start])))
            }
            let predicted = (try? recognizers.find(in: text)) ?? [].filter { labelToEntity.values.contains($0.entity) }
            var matchedGold = Set<Int>()
            for p in predicted {
                if let g = gold.indices.first(where: { !matchedGold.contains($0) && gold[$0].0 == p.entity && overlaps(gold[$0].1, p.range) }) {
                    matchedGold.insert(g)
                    metrics[p.entity, default: Metrics()].truePositives += 1
                } else {
                    metrics[p.entity, default: Metrics()].falsePositives += 1
                    errors?("FP", p.entity, p.value)
                }
            }
            for (i, g) in gold.enumerated() where !matchedGold.contains(i) {
                metrics[g.0, default: Metrics()].falseNegatives += 1
                errors?("FN", g.0, (text as NSString).substring(with: g.1) + "   «" + String(text.prefix(80)) + "»")
            }
        }
        return metrics
    }

    static func overlaps(_ a: NSRange, _ b: NSRange) -> Bool {
        let inter = NSIntersectionRange(a, b).length
        return inter > 0 && Double(inter) >= 0.5 * Double(max(a.length, b.length))
    }
}
