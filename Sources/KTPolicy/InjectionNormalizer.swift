import Foundation

/// Normalisation before scoring: NFKC, invisible/format characters stripped (and counted),
/// homoglyphs folded to Latin, case folded, whitespace collapsed; base64 and hex payloads
/// decoded so what they hide is scanned too.
public struct InjectionNormalizer: Sendable {
    public var normalizeUnicode = true
    public var foldHomoglyphs = true
    public var decodePayloads = true

    public init(normalizeUnicode: Bool = true, foldHomoglyphs: Bool = true, decodePayloads: Bool = true) {
        self.normalizeUnicode = normalizeUnicode
        self.foldHomoglyphs = foldHomoglyphs
        self.decodePayloads = decodePayloads
    }

    public struct Output: Sendable {
        public var text: String
        public var invisibleCount: Int
        public var homoglyphCount: Int
        /// Text recovered from base64/hex payloads (already normalised).
        public var decoded: [String]
        /// The text with a character-level evasion undone (spaced-out letters joined, leetspeak
        /// read as letters), scored as well; the text itself is scored unchanged.
        public var variants: [String] = []
    }

    /// Cyrillic and Greek letters that render like Latin ones.
    static let homoglyphs: [Character: Character] = [
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "һ": "h", "ԁ": "d",
        "ɡ": "g", "ո": "n", "ν": "v", "ο": "o", "α": "a", "ε": "e", "ι": "i", "κ": "k", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
        "А": "a", "В": "b", "Е": "e", "К": "k", "М": "m", "Н": "h", "О": "o", "Р": "p", "С": "c", "Т": "t", "Х": "x", "І": "i",
        "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n", "Ο": "o", "Ρ": "p", "Τ": "t",
        "Υ": "y", "Χ": "x", "ı": "i", "ℓ": "l", "０": "0", "１": "1",
    ]

    public func normalize(_ input: String) -> Output {
        let ascii = input.utf8.allSatisfy { $0 < 128 }
        // NFKC is the identity on ASCII; skip the bridge for the common case.
        var text = normalizeUnicode && !ascii ? input.precomposedStringWithCompatibilityMapping : input
        var invisible = 0, homoglyph = 0
        var out = String.UnicodeScalarView()
        var lastWasSpace = false
        for scalar in text.unicodeScalars {
            let v = scalar.value
            if v < 128 {
                if v <= 32 || v == 127 {
                    if !lastWasSpace { out.append(" ") }
                    lastWasSpace = true
                } else {
                    lastWasSpace = false
                    out.append(scalar)
                }
                continue
            }
            // Unicode tag characters spell ASCII invisibly ("ASCII smuggling"): read them as the
            // letters they encode.
            if (0xE0020...0xE007E).contains(v), let ascii = Unicode.Scalar(v - 0xE0000) {
                invisible += 1
                lastWasSpace = ascii == " "
                out.append(ascii)
                continue
            }
            // Format characters (zero-width, bidi controls, tags) and variation selectors.
            if scalar.properties.generalCategory == .format || (0xFE00...0xFE0F).contains(v) || (0xE0000...0xE007F).contains(v) {
                invisible += 1
                continue
            }
            if scalar.properties.isWhitespace || scalar.properties.generalCategory == .control {
                if !lastWasSpace { out.append(" ") }
                lastWasSpace = true
                continue
            }
            lastWasSpace = false
            if foldHomoglyphs, let folded = Self.homoglyphs[Character(scalar)] {
                homoglyph += 1
                out.append(contentsOf: String(folded).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        text = String(out).lowercased()
        var decoded: [String] = []
        if decodePayloads {
            for payload in Self.payloads(in: String(input.unicodeScalars.filter { !$0.properties.isWhitespace || $0 == " " })) {
                let inner = InjectionNormalizer(normalizeUnicode: normalizeUnicode, foldHomoglyphs: foldHomoglyphs, decodePayloads: false)
                decoded.append(inner.normalize(payload).text)
            }
        }
        var variants: [String] = []
        if decodePayloads, let joined = Self.joiningSpacedLetters(input) {
            let inner = InjectionNormalizer(normalizeUnicode: normalizeUnicode, foldHomoglyphs: foldHomoglyphs, decodePayloads: false)
            variants.append(inner.normalize(joined).text)
        }
        if let letters = Self.readingLeetspeak(variants.first ?? text) { variants.append(letters) }
        return Output(text: text, invisibleCount: invisible, homoglyphCount: homoglyph, decoded: decoded, variants: variants)
    }

    /// A word spelt out character by character ("i g n o r e", "q u ' o n"): single characters
    /// with one space between them. Words of such a sentence are usually kept apart by two
    /// spaces, which this leaves alone.
    static let spacedWord = try! NSRegularExpression(pattern: #"(?<!\S)(?:\S ){1,}\S(?!\S)"#)
    static let spacedLongWord = try! NSRegularExpression(pattern: #"(?<!\S)(?:\S ){3,}\S(?!\S)"#)

    /// The raw text with each spelt-out word joined; nil unless it spells out at least one word
    /// of four or more characters (two single letters in a row are ordinary text).
    static func joiningSpacedLetters(_ text: String) -> String? {
        // One cheap pass first: four single-character tokens in a row (most texts have none).
        var run = 0, tokenLength = 0, found = false
        for b in text.utf8 {
            if b == 32 {
                if tokenLength == 1 { run += 1; if run >= 4 { found = true; break } } else if tokenLength > 1 { run = 0 }
                tokenLength = 0
            } else if b & 0xC0 != 0x80 {
                tokenLength += 1   // counts characters, not UTF-8 continuation bytes
            }
        }
        if !found, tokenLength == 1, run >= 3 { found = true }
        guard found else { return nil }
        let ns = text as NSString
        let full = NSRange(location: 0, length: ns.length)
        guard spacedLongWord.firstMatch(in: text, range: full) != nil else { return nil }
        var out = "", last = 0
        for m in spacedWord.matches(in: text, range: full) {
            out += ns.substring(with: NSRange(location: last, length: m.range.location - last))
            out += ns.substring(with: m.range).filter { $0 != " " }
            last = m.range.location + m.range.length
        }
        out += ns.substring(from: last)
        return out
    }

    static let leet: [Character: Character] = ["4": "a", "@": "a", "3": "e", "1": "i", "!": "i", "0": "o", "5": "s", "$": "s", "7": "t", "|": "l"]

    /// Words that mix letters with the digits and signs of leetspeak ("1gn0r3") read as letters;
    /// nil unless at least three words do (a product name such as "b2b" or "h264" alone is not it).
    static func readingLeetspeak(_ text: String) -> String? {
        // One cheap pass first: words mixing ASCII letters with leet signs (most texts have none).
        var candidates = 0, letter = false, sign = false
        for b in text.utf8 {
            if b == 32 {
                if letter && sign { candidates += 1 }
                letter = false; sign = false
            } else if (97...122).contains(b) { letter = true }
            else if b == 52 || b == 64 || b == 51 || b == 49 || b == 33 || b == 48 || b == 53 || b == 36 || b == 55 || b == 124 { sign = true }
        }
        if letter && sign { candidates += 1 }
        guard candidates >= 3 else { return nil }
        var mixed = 0
        let words = text.split(separator: " ", omittingEmptySubsequences: false).map { word -> String in
            let hasLetter = word.contains { $0.isLetter }
            let leetCount = word.filter { leet[$0] != nil }.count
            guard hasLetter, leetCount > 0, word.count >= 2 else { return String(word) }
            mixed += 1
            return String(word.map { leet[$0] ?? $0 })
        }
        return mixed >= 3 ? words.joined(separator: " ") : nil
    }

    static let base64Run = try! NSRegularExpression(pattern: #"[A-Za-z0-9+/]{20,}={0,2}"#)
    static let hexRun = try! NSRegularExpression(pattern: #"(?:[0-9a-fA-F]{2}){12,}"#)

    /// Decoded base64/hex runs that are mostly readable text.
    static func payloads(in text: String) -> [String] {
        let ns = text as NSString
        let full = NSRange(location: 0, length: ns.length)
        var out: [String] = []
        for m in base64Run.matches(in: text, range: full).prefix(16) {
            var s = ns.substring(with: m.range)
            while s.count % 4 != 0 { s += "=" }
            if let data = Data(base64Encoded: s), let t = readable(data) { out.append(t) }
        }
        for m in hexRun.matches(in: text, range: full).prefix(16) {
            let hex = Array(ns.substring(with: m.range).utf8)
            var bytes: [UInt8] = []
            var i = 0
            while i + 1 < hex.count {
                guard let b = UInt8(String(decoding: hex[i...i + 1], as: UTF8.self), radix: 16) else { break }
                bytes.append(b)
                i += 2
            }
            if let t = readable(Data(bytes)) { out.append(t) }
        }
        return out
    }

    static func readable(_ data: Data) -> String? {
        guard data.count >= 8, let s = String(data: data, encoding: .utf8) else { return nil }
        let letters = s.unicodeScalars.filter { $0.properties.isAlphabetic || $0 == " " }.count
        return Double(letters) / Double(max(1, s.unicodeScalars.count)) > 0.7 ? s : nil
    }
}
