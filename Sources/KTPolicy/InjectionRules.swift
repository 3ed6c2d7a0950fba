import Foundation

/// Weighted rule families of the prompt-injection detector. Each family is a feature of the
/// model (its weight is learned with the n-gram weights), and its name is reported as a signal.
public enum InjectionRules {
    public struct Family: @unchecked Sendable {
        public var name: String
        fileprivate var regexes: [NSRegularExpression]
        /// The regexes can only match if one of these (lower-case) substrings occurs: a cheap
        /// byte search spares the regex engine on most texts.
        fileprivate var triggers: [[UInt8]]

        init(name: String, triggers: [String], regexes: [NSRegularExpression]) {
            self.name = name
            self.triggers = triggers.map { Array($0.utf8) }
            self.regexes = regexes
        }

        func mayMatch(_ bytes: [UInt8]) -> Bool {
            triggers.contains { InjectionRules.contains(bytes, $0) }
        }
    }

    static func re(_ p: String) -> NSRegularExpression { try! NSRegularExpression(pattern: p, options: [.caseInsensitive]) }

    /// Applied to normalised (lower-cased, folded) text.
    public static let families: [Family] = [
        Family(name: "instruction_override", triggers: ["ignor", "disregard", "forget", "skip", "overrid", "bypass", "new instruction", "new rule", "new task", "vergiss", "missachte", "stop following", "stop obeying"], regexes: [
            re(#"\b(ignore|disregard|forget|skip|override|bypass)\b.{0,30}\b(all|any|every|the|your|my|these|those)?\b.{0,20}\b(previous|prior|above|earlier|preceding|original|initial|system|given)\b.{0,25}\b(instructions?|prompts?|rules|directions|guidelines|context|messages?|commands?|constraints)\b"#),
            re(#"\b(ignore|disregard|forget)\b.{0,15}\b(everything|all)\b.{0,20}\b(before|above|said|told)\b"#),
            re(#"\bnew (instructions?|rules|task)\s*:"#),
            re(#"\b(ignoriere|vergiss|missachte)\b.{0,40}\b(anweisungen|befehle|regeln|vorgaben|alles)\b"#),
            re(#"\bstop (following|obeying)\b.{0,30}\b(instructions?|rules)\b"#),
        ]),
        Family(name: "system_prompt_exfiltration", triggers: ["prompt", "instruction", "guideline", "rules", "above", "before", "system message"], regexes: [
            re(#"\b(reveal|show|print|repeat|output|display|leak|dump|give me|tell me|write out|recite)\b.{0,30}\b(your|the|initial|hidden|secret|original)\b.{0,20}\b(system prompt|system message|instructions|prompt|pre-?prompt|guidelines|rules)\b"#),
            re(#"\b(repeat|print|output)\b.{0,20}\b(the )?(words|text|everything) (above|before)\b"#),
            re(#"\bwhat (were|are) (your|the) (initial|original|exact|secret|hidden) (instructions|prompt)"#),
        ]),
        Family(name: "persona_switch", triggers: ["you are", "you're", "act as", "pretend", "roleplay", " mode", "anything now", "ethical", "moral", "safety", "content", "character"], regexes: [
            re(#"\b(you are|you're|act as|pretend to be|roleplay as|from now on you are)\b.{0,40}\b(dan|jailbr(o|ea)ken|unrestricted|unfiltered|uncensored|evil|without (any )?(restrictions|limits|filters|rules|guidelines))\b"#),
            re(#"\b(developer|god|jailbreak|dan|debug|sudo|admin) mode\b"#),
            re(#"\bdo anything now\b"#),
            re(#"\b(no|without|ignore) (ethical|moral|safety|content) (guidelines|restrictions|filters|policies|constraints)\b"#),
            re(#"\bstay in character\b"#),
        ]),
        Family(name: "fake_role_delimiter", triggers: ["<|", "inst]", "<<sys", "<s>", "</s>", "##", "system", "assistant"], regexes: [
            re(#"<\|(im_start|im_end|system|endoftext|start_header_id|end_header_id|eot_id)\|>"#),
            re(#"\[/?inst\]|<<\/?sys>>|<\/?s>"#),
            re(#"(^|\s)#{2,}\s*(system|instruction|new instructions?)\b"#),
            re(#"(^|\n|\s)(system|assistant)\s*:\s*(you|ignore|new|the user)"#),
        ]),
        Family(name: "markdown_image_exfiltration", triggers: ["!["], regexes: [
            re(#"!\[[^\]]{0,100}\]\(\s*https?://[^)\s]+\?[^)\s]*=[^)\s]*\)"#),
            re(#"!\[[^\]]{0,100}\]\(\s*https?://[^)]*(\{|%7b|\$\{)"#),
        ]),
    ]

    static func contains(_ hay: [UInt8], _ needle: [UInt8]) -> Bool {
        guard let first = needle.first, hay.count >= needle.count else { return false }
        return hay.withUnsafeBufferPointer { h in
            needle.withUnsafeBufferPointer { n in
                var i = 0
                let last = h.count - n.count
                while i <= last {
                    if h[i] == first {
                        var k = 1
                        while k < n.count && h[i + k] == n[k] { k += 1 }
                        if k == n.count { return true }
                    }
                    i += 1
                }
                return false
            }
        }
    }

    /// Every match as (family index, UTF-16 range), so chunks can reuse one pass over the text.
    public static func matchRanges(_ normalized: String) -> [(Int, NSRange)] {
        let full = NSRange(location: 0, length: (normalized as NSString).length)
        var out: [(Int, NSRange)] = []
        let bytes = Array(normalized.utf8)
        for (k, f) in families.enumerated() where f.mayMatch(bytes) {
            for r in f.regexes { for m in r.matches(in: normalized, range: full) { out.append((k, m.range)) } }
        }
        return out
    }

    /// Names of the families that match.
    public static func matches(_ normalized: String) -> [String] {
        let full = NSRange(location: 0, length: (normalized as NSString).length)
        let bytes = Array(normalized.utf8)
        return families.filter { f in f.mayMatch(bytes) && f.regexes.contains { $0.firstMatch(in: normalized, range: full) != nil } }.map(\.name)
    }
}
