import Foundation
import KTModel
import KTConfig

/// dlp-filter: custom patterns and blocked terms (case-insensitive, word-bounded), optionally
/// fuzzy (edit distance up to `max_distance` per term, so "confidental" still matches).
struct DLPPolicy: CompiledPolicy {
    let settings: DLPFilterSettings
    let patterns: [(String, ConfiguredRegex)]
    let terms: [(String, NSRegularExpression)]
    let longest: Int

    init(settings: DLPFilterSettings) throws(PolicyError) {
        self.settings = settings
        var p: [(String, ConfiguredRegex)] = []
        for n in settings.detectPatterns {
            guard let r = try? ConfiguredRegex(pattern: n.pattern) else { throw PolicyError("dlp-filter pattern '\(n.name)' is invalid") }
            p.append((n.name, r))
        }
        patterns = p
        terms = settings.blockedTerms.map { term in
            (term, try! NSRegularExpression(pattern: #"(?<!\w)"# + NSRegularExpression.escapedPattern(for: term) + #"(?!\w)"#, options: [.caseInsensitive]))
        }
        longest = max(64, (settings.blockedTerms.map(\.count).max() ?? 0) + settings.maxDistance)
    }

    var kind: PolicyKind { .dlpFilter }
    var maxMatchLength: Int { longest }
    func pendingTail(_ text: String) -> Int {
        // Exact terms: only a term's beginning at the end is held. Patterns and fuzzy terms: the longest match.
        guard patterns.isEmpty, settings.maxDistance == 0 else { return longest }
        return TextFolding.tail(text) { min(StreamTail.termPrefix($0, terms: settings.blockedTerms), longest) }
    }
    func runs(in phase: PolicyKind.Phase) -> Bool { true }

    func matches(in text: String, deadline: UInt64 = EvaluationContext.noDeadline) throws -> [(NSRange, String)] {
        let full = NSRange(location: 0, length: (text as NSString).length)
        var out: [(NSRange, String)] = []
        for (name, r) in patterns { for m in try r.matches(in: text, range: full, deadline: deadline) where m.range.length > 0 { out.append((m.range, name)) } }
        // Terms read the folded text ("project<NBSP>falcon", "pro<ZWSP>ject falcon" are the
        // term to a reader); patterns read the text as written, like the PII detector's.
        let folding = TextFolding(text)
        let folded = NSRange(location: 0, length: (folding.text as NSString).length)
        for (term, r) in terms { for m in r.matches(in: folding.text, range: folded) { out.append((folding.original(m.range), term)) } }
        if settings.fuzzyMatching && settings.maxDistance > 0 { out += fuzzy(folding.text).map { (folding.original($0.0), $0.1) } }
        // Keep the first of overlapping matches.
        var kept: [(NSRange, String)] = []
        for m in out.sorted(by: { $0.0.location < $1.0.location }) where !kept.contains(where: { NSIntersectionRange($0.0, m.0).length > 0 }) {
            kept.append(m)
        }
        return kept
    }

    /// Word windows of the same word count as each term, compared by edit distance.
    func fuzzy(_ text: String) -> [(NSRange, String)] {
        let ns = text as NSString
        let words = try! NSRegularExpression(pattern: #"\w+"#).matches(in: text, range: NSRange(location: 0, length: ns.length)).map(\.range)
        var out: [(NSRange, String)] = []
        for term in settings.blockedTerms {
            let n = term.split(separator: " ").count
            guard n > 0, words.count >= n, term.count >= 4 else { continue }
            for i in 0...(words.count - n) {
                let range = NSUnionRange(words[i], words[i + n - 1])
                let candidate = ns.substring(with: range).lowercased()
                if abs(candidate.count - term.count) <= settings.maxDistance,
                   Suggestion.distance(candidate, term.lowercased()) <= settings.maxDistance {
                    out.append((range, term))
                }
            }
        }
        return out
    }

    func evaluate(_ segments: inout [TextSegment], context: EvaluationContext) throws -> PolicyVerdict {
        var hits: [String] = []
        for i in segments.indices where !segments[i].isOperatorAuthored {
            let found = try matches(in: segments[i].text, deadline: context.deadline)
            guard !found.isEmpty else { continue }
            hits += found.map(\.1)
            if settings.action == .redact {
                segments[i].text = Redaction.apply(segments[i].text, found.map { ($0.0, "[REDACTED]") })
            }
        }
        guard !hits.isEmpty else { return .allow }
        let details: [(String, JSONValue)] = [("matches", .int(hits.count)), ("rules", .array(Array(Set(hits)).sorted().map { .string($0) }))]
        return PolicyVerdict(settings.action == .block ? .block : .redact, reasonCode: "dlp.match",
                             message: settings.action == .block ? "blocked by data-loss prevention rules" : "data-loss prevention rules redacted content",
                             details: details)
    }
}

/// safety-filter: blocks on terms (case-insensitive, word-bounded) or `/regex/` entries.
struct SafetyPolicy: CompiledPolicy {
    /// Each entry, its regex, and whether it is a plain term (read on the folded text).
    let rules: [(String, ConfiguredRegex, plain: Bool)]
    let longest: Int
    /// The entries that are words, not `/regex/`s.
    let plainTerms: [String]

    init(settings: SafetyFilterSettings) throws(PolicyError) {
        var r: [(String, ConfiguredRegex, plain: Bool)] = []
        for entry in settings.blockIf {
            let pattern: String
            let isRegex = entry.count >= 2 && entry.hasPrefix("/") && entry.hasSuffix("/")
            if isRegex { pattern = String(entry.dropFirst().dropLast()) }
            else { pattern = #"(?<!\w)"# + NSRegularExpression.escapedPattern(for: entry) + #"(?!\w)"# }
            guard let re = try? ConfiguredRegex(pattern: pattern, options: [.caseInsensitive]) else {
                throw PolicyError("safety-filter rule \(entry) is not a valid regular expression")
            }
            r.append((entry, re, !isRegex))
        }
        rules = r
        plainTerms = settings.blockIf.filter { !($0.count >= 2 && $0.hasPrefix("/") && $0.hasSuffix("/")) }
        longest = max(64, settings.blockIf.map(\.count).max() ?? 0)
    }

    var kind: PolicyKind { .safetyFilter }
    var maxMatchLength: Int { longest }
    func pendingTail(_ text: String) -> Int {
        guard plainTerms.count == rules.count else { return longest }
        return TextFolding.tail(text) { min(StreamTail.termPrefix($0, terms: plainTerms), longest) }
    }
    func runs(in phase: PolicyKind.Phase) -> Bool { true }

    func evaluate(_ segments: inout [TextSegment], context: EvaluationContext) throws -> PolicyVerdict {
        for s in segments where !s.isOperatorAuthored {
            let full = NSRange(location: 0, length: (s.text as NSString).length)
            let folded = TextFolding(s.text).text
            let foldedRange = NSRange(location: 0, length: (folded as NSString).length)
            for (rule, re, plain) in rules
            where try re.firstMatch(in: plain ? folded : s.text, range: plain ? foldedRange : full, deadline: context.deadline) != nil {
                return PolicyVerdict(.block, reasonCode: "safety.match", message: "blocked by safety rule", details: [("rule", .string(rule))])
            }
        }
        return .allow
    }
}

/// response-rewriter: `replace` rules rewrite matches; `prepend`/`append` add text to the answer
/// (once, on the whole answer or the end of a stream). Rewriting is not a redaction: the
/// verdict stays allow and the rules applied are recorded.
struct RewriterPolicy: CompiledPolicy {
    let rules: [(ResponseRewriterSettings.Rule, ConfiguredRegex?)]

    init(settings: ResponseRewriterSettings) throws(PolicyError) {
        var r: [(ResponseRewriterSettings.Rule, ConfiguredRegex?)] = []
        for rule in settings.rules {
            var re: ConfiguredRegex?
            if let p = rule.pattern {
                guard let compiled = try? ConfiguredRegex(pattern: p) else { throw PolicyError("response-rewriter rule '\(rule.name)' has an invalid pattern") }
                re = compiled
            }
            r.append((rule, re))
        }
        rules = r
    }

    var kind: PolicyKind { .responseRewriter }
    var maxMatchLength: Int { 64 }
    /// Prepend/append rules match nothing; only `pattern` rules need text held back.
    func pendingTail(_ text: String) -> Int { rules.contains { $0.1 != nil } ? maxMatchLength : 0 }
    func runs(in phase: PolicyKind.Phase) -> Bool { phase == .response }

    func evaluate(_ segments: inout [TextSegment], context: EvaluationContext) throws -> PolicyVerdict {
        var applied: [String] = []
        for i in segments.indices where segments[i].role == "assistant" {
            for (rule, re) in rules {
                switch rule.position {
                case .replace:
                    guard let re else { continue }
                    let rewritten = try re.replacingMatches(in: segments[i].text, template: NSRegularExpression.escapedTemplate(for: rule.replacement),
                                                            deadline: context.deadline)
                    if rewritten != segments[i].text {
                        segments[i].text = rewritten
                        applied.append(rule.name)
                    }
                case .prepend:  // every window: a stream keeps its released prefix stable
                    segments[i].text = rule.replacement + segments[i].text
                    applied.append(rule.name)
                case .append where context.isFinal:
                    segments[i].text += rule.replacement
                    applied.append(rule.name)
                default:
                    break
                }
            }
        }
        return applied.isEmpty ? .allow : PolicyVerdict(.allow, details: [("rewritten", .array(applied.map { .string($0) }))])
    }
}
