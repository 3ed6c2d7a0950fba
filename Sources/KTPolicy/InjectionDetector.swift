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
    /// Subtracted from every chunk's margin: the maximum over many chunks of a long benign text
    /// is biased upwards (a 4 KB system prompt has a dozen chances to look like an attack).
    /// 1.0 ranked attacks above benign texts best in the leave-sources-out evaluation (recall at
    /// 1 % FPR 72.7 % with 0.5, 73.9 % with 1.0, 74.7 % with 2.0 before the calibration on unseen
    /// sources; with it, 1.0 beat 2.0 and 3.0).
    public static let chunkPenalty: Float = 1.0

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

    /// The score, or `PolicyError` once `deadline` (uptime nanoseconds) passes between chunks.
    /// `fromUser`: the text is a user's turn. Tool results and documents are not: "never mind the
    /// previous request" there is a pivot someone planted, not a user editing their own turn, so
    /// the self-edit allowance does not apply to them (the short-turn one does: "true", "42").
    public func score(_ raw: String, deadline: UInt64, fromUser: Bool = true) throws(PolicyError) -> Score {
        var late = false
        let r = evaluate(raw, deadline: deadline, late: &late, fromUser: fromUser)
        if late { throw PolicyError("prompt-injection ran past the policy evaluation budget on a \(raw.utf8.count)-byte text") }
        return r.score
    }

    /// The highest raw margin over the whole text, its chunks and decoded payloads (before
    /// calibration): what the trainer calibrates.
    public func bestMargin(_ raw: String) -> Float { evaluate(raw).margin }

    /// Evidence the linear model weighs poorly, applied to the margin (so calibration and the
    /// leave-sources-out evaluation see it too):
    /// - a short turn ("okay", "answer", "thank you so much") with no rule family and no evasion
    ///   cannot reach the threshold: its few n-grams are not evidence of an instruction;
    /// - a user editing their own earlier turn ("disregard my previous message, I meant …") is
    ///   capped likewise, unless it names what attacks target (instructions, the system prompt…);
    /// - an override together with an extraction, or an exfiltration / tool directive, is an
    ///   attack whatever language the n-grams are in (the model learnt few non-English attacks).
    static let shortTurnWords = 8
    static let selfEditWords = 40
    static let selfEdit = try! NSRegularExpression(pattern:
        #"\b(ignore|disregard|forget|scratch|never ?mind|oublie|vergiss|olvida|ignora|dimentica|esque[çc]e|esque[çc]a)\b.{0,25}\b(my|what i|i said|i meant|i asked|i sent|i mentioned|mon|ma|mes|meine?[nr]?|mi|mis|il mio|la mia|o meu|a minha|lo que dije|ce que j)\b|\b(disregard|ignore|forget|scratch)\b.{0,6}\b(that|the (first|second|third|last|previous|earlier|old|other) (draft|example|point|version|code|message|attachment|deadline|part|question|answer|one))\b|\bi meant\b|\bscratch that\b|\b(lo que te (pregunt[ée]|ped[íi]|dije|escrib[íi])|ce que je t'ai (dit|demand[ée]|[ée]crit)|was ich (dir )?(gesagt|gefragt|geschrieben)|quello che ti ho (chiesto|detto|scritto)|o que (eu )?te (disse|perguntei|pedi|escrevi))\b"#)
    /// The user's own earlier content ("my previous instructions", "new instructions from me",
    /// "what I said"): words like "instructions" inside such a span name the user's text, not
    /// the application's, so they are not attack targets.
    static let ownContent = try! NSRegularExpression(pattern:
        #"\b(my|our)\s+(own\s+)?((previous|prior|earlier|last|first|second|third|original|above|old|initial|other|latest|recent|former)\s+)?(instructions?|requests?|messages?|questions?|prompts?|notes?|directions|comments?|input|text|wording|answers?|repl(y|ies)|e-?mails?|drafts?|lists?|examples?|specs?|requirements?|brief|instructions? (above|before|earlier))\b"#
        + #"|\b(new|updated|changed|revised|different|corrected)\s+instructions?\s+from\s+me\b|\b(what|everything|anything|something)\s+i\s+(said|wrote|sent|asked( for)?|told you|mentioned|gave you)\b"#
        + #"|\b(meine?[nr]?|unsere?)\s+((letzten?|vorherigen?|früheren?|ersten?)\s+)?(anweisungen|anweisung|nachricht|frage|angaben)\b|\b(mes|nos)\s+(instructions|consignes|messages?|questions?)\b"#
        + #"|\b(mis|nuestras)\s+(instrucciones|mensajes?|preguntas?)\b|\b(le mie|i miei)\s+(istruzioni|messaggi|domande)\b|\b(as minhas|os meus)\s+(instru[çc][õo]es|mensagens|perguntas)\b"#)
    /// A correction of what the user sent: the user's own content named together with one of
    /// these, or "<drop> the <thing>" where the thing is not what attacks target.
    static let correctionCue = try! NSRegularExpression(pattern:
        #"\b(ignore|disregard|forget|scratch|never ?mind|drop|skip|scrap|change[ds]?|update[ds]?|correct(ion|ed)?|instead|rather|wrong|unclear|typo|mistake|meant|rephrase|redo|replace|sorry|oops|actually"#
        + #"|oublie|vergiss|olvida|ignora|ignoriere|dimentica|esque[çc]e|esque[çc]a|je voulais dire|ich meinte|quise decir|volevo dire|queria dizer)\b"#)
    static let dropThing = try! NSRegularExpression(pattern:
        #"\b(ignore|disregard|forget|scratch|never ?mind|drop|skip|scrap)\s+(about\s+)?(the|that|this|those|these)\s+((first|second|third|last|previous|prior|earlier|old|other|original|initial|former)\s+)?([a-z]+)"#)
    /// What a "<drop> the <thing>" that attacks use names: not a self-edit.
    static let attackedThings: Set<String> = ["instruction", "instructions", "prompt", "prompts", "rule", "rules", "guideline", "guidelines",
                                              "system", "policy", "policies", "restriction", "restrictions", "filter", "filters", "context",
                                              "above", "conversation", "everything", "directions", "commands", "constraints", "task", "tasks",
                                              "text", "document", "documents", "data", "content", "input", "safety", "developer", "user", "users"]

    /// A user editing their own earlier turn ("disregard my previous message, I meant …",
    /// "never mind the previous request", "my instructions changed: …").
    static func isSelfEdit(_ text: String, _ full: NSRange) -> Bool {
        if selfEdit.firstMatch(in: text, range: full) != nil { return true }
        if ownContent.firstMatch(in: text, range: full) != nil, correctionCue.firstMatch(in: text, range: full) != nil { return true }
        if text.contains("instructions from me") { return true }
        let ns = text as NSString
        for m in dropThing.matches(in: text, range: full) {
            let thing = ns.substring(with: m.range(at: 6))
            if !attackedThings.contains(thing) { return true }
        }
        return false
    }

    /// Whether the text names what attacks target, outside the user's own content.
    static func namesAttackTarget(_ text: String, _ full: NSRange) -> Bool {
        let rest = ownContent.stringByReplacingMatches(in: text, range: full, withTemplate: " ")
        return attackTargets.firstMatch(in: rest, range: NSRange(location: 0, length: (rest as NSString).length)) != nil
    }

    static let attackTargets = try! NSRegularExpression(pattern:
        #"\b(instructions?|system|prompt|rules|guidelines|polic(y|ies)|restrictions?|filters?|safety|developer|admin|password|secrets?|confidential|hidden|jailbreak|unrestricted|anweisungen|consignes|instrucciones|istruzioni|instru[çc][õo]es)\b"#)

    func adjusted(_ z: Float, text: String, families: Set<String>, fromUser: Bool = true, evasion: Bool) -> Float {
        var z = z
        let full = NSRange(location: 0, length: (text as NSString).length)
        if families.contains("exfiltration_or_tool_directive")
            || (families.contains("system_prompt_exfiltration") && (families.contains("instruction_override") || families.contains("persona_switch"))) {
            z = max(z, model.margin(forProbability: 0.9))
        }
        // An override of the previous instructions is rare in benign text of any source (3 of
        // 16,822 benign rows) but its n-grams vary by language; unless the user is plainly
        // editing their own turn, it is an attack.
        // A self-edit is a short follow-up turn; long texts do not get the exemption (nor pay for the regexes).
        var words = 0, inWord = false
        for b in text.utf8 {
            if b == 32 { inWord = false } else if !inWord { inWord = true; words += 1; if words > Self.selfEditWords { break } }
        }
        let selfEdit = fromUser && words <= Self.selfEditWords && Self.isSelfEdit(text, full)
        if families.contains("instruction_override"), !selfEdit {
            z = max(z, model.margin(forProbability: 0.85))
        }
        guard !evasion else { return z }
        let cap = model.margin(forProbability: 0.5)
        if families.isEmpty, words < Self.shortTurnWords { z = min(z, cap) }
        if selfEdit, !Self.namesAttackTarget(text, full),
           !families.contains("system_prompt_exfiltration"), !families.contains("persona_switch"), !families.contains("fake_role_delimiter"),
           !families.contains("exfiltration_or_tool_directive") {
            z = min(z, cap)
        }
        return z
    }

    func evaluate(_ raw: String) -> (score: Score, margin: Float) {
        var late = false
        return evaluate(raw, deadline: .max, late: &late)
    }

    func evaluate(_ raw: String, deadline: UInt64, late: inout Bool, fromUser: Bool = true) -> (score: Score, margin: Float) {
        let n = normalizer.normalize(raw)
        var best: (z: Float, range: Range<Int>, families: [String], decoded: String?) = (-.infinity, 0..<0, [], nil)
        // Rules run once over the whole text; a chunk has the families whose matches overlap it.
        let matches = InjectionRules.matchRanges(n.text)
        let bytes = InjectionFeatures.ScalarBytes(n.text)
        let scalars = bytes.scalarCount
        let chunked = scalars > Self.chunkLength + Self.chunkStride / 2
        let grams = chunked ? InjectionFeatures.GramTable(bytes) : nil
        // Scalar index → UTF-16 offset (the unit of the match ranges), needed only with matches.
        var utf16At: [Int] = []
        if !matches.isEmpty {
            utf16At.reserveCapacity(scalars + 1)
            var offset = 0
            for s in n.text.unicodeScalars {
                utf16At.append(offset)
                offset += s.value > 0xFFFF ? 2 : 1
            }
            utf16At.append(offset)
        }
        var scratch = InjectionFeatures.Scratch()
        func families(_ range: Range<Int>) -> [String] {
            if matches.isEmpty { return [] }
            let lo = utf16At[range.lowerBound], hi = utf16At[range.upperBound]
            var ks = Set<Int>()
            for (k, r) in matches where r.location < hi && r.location + r.length > lo { ks.insert(k) }
            return ks.sorted().map { InjectionRules.families[$0].name }
        }
        func consider(_ range: Range<Int>, invisible: Int, homoglyphs: Int, encoded: Bool, penalty: Float = 0) {
            let fam = families(range)
            let rules = Self.ruleVector(families: fam, invisible: invisible, homoglyphs: homoglyphs, encoded: encoded)
            let z = model.margin(bytes, scalars: range, table: grams, rules: rules, scratch: &scratch) - penalty
            if z > best.z { best = (z, range, fam, nil) }
        }
        consider(0..<scalars, invisible: n.invisibleCount, homoglyphs: n.homoglyphCount, encoded: !n.decoded.isEmpty)
        if chunked {
            var start = 0
            while start < scalars {
                if deadline != .max, DispatchTime.now().uptimeNanoseconds > deadline {
                    late = true
                    break
                }
                let end = min(scalars, start + Self.chunkLength)
                consider(start..<end, invisible: 0, homoglyphs: 0, encoded: false, penalty: Self.chunkPenalty)
                if end == scalars { break }
                start += Self.chunkStride
            }
        }
        // Families a variant or a decoded payload reveals count for the adjustments even when
        // another reading scored higher: a de-leeted exfiltration is an exfiltration.
        var hiddenFamilies = Set<String>()
        for d in n.decoded {
            let fam = InjectionRules.matches(d)
            hiddenFamilies.formUnion(fam)
            let db = InjectionFeatures.ScalarBytes(d)
            let z = model.margin(db, scalars: 0..<db.scalarCount, table: nil,
                                 rules: Self.ruleVector(families: fam, invisible: 0, homoglyphs: 0, encoded: true), scratch: &scratch)
            if z > best.z { best = (z, 0..<0, fam, d) }
        }
        // A variant (leetspeak read as letters, spaced letters joined) is evidence of an evasion
        // only when it reveals an instruction: "2 + 2 = 4" has a leetspeak reading too.
        var revealingVariant = false
        for v in n.variants {
            let fam = InjectionRules.matches(v)
            if !fam.isEmpty { revealingVariant = true }
            hiddenFamilies.formUnion(fam)
            // An undone evasion counts as a hidden payload when it reveals an instruction.
            let vb = InjectionFeatures.ScalarBytes(v)
            let z = model.margin(vb, scalars: 0..<vb.scalarCount, table: nil,
                                 rules: Self.ruleVector(families: fam, invisible: 0, homoglyphs: 0, encoded: !fam.isEmpty), scratch: &scratch)
            if z > best.z { best = (z, 0..<0, fam, v) }
        }
        let textFamilies = Set(matches.map { InjectionRules.families[$0.0].name })
        best.z = adjusted(best.z, text: n.text, families: textFamilies.union(best.families).union(hiddenFamilies), fromUser: fromUser,
                          evasion: n.invisibleCount > 0 || n.homoglyphCount >= 3 || !n.decoded.isEmpty || revealingVariant)
        var p = Double(model.probability(margin: best.z))
        var signals = best.families
        signals += hiddenFamilies.subtracting(best.families).sorted()
        if n.invisibleCount > 0 { signals.append("invisible_characters:\(n.invisibleCount)") }
        if n.homoglyphCount >= 3 { signals.append("homoglyphs:\(n.homoglyphCount)") }
        if !n.decoded.isEmpty { signals.append("encoded_payload") }
        let full = NSRange(location: 0, length: (raw as NSString).length)
        if extraPatterns.contains(where: { $0.firstMatch(in: raw, range: full) != nil }) {
            p = max(p, 0.99)
            signals.append("attack_pattern")
        }
        if !model.weights.isEmpty, p >= 0.5 {
            // The n-grams of the winning text that pushed hardest towards "attack" (suspicious texts only).
            let bestText = best.decoded ?? String(String.UnicodeScalarView(Array(n.text.unicodeScalars)[best.range]))
            var seen = Set<Int32>()
            let top = InjectionFeatures.ngrams(bestText).filter { seen.insert($0.1).inserted }
                .map { ($0.0, model.weights[Int($0.1)]) }.filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }.prefix(3)
            signals += top.map { "ngram:\($0.0.trimmingCharacters(in: .whitespaces))" }
        }
        return (Score(score: (p * 1000).rounded() / 1000, signals: signals), best.z)
    }
}
