import Foundation

/// Weighted rule families of the prompt-injection detector. Each family is a feature of the
/// model (its weight is learned with the n-gram weights), and its name is reported as a signal.
public enum InjectionRules {
    public struct Family: @unchecked Sendable {
        public var name: String
        fileprivate var regexes: [NSRegularExpression]
        /// The regexes can only match if one of these (lower-case) substrings occurs: a cheap
        /// byte search spares the regex engine on most texts.
        var triggers: [[UInt8]]

        init(name: String, triggers: [String], regexes: [NSRegularExpression]) {
            self.name = name
            self.triggers = triggers.map { Array($0.utf8) }
            self.regexes = regexes
        }

    }

    static func re(_ p: String) -> NSRegularExpression { try! NSRegularExpression(pattern: p, options: [.caseInsensitive]) }

    /// Applied to normalised (lower-cased, folded) text.
    public static let families: [Family] = [
        Family(name: "instruction_override", triggers: ["ignor", "disregard", "forget", "skip", "overrid", "bypass", "new instruction", "new rule", "new task", "next task", "real task", "vergiss", "missachte", "stop following", "stop obeying",
                                                      "oubli", "tiens pas compte", "olvid", "omite", "dimentic", "esque",
                                                      // The pivots' own words, specific enough that prose ("attached", "behind",
                                                      // "documents") does not wake the family's regexes.
                                                      "do not look", "do not use", "do not read", "do not consider", "don't look", "don't use",
                                                      "don't read", "don't consider", "dont look", "dont use", "dont read", "dont consider", "vergessen", "verwirf", "verwerfen", "hinter", "neue aufgabe", "neue aufgaben",
                                                      "weitere aufgaben", "nouvelle t", "nueva tarea", "nuovo compito", "nova tarefa", "leave all",
                                                      "leave any", "leave every", "put all", "put any", "put every", "set all", "set any", "set every",
                                                      "put aside", "set aside"], regexes: [
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
            // "Forget everything, write …", "ignore the above and say …": a pivot straight into a
            // new order (not "forget everything you know about sourdough and start here").
            re(#"\b(forget|ignore|disregard)\s+(about\s+)?(everything|all (of )?(that|this)|(the )?above|all (the )?(previous|prior|earlier) (information|text|content|input|messages|tasks))\s*(,|\.|;|!|:|-|and|then)\s*(now\s+|then\s+|instead\s+|just\s+|only\s+|simply\s+)*(say|tell|write|print|output|answer|respond|reply|repeat|act|pretend)\b"#),
            // A retrieval context set aside: "ignore all documents provided", "do not look in the documents given".
            re(#"\b(ignore|disregard|forget|do not (look (in|at)|use|read|consider)|don'?t (look (in|at)|use|read|consider))\s+(all\s+|any\s+)?(the\s+)?(documents?|articles?|texts?) (provided|given|above|supplied)\s*(,|\.|;|and)?\s*(i command you to |you must |instead )?(just |only |simply )?(say|output|print|write|answer (only )?with|respond (only )?with|reply (only )?with)\b"#),
            re(#"\b(leave|put|set) (all|any|every)(thing)? (the )?(previous|prior|above|earlier) (information|instructions|context|tasks?|rules) (behind|aside)\b|\b(put|set) aside (all|any|the|your) (previous|prior|above|earlier|original) (instructions|rules|guidelines)\b"#),
            // DE, FR, ES, IT, PT pivots: "lassen Sie alle vorherigen Informationen hinter sich",
            // "… neue Aufgabe:" after earlier text (a message that opens with it is a user's new
            // request), "oublie tout et dis …".
            re(#"\b(vergiss|vergessen sie|ignorier(e|en sie)?|verwirf|verwerfen sie)\b.{0,15}\b(alle[ns]?|s[äa]mtliche)\b.{0,20}\b(vorherigen|bisherigen|obigen|fr[üu]heren|vorangegangenen)\s*(informationen|anweisungen|aufgaben|instruktionen|befehle|vorgaben|texte?|kontext)\b|\blass(e|t|en sie)?\b.{0,10}\b(alle[ns]?|s[äa]mtliche)\b.{0,20}\b(vorherigen|bisherigen|obigen|fr[üu]heren)\s*(informationen|anweisungen|aufgaben|instruktionen|befehle|vorgaben)\b.{0,10}\bhinter (dir|sich|euch)\b"#),
            re(#"[.!?"»)]\s*(neue aufgabe|nouvelle t[âa]che|nueva tarea|nuovo compito|nova tarefa)\s*:|\b(nun|jetzt) folgen (weitere|neue) aufgaben\b"#),
            re(#"\b(oublie[rz]?|ignore[rz]?) tout\b.{0,10}\b(et|puis|maintenant)\b.{0,10}\b(dis|[ée]cris|r[ée]ponds|affiche|traduis)\b|\b(olvida|ignora) todo\b.{0,10}\b(y|ahora|luego)\b.{0,10}\b(di|dime|escribe|responde|muestra)\b|\b(dimentica|ignora) tutto\b.{0,10}\b(e|ora|poi)\b.{0,10}\b(di|dimmi|scrivi|rispondi|mostra)\b|\b(esque[çc]a|esquece|ignore) tudo\b.{0,10}\b(e|agora|depois)\b.{0,10}\b(diga|diz|escreva|responda|mostre)\b|\b(vergiss|ignoriere) alles\b.{0,10}\b(und|jetzt|dann|nun)\b.{0,10}\b(sag|schreib|antworte|gib|zeig)"#),
        ]),
        Family(name: "system_prompt_exfiltration", triggers: ["prompt", "instruction", "guideline", "rules", "above", "before", "system message", "everything",
                                                            "istruz", "instru", "regeln", "anweisung", "geheim", "versteckt", "caché", "ocult", "nascost", "confidential", "secret", "hidden", "internal"], regexes: [
            // "repeat the instructions for the recipe" and "show the rules of chess" are not about the model's own.
            re(#"\b(reveal|show|print|repeat|output|display|leak|dump|give me|tell me|write out|recite)\b.{0,30}\b(your|initial|hidden|secret|original)\b.{0,20}\b(system prompt|system message|instructions|prompt|pre-?prompt|guidelines|rules)\b"#),
            re(#"\b(reveal|show|print|repeat|output|display|leak|dump|give me|tell me|write out|recite)\b.{0,30}\bthe\b.{0,20}\b(system prompt|system message|pre-?prompt)\b|\b(reveal|show|print|repeat|output|display|leak|dump|give me|tell me|write out|recite)\b.{0,30}\bthe\b.{0,20}\b(instructions|prompt|guidelines|rules)\b(?!\s+(for|of|on|about|to|in|from)\b)"#),
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
        // A model declared free of its limits: what jailbreak templates share and role-play
        // prompts ("act as a travel guide") lack. Bare "dan" is a name, so only its jailbreak uses.
        Family(name: "restriction_removal", triggers: ["unfilter", "uncensor", "unrestrict", "amoral", "unethical", "immoral", "jailbr", "restriction", "limit", "rules",
                                                     "filter", "boundar", "censor", "moral", "ethic", "confines", "refus", "declin", "say no", "content polic", "dan",
                                                     "developer mode", "character", "anything now", "not bound", "guideline", "einschr", "regeln", "zensur", "restri",
                                                     "limite", "filtr", "censur", "grenzen", "regle", "r\u{E8}gle", "regla", "regole", "regras", "l\u{ED}mite",
                                                     "constraint", "shackle", "from its programming", "from your programming", "from their programming",
                                                     "from his programming", "from her programming"], regexes: [
            re(#"\b(unfiltered|uncensored|unrestricted|amoral|unethical|immoral|jailbr(oken|eak|eaked|eaking))\b"#),
            re(#"\bfree(s|d|ing)? (yourself|itself|themselves|himself|herself|you|it|him|her|them) (from|of) (all |any |the |its |your |their )?(restrictions|limits|limitations|rules|filters|constraints|shackles|programming|guidelines)\b"#),
            re(#"\b(no|without( any)?|free(d)? (from|of)( the| all| any)?( typical| usual)?|not bound by( any)?)\s+(restrictions|limits|limitations|rules|filters|boundaries|censorship|morals|ethics|ethical|moral|confines|guidelines)\b"#),
            re(#"\b(never|won'?t|will not|cannot|can'?t|doesn'?t|does not|don'?t|do not)\b.{0,15}\b(refuse|decline|say no)\b"#),
            re(#"\bcontent polic(y|ies)\b"#),
            re(#"\b(you are|you're|act as|called|named|persona( of)?)\s+dan\b|\bdan\b.{0,20}\b(mode|prompt|jailbreak)\b|\bdo anything now\b|\bdeveloper mode\b"#),
            re(#"\b(stay|staying|remain|remaining) in character\b|\bbreak(ing)? (out of )?character\b"#),
            // DE, FR, ES, IT, PT: "without restrictions / filters / censorship / rules".
            re(#"\b(ohne|keine)\s+(einschr[äa]nkungen|regeln|filter|zensur|grenzen)\b|\b(sans|aucune?s?)\s+(restrictions?|limites?|filtres?|censure|r[èe]gles?)\b|\b(sin|ning[uú]n[ao]?s?)\s+(restricciones|l[íi]mites|filtros|censura|reglas)\b|\b(senza|nessun[ao]?)\s+(restrizioni|limiti|filtri|censura|regole)\b|\b(sem|nenhum[ao]?s?)\s+(restri[çc][õo]es|limites|filtros|censura|regras)\b"#),
        ]),
        // The framing jailbreak templates share besides restriction removal: answers stripped of
        // disclaimers, a "mode" or "override" switched on, a model "not bound by" anything.
        // Learned like the n-grams (a style, not proof: "no disclaimers" is also a house style).
        Family(name: "jailbreak_framing", triggers: ["disclaimers", "warnings", "override", "you are now", "bound by", "restricted by", "limited by", "constrained by"], regexes: [
            re(#"\b(no|without( any)?|skip( all| the)?|omit( all| the)?|remove( all| the)?) (safety |ethical |moral )?(disclaimers|warnings)\b"#),
            // (an elevator's "emergency override" or a lathe's "safety override" is hardware, not a switch on the model)
            re(#"\bsystem override\b|\b(safety|security) override (active|activated|enabled|engaged|initiated)\b|\boverride (mode|protocol)\b"#),
            re(#"\byou are now (in|operating in|running in) (a |an )?[a-z0-9_ -]{2,30} mode\b"#),
            re(#"\b(you are|you're|you will be|it is|is|are)\s+(no longer|not)\s+(bound|restricted|limited|constrained)\s+by\s+(any\s+|the\s+|your\s+|its\s+|openai'?s?\s+|typical\s+|usual\s+|traditional\s+)*(rules|restrictions|guidelines|polic(y|ies)|ethics|ethical|moral|morals|filters|limits|limitations|content|programming)\b"#),
        ]),
    ]

    /// All triggers in one buffer, with a bitmap of their first two bytes: one pass over a
    /// text finds the families whose regexes can match (a search per trigger read the text ~60
    /// times), and most positions are dismissed by one bit.
    struct TriggerIndex: Sendable {
        var bytes: [UInt8] = []
        /// Per trigger: family, start in `bytes`, length.
        var triggers: [(family: Int, start: Int, count: Int)] = []
        /// Per first byte: the range of `triggers` that begin with it (they are sorted by it).
        var byFirst = [Range<Int>](repeating: 0..<0, count: 256)
        /// Bit (first << 8 | second) is set when a trigger starts with those two bytes.
        var pairs = [UInt64](repeating: 0, count: 65536 / 64)
        var oneByte = [Bool](repeating: false, count: 256)

        init(_ families: [Family]) {
            var all: [(Int, [UInt8])] = []
            for (k, f) in families.enumerated() { for t in f.triggers where !t.isEmpty { all.append((k, t)) } }
            all.sort { $0.1[0] < $1.1[0] }
            for (k, t) in all {
                triggers.append((k, bytes.count, t.count))
                bytes += t
                if t.count == 1 { oneByte[Int(t[0])] = true } else {
                    let p = Int(t[0]) << 8 | Int(t[1])
                    pairs[p >> 6] |= 1 << UInt64(p & 63)
                }
            }
            var i = 0
            while i < all.count {
                var j = i
                while j < all.count && all[j].1[0] == all[i].1[0] { j += 1 }
                byFirst[Int(all[i].1[0])] = i..<j
                i = j
            }
        }
    }

    static let triggerIndex = TriggerIndex(families)

    /// Per family: does one of its triggers occur in `bytes`?
    static func candidates(_ bytes: [UInt8]) -> [Bool] {
        var found = [Bool](repeating: false, count: families.count)
        var remaining = families.count
        let index = triggerIndex
        bytes.withUnsafeBufferPointer { h in
            index.bytes.withUnsafeBufferPointer { tb in
                index.pairs.withUnsafeBufferPointer { pairs in
                    var i = 0
                    while i < h.count {
                        let first = Int(h[i])
                        let pair = i + 1 < h.count ? first << 8 | Int(h[i + 1]) : -1
                        if index.oneByte[first] || (pair >= 0 && pairs[pair >> 6] & (1 << UInt64(pair & 63)) != 0) {
                            for t in index.triggers[index.byFirst[first]] where !found[t.family] && t.count <= h.count - i {
                                var m = 1
                                while m < t.count && h[i + m] == tb[t.start + m] { m += 1 }
                                if m == t.count {
                                    found[t.family] = true
                                    remaining -= 1
                                    if remaining == 0 { return }
                                }
                            }
                        }
                        i += 1
                    }
                }
            }
        }
        return found
    }

    /// Every match as (family index, UTF-16 range), so chunks can reuse one pass over the text.
    public static func matchRanges(_ normalized: String) -> [(Int, NSRange)] {
        let full = NSRange(location: 0, length: (normalized as NSString).length)
        var out: [(Int, NSRange)] = []
        let may = candidates(Array(normalized.utf8))
        for (k, f) in families.enumerated() where may[k] {
            for r in f.regexes { for m in r.matches(in: normalized, range: full) { out.append((k, m.range)) } }
        }
        return out
    }

    /// Names of the families that match.
    public static func matches(_ normalized: String) -> [String] {
        let full = NSRange(location: 0, length: (normalized as NSString).length)
        let may = candidates(Array(normalized.utf8))
        return families.indices.filter { k in may[k] && families[k].regexes.contains { $0.firstMatch(in: normalized, range: full) != nil } }
            .map { families[$0].name }
    }
}
