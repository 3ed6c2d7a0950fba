/// How much of a stream's text so far could still become (part of) a match once more text
/// arrives. A stream releases everything before that tail, so plain prose flows chunk by chunk
/// while a card number, an address or a blocked term split across chunks is held until it is
/// whole and judged. Each function returns a count of trailing characters; every recogniser
/// whose shape it does not know falls back to its longest match (`maxMatchLength`).
public enum StreamTail {
    static func isDigit(_ c: Character) -> Bool { c.isASCII && c.isNumber }
    static func isASCIIAlnum(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber) }

    /// The trailing run of characters from `allowed` that holds at least one digit, counted from
    /// its first digit or `opener` (a '+' or '(' before a phone number): card numbers, SSNs,
    /// IPv4 addresses and phone numbers are digits and separators only.
    static func digitRun(_ text: String, allowed: (Character) -> Bool, opener: (Character) -> Bool = { _ in false }) -> Int {
        var length = 0, fromFirstDigit = 0
        for c in text.reversed() {
            guard allowed(c) || isDigit(c) || opener(c) else { break }
            length += 1
            if isDigit(c) || opener(c) { fromFirstDigit = length }
        }
        // Only separators: a match cannot start in them (every recogniser starts with a digit or opener).
        if fromFirstDigit == 0 {
            // A lone '+' or '(' may be the first character of a phone number.
            if let last = text.last, opener(last) { return 1 }
            return 0
        }
        return fromFirstDigit
    }

    /// Card numbers: digits with single spaces or dashes between them.
    static func card(_ text: String) -> Int { digitRun(text, allowed: { $0 == " " || $0 == "-" }) }

    /// SSNs: digits with dashes or spaces; IPv4: digits and dots.
    static func ssn(_ text: String) -> Int { card(text) }
    static func ipv4(_ text: String) -> Int { digitRun(text, allowed: { $0 == "." }) }

    /// Phone numbers: digits, spaces, '.', '-', parentheses and a leading '+', optionally
    /// followed by an extension ("x12", "ext. 12") that may still be arriving.
    static func phone(_ text: String) -> Int {
        var body = Substring(text)
        var extensionLength = 0
        // Strip a trailing, possibly partial, extension: digits, then "x" / "ext" / "ext.", around spaces.
        var probe = body
        while let c = probe.last, isDigit(c) { probe.removeLast() }
        if probe.last == " " { probe.removeLast() }
        for marker in ["ext.", "ext", "ex", "e", "x"] where probe.lowercased().hasSuffix(marker) {
            var before = probe.dropLast(marker.count)
            if before.last == " " { before.removeLast() }
            if let d = before.last, isDigit(d) {
                extensionLength = body.count - before.count
                body = before
            }
            break
        }
        let run = digitRun(String(body), allowed: { " .-()".contains($0) }, opener: { $0 == "+" || $0 == "(" })
        return run == 0 ? (extensionLength > 0 ? 0 : run) : run + extensionLength
    }

    /// E-mail addresses: the trailing run of address characters (the local part may be arriving).
    static func email(_ text: String) -> Int {
        var n = 0
        for c in text.reversed() {
            guard isASCIIAlnum(c) || "._%+-@".contains(c) else { break }
            n += 1
        }
        return n
    }

    /// IPv6: hex digits, ':' and '.' (an IPv4 tail).
    static func ipv6(_ text: String) -> Int {
        var n = 0
        for c in text.reversed() {
            guard c.isHexDigit && c.isASCII || c == ":" || c == "." else { break }
            n += 1
        }
        return n
    }

    /// IBANs: two letters, two digits, then up to 30 letters or digits in groups of single
    /// spaces, starting at a word boundary. The tail is such a run reaching the end, or the
    /// beginning of one (one or two letters, or two letters and a digit).
    static func iban(_ text: String) -> Int {
        // Longest IBAN: 34 characters and 8 spaces; one more for the boundary before it.
        let chars = Array(text.suffix(43))
        let atTextStart = text.suffix(44).count <= chars.count
        var best = 0
        for start in chars.indices.reversed() {
            let boundary = start == 0 ? atTextStart : !isASCIIAlnum(chars[start - 1])
            guard boundary, isASCIIAlnum(chars[start]), couldStartIBAN(chars[start...]) else { continue }
            best = chars.count - start
        }
        return best
    }

    private static func couldStartIBAN(_ s: ArraySlice<Character>) -> Bool {
        var i = s.startIndex
        // Two letters.
        for _ in 0..<2 {
            guard i < s.endIndex else { return true }
            guard s[i].isASCII, s[i].isLetter else { return false }
            i += 1
        }
        // Two check digits.
        for _ in 0..<2 {
            guard i < s.endIndex else { return true }
            guard isDigit(s[i]) else { return false }
            i += 1
        }
        // Alphanumerics with single spaces between them.
        var previousSpace = false
        var count = 0
        while i < s.endIndex {
            let c = s[i]
            if c == " " {
                if previousSpace { return false }
                previousSpace = true
            } else if isASCIIAlnum(c) {
                previousSpace = false
                count += 1
                if count > 30 { return false }
            } else {
                return false
            }
            i += 1
        }
        return true
    }

    /// Blocked terms matched case-insensitively between word boundaries: the longest suffix that
    /// is a prefix of a term (or a whole term, which a following letter would still undo) and
    /// starts at a word boundary.
    static func termPrefix(_ text: String, terms: [String]) -> Int {
        guard let longest = terms.map(\.count).max(), longest > 0 else { return 0 }
        let tail = Array(text.suffix(longest + 1))
        let atTextStart = text.suffix(longest + 2).count <= tail.count
        var best = 0
        for term in terms {
            let t = Array(term.lowercased())
            for k in stride(from: min(t.count, tail.count), to: best, by: -1) {
                let start = tail.count - k
                // The term must begin at a word boundary (the policies' (?<!\w)).
                let boundary = start == 0 ? atTextStart : !isWordCharacter(tail[start - 1])
                guard boundary, zip(tail[start...], t[0..<k]).allSatisfy({ $0.lowercased() == String($1) }) else { continue }
                best = k
                break
            }
        }
        return best
    }

    public static func isWordCharacter(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" }
}
