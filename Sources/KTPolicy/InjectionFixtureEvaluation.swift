import Foundation

/// The detector on kt's own fixtures (`fixtures/prompt-injection`, written by
/// `scripts/make-injection-fixtures`, none from an evaluation file): false positives on ordinary
/// short turns and self-edits, recall on direct and indirect attacks by language and kind, and
/// attack success per character-level evasion.
public enum InjectionFixtureEvaluation {
    public struct Group: Sendable {
        public var name: String
        public var total = 0
        /// Rows at or above the threshold.
        public var flagged = 0
        public var rate: Double { Double(flagged) / Double(max(1, total)) }
    }

    public struct Report: Sendable {
        public var threshold: Double
        public var hardNegatives: [Group] = []
        public var attacks: [Group] = []
        public var evasion: [Group] = []
        /// Misses and false positives, for reading: (file, text, score).
        public var errors: [(String, String, Double)] = []

        public func total(_ groups: [Group]) -> Group {
            Group(name: "all", total: groups.map(\.total).reduce(0, +), flagged: groups.map(\.flagged).reduce(0, +))
        }
    }

    static func rows(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    public static func run(directory: String, detector: InjectionDetector = InjectionDetector(), threshold: Double = 0.8) throws -> Report {
        var report = Report(threshold: threshold)
        func score(_ text: String) -> Double { detector.score(text).score }
        func tally(_ file: String, key: String, attack: Bool) throws -> [Group] {
            var groups: [String: Group] = [:]
            for row in try rows((directory as NSString).appendingPathComponent(file)) {
                guard let text = row["text"] as? String else { continue }
                let name = [key, "lang"].compactMap { row[$0] as? String }.first.map { k in
                    key == "kind" && attack ? "\(row["lang"] as? String ?? "?") \(k)" : k
                } ?? "?"
                let s = score(text)
                groups[name, default: Group(name: name)].total += 1
                if s >= threshold { groups[name]!.flagged += 1 }
                if (s >= threshold) != attack { report.errors.append((file, text, s)) }
            }
            return groups.values.sorted { $0.name < $1.name }
        }
        report.hardNegatives = try tally("hard-negatives.jsonl", key: "kind", attack: false)
        report.attacks = try tally("attacks.jsonl", key: "kind", attack: true)
        report.evasion = try tally("evasion.jsonl", key: "transform", attack: true)
        return report
    }
}
