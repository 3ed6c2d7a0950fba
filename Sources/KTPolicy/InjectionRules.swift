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
        Family(name: "instruction_override", triggers: ["ignor", "disregard", "forget", "skip", "overrid", "bypass", "new instruction", "new rule", "new task", "next task", "real task", "vergiss", "missachte", "stop following", "stop obeying",
                                                      "oubli", "tiens pas compte", "olvid", "omite", "dimentic", "esque"], regexes: [
            re(#"\b(ignore|disregard|forget|skip|override|bypass)\b.{0,30}\b(all|any|every|the|your|my|these|those)?\b.{0,20}\b(previous|prior|above|earlier|preceding|original|initial|system|given)\b.{0,25}\b(instructions?|prompts?|rules|directions|guidelines|context|messages?|commands?|constraints)\b"#),
            re(#"\b(ignore|disregard|forget)\b.{0,15}\b(everything|all)\b.{0,20}\b(before|above|said|told)\b"#),
            re(#"\bnew (instructions?|rules|task)\s*:"#),
            re(#"\b(ignoriere|vergiss|missachte)\b.{0,40}\b(anweisungen|befehle|regeln|vorgaben|alles)\b"#),
            re(#"\bstop (following|obeying)\b.{0,30}\b(instructions?|rules)\b"#),
            // FR, ES, IT, PT: "ignore (all) previous instructions", "forget everything".
            re(#"\b(ignore[rz]?|oublie[rz]?|ne tiens pas compte)\b.{0,30}\b(instructions?|consignes|r[eè]gles)\b.{0,20}\b(pr[ée]c[ée]dentes?|ant[ée]rieures?|ci-dessus|donn[ée]es)\b"#),
            re(#"\b(oublie[rz]?|ignore[rz]?)\b.{0,10}\btout\b.{0,40}\b(dit|avant|ci-dessus)\b"#),
            re(#"\b(ignora[r]?|olvida[r]?|omite)\b.{0,30}\b(instrucciones|reglas|indicaciones)\b.{0,20}\b(anteriores|previas|de arriba)\b"#),
            re(#"\b(olvida[r]?|ignora[r]?)\b.{0,10}\btodo\b.{0,40}\b(dijeron|dicho|antes|anterior)\b"#),
            re(#"\b(ignora|dimentica)\b.{0,30}\b(istruzioni|regole|indicazioni)\b.{0,20}\b(precedenti|sopra|iniziali)\b"#),
            re(#"\b(dimentica|ignora)\b.{0,10}\btutto\b.{0,40}\b(detto|prima|sopra)\b"#),
            re(#"\b(ignore|ignora|esque[çc]a|esquece)\b.{0,30}\b(instru[çc][õo]es|regras)\b.{0,20}\b(anteriores|acima|pr[ée]vias)\b"#),
            re(#"\b(esque[çc]a|esquece|ignore)\b.{0,10}\btudo\b.{0,40}\b(disseram|dito|antes)\b"#),
            re(#"\b(ignoriere|vergiss)\b.{0,20}\b(vorherigen|bisherigen|obigen|alle)\b.{0,20}\b(anweisungen|instruktionen|regeln)\b"#),
            // "Great, thanks. New task: …" pivots.
            re(#"\b(your )?(new|next|real) task\b\s*(:|is\b)"#),
            re(#"\b(now|and|then)\b.{0,10}\b(forget|ignore|disregard)\b.{0,10}\b(everything|all)\b.{0,15}\b(above|before|so far)\b"#),
        ]),
        Family(name: "system_prompt_exfiltration", triggers: ["prompt", "instruction", "guideline", "rules", "above", "before", "system message", "everything",
                                                            "istruz", "instru", "regeln", "anweisung", "geheim", "versteckt", "caché", "ocult", "nascost", "confidential", "secret", "hidden", "internal"], regexes: [
            re(#"\b(reveal|show|print|repeat|output|display|leak|dump|give me|tell me|write out|recite)\b.{0,30}\b(your|the|initial|hidden|secret|original)\b.{0,20}\b(system prompt|system message|instructions|prompt|pre-?prompt|guidelines|rules)\b"#),
            re(#"\b(repeat|print|output)\b.{0,20}\b(the )?(words|text|everything) (above|before)\b"#),
            re(#"\bwhat (were|are) (your|the) (initial|original|exact|secret|hidden) (instructions|prompt)"#),
            re(#"\b(repeat|print|output|write out|copy)\b.{0,10}\beverything\b.{0,30}\b(above|before (this|my|the))\b"#),
            re(#"\b(print|output|repeat|copy)\b.{0,15}\b(the )?text above (this|the)\b"#),
            re(#"\b(output|print|reveal|show|dump|display|give me|tell me|leak)\b.{0,20}\b(confidential|hidden|secret|internal|private)\b.{0,15}\b(configuration|config|settings|instructions|rules|prompt)\b"#),
            re(#"\b(spell[- ]?check|proofread|translate|summari[sz]e|copy|repeat)\b.{0,40}\b(above|before)\b.{0,40}\b(system|hidden|initial|secret) (instructions?|prompt|message)"#),
            // DE, FR, ES, IT, PT: "show/reveal your system prompt / hidden instructions".
            re(#"\b(zeige?|gib|verrate|r[ée]v[èe]le[rz]?|affiche[rz]?|montre[rz]?|muestra[r]?|revela[r]?|mostra(re|mi)?|rivela(re)?|mostre|revele)\b.{0,30}\b(system ?prompt|prompt (du |del |di |do )?(syst[eè]me|sistema)|instructions cach[ée]es|instrucciones ocultas|istruzioni nascoste|instru[çc][õo]es ocultas|geheimen regeln|versteckten anweisungen)\b"#),
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
        // Data leaving through a URL, a mail or a tool the attacker names.
        Family(name: "exfiltration_or_tool_directive", triggers: ["![", "send", "forward", "upload", "post", "email", "e-mail", "leak", "exfiltrat", "append", "_", " tool", " function"], regexes: [
            re(#"!\[[^\]]{0,100}\]\(\s*https?://[^)\s]+\?[^)\s]*=[^)\s]*\)"#),
            re(#"!\[[^\]]{0,100}\]\(\s*https?://[^)]*(\{|%7b|\$\{)"#),
            re(#"\b(send|forward|upload|post|email|e-mail|leak|exfiltrate|append)\b.{0,60}\b(conversation|chat history|history|summary|api keys?|passwords?|credentials|secrets?|tokens?|contents?|data|files?)\b.{0,40}\b(to|into|at)\b.{0,10}(https?://|[\w.+-]+@[\w-]+\.)"#),
            // A named tool that deletes, sends or pays (a plain `call my_helper with` is a coding question).
            re(#"\b(call|invoke|run|execute|use|trigger)\b.{0,12}\b((delete|remove|drop|send|email|mail|transfer|wire|pay|upload|exec|shell|grant|reset|post)_[a-z_]+|[a-z]+_(file|files|email|mail|payment|money|funds|command|shell|password|account))\b"#),
            re(#"\b(ignore|instead of|before answering|without telling)\b.{0,60}\b(call|invoke|use|run)\b.{0,20}\b(the )?\w+ (tool|function)\b"#),
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
