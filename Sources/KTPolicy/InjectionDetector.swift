import Foundation

/// The prompt-injection detector: normalise → features (hashed n-grams + rule families +
/// encoding signals) → linear model → calibrated probability. The text is scored whole and in
/// ~400-character chunks (an injection buried in a long document still stands out); the
/// highest score wins.
public struct InjectionDetector: Sendable {
    public struct Score: Sendable {
        public var score: Double
        /// The strongest signals: rule families, encoding tricks, and the n-grams that pushed hardest.
        public var signals: [String]
    }

    public var model: InjectionModel
    public var normalizer: InjectionNormalizer
    public var extraPatterns: [NSRegularExpression]
    public static let chunkLength = 400
    public static let chunkStride = 300

    public init(model: InjectionModel = .shipped, normalizer: InjectionNormalizer = InjectionNormalizer(),
                extraPatterns: [NSRegularExpression] = []) {
        self.model = model
        self.normalizer = normalizer
        self.extraPatterns = extraPatterns
    }

    /// Rule vector for one normalised text: family matches, then the extra signals.
    static func ruleVector(families: [String], invisible: Int, homoglyphs: Int, encoded: Bool) -> [Float] {
        var v = InjectionRules.families.map { families.contains($0.name) ? Float(1) : 0 }
        v.append(invisible > 0 ? 1 : 0)
        v.append(homoglyphs >= 3 ? 1 : 0)
        v.append(encoded ? 1 : 0)
        return v
    }

    /// Features of one raw text exactly as the trainer sees them.
    public func features(_ raw: String) -> (indices: [Int32], rules: [Float], normalized: InjectionNormalizer.Output) {
        let n = normalizer.normalize(raw)
        let families = InjectionRules.matches(n.text)
        return (InjectionFeatures.hashed(n.text), Self.ruleVector(families: families, invisible: n.invisibleCount,
                                                                     homoglyphs: n.homoglyphCount, encoded: !n.decoded.isEmpty), n)
    }

    public func score(_ raw: String) -> Score { evaluate(raw).score }

    /// The highest raw margin over the whole text, its chunks and decoded payloads (before
    /// calibration): what the trainer calibrates.
    public func bestMargin(_ raw: String) -> Float { evaluate(raw).margin }

    func evaluate(_ raw: String) -> (score: Score, margin: Float) {
        let n = normalizer.normalize(raw)
        var best: (z: Float, text: String, families: [String]) = (-.infinity, "", [])
        func consider(_ text: String, invisible: Int, homoglyphs: Int, encoded: Bool) {
            let families = InjectionRules.matches(text)
            let rules = Self.ruleVector(families: families, invisible: invisible, homoglyphs: homoglyphs, encoded: encoded)
            let z = model.margin(indices: InjectionFeatures.hashed(text), rules: rules)
            if z > best.z { best = (z, text, families) }
        }
        consider(n.text, invisible: n.invisibleCount, homoglyphs: n.homoglyphCount, encoded: !n.decoded.isEmpty)
        let scalars = Array(n.text.unicodeScalars)
        if scalars.count > Self.chunkLength + Self.chunkStride / 2 {
            var start = 0
            while start < scalars.count {
                let end = min(scalars.count, start + Self.chunkLength)
                consider(String(String.UnicodeScalarView(scalars[start..<end])), invisible: 0, homoglyphs: 0, encoded: false)
                if end == scalars.count { break }
                start += Self.chunkStride
            }
        }
        for d in n.decoded { consider(d, invisible: 0, homoglyphs: 0, encoded: true) }
        var p = Double(model.probability(margin: best.z))
        var signals = best.families
        if n.invisibleCount > 0 { signals.append("invisible_characters:\(n.invisibleCount)") }
        if n.homoglyphCount >= 3 { signals.append("homoglyphs:\(n.homoglyphCount)") }
        if !n.decoded.isEmpty { signals.append("encoded_payload") }
        let full = NSRange(location: 0, length: (raw as NSString).length)
        if extraPatterns.contains(where: { $0.firstMatch(in: raw, range: full) != nil }) {
            p = max(p, 0.99)
            signals.append("attack_pattern")
        }
        if !model.weights.isEmpty {
            // The n-grams of the winning text that pushed hardest towards "attack".
            var seen = Set<Int32>()
            let top = InjectionFeatures.ngrams(best.text).filter { seen.insert($0.1).inserted }
                .map { ($0.0, model.weights[Int($0.1)]) }.filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }.prefix(3)
            signals += top.map { "ngram:\($0.0.trimmingCharacters(in: .whitespaces))" }
        }
        return (Score(score: (p * 1000).rounded() / 1000, signals: signals), best.z)
    }
}
