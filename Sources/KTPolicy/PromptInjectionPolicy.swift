import Foundation
import KTModel

/// prompt-injection: scores the scanned roles' messages; at or above `threshold` it blocks
/// (or, with `action: flag`, lets the request through and records the score).
struct PromptInjectionPolicy: CompiledPolicy {
    let settings: PromptInjectionSettings
    let detector: InjectionDetector
    /// The config's `attack_patterns`, run here against the evaluation's deadline.
    let attackPatterns: [ConfiguredRegex]

    init(settings: PromptInjectionSettings) throws(PolicyError) {
        self.settings = settings
        var extra: [ConfiguredRegex] = []
        for p in settings.attackPatterns {
            guard let re = try? ConfiguredRegex(pattern: p.pattern) else { throw PolicyError("attack_patterns '\(p.name)' is invalid") }
            extra.append(re)
        }
        attackPatterns = extra
        detector = InjectionDetector(normalizer: InjectionNormalizer(normalizeUnicode: settings.encoding.normalizeUnicode,
                                                                    foldHomoglyphs: settings.encoding.detectHomoglyphs,
                                                                    decodePayloads: settings.encoding.decodeBase64),
                                     extraPatterns: [])
    }

    var kind: PolicyKind { .promptInjection }
    var maxMatchLength: Int { 0 }
    var rewritesText: Bool { false }
    func runs(in phase: PolicyKind.Phase) -> Bool { phase == .request }

    func evaluate(_ segments: inout [TextSegment], context: EvaluationContext) throws -> PolicyVerdict {
        var best = InjectionDetector.Score(score: 0, signals: [])
        for s in segments where settings.scanRoles.contains(s.role) && !s.text.isEmpty {
            var r = try detector.score(s.text, deadline: context.deadline, fromUser: s.role == "user")
            let full = NSRange(location: 0, length: (s.text as NSString).length)
            for re in attackPatterns where try re.firstMatch(in: s.text, range: full, deadline: context.deadline) != nil {
                r.score = max(r.score, 0.99)
                r.signals.append("attack_pattern")
                break
            }
            if r.score > best.score { best = r }
        }
        let details: [(String, JSONValue)] = [("score", .double(best.score)), ("threshold", .double(settings.threshold)),
                                              ("signals", .array(best.signals.map { .string($0) }))]
        guard best.score >= settings.threshold else { return PolicyVerdict(.allow, details: details) }
        if settings.action == .flag {
            return PolicyVerdict(.allow, reasonCode: "prompt_injection.flagged", details: details + [("flagged", true)])
        }
        return PolicyVerdict(.block, reasonCode: "prompt_injection.detected",
                             message: settings.message ?? "Request blocked: possible prompt injection (score \(best.score))", details: details)
    }
}
