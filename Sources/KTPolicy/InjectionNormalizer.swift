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
        let ascii = input.utf8.withContiguousStorageIfAvailable { $0.allSatisfy { $0 < 128 } } ?? input.utf8.allSatisfy { $0 < 128 }
        var text: String
        var invisible = 0, homoglyph = 0
        if ascii {
            // NFKC is the identity on ASCII, and there is nothing to fold: collapse controls and
            // whitespace to one space and lower-case, byte by byte.
            var out: [UInt8] = []
            out.reserveCapacity(input.utf8.count)
            var lastWasSpace = false
            for v in input.utf8 {
                if v <= 32 || v == 127 {
                    if !lastWasSpace { out.append(32) }
                    lastWasSpace = true
                } else {
                    lastWasSpace = false
                    out.append(v >= 65 && v <= 90 ? v + 32 : v)
                }
            }
            text = String(decoding: out, as: UTF8.self)
        } else {
            var out: [UInt8] = []
            out.reserveCapacity(input.utf8.count)
            var lastWasSpace = false
            let source = normalizeUnicode ? input.precomposedStringWithCompatibilityMapping : input
            for scalar in source.unicodeScalars {
                let v = scalar.value
                if v < 128 {
                    if v <= 32 || v == 127 {
                        if !lastWasSpace { out.append(32) }
                        lastWasSpace = true
                    } else {
                        lastWasSpace = false
                        out.append(UInt8(v))
                    }
                    continue
                }
                // Unicode tag characters spell ASCII invisibly ("ASCII smuggling"): read them as the
                // letters they encode.
                if (0xE0020...0xE007E).contains(v) {
                    invisible += 1
                    lastWasSpace = v == 0xE0020
                    out.append(UInt8(v - 0xE0000))
                    continue
                }
                // Format characters (zero-width, bidi controls, tags) and variation selectors.
                if scalar.properties.generalCategory == .format || (0xFE00...0xFE0F).contains(v) || (0xE0000...0xE007F).contains(v) {
                    invisible += 1
                    continue
                }
                if scalar.properties.isWhitespace || scalar.properties.generalCategory == .control {
                    if !lastWasSpace { out.append(32) }
                    lastWasSpace = true
                    continue
                }
                lastWasSpace = false
                if foldHomoglyphs, let folded = Self.homoglyphs[Character(scalar)] {
                    homoglyph += 1
                    out.append(contentsOf: String(folded).utf8)
                } else {
                    out.append(contentsOf: String(scalar).utf8)
                }
            }
            text = String(decoding: out, as: UTF8.self).lowercased()
        }
        var decoded: [String] = []
        if decodePayloads {
            // Payloads may be wrapped over lines: whitespace other than a space is dropped first.
            let joined = ascii ? (input.utf8.contains { (9...13).contains($0) } ? String(decoding: input.utf8.filter { !(9...13).contains($0) }, as: UTF8.self) : input)
                : String(input.unicodeScalars.filter { $0 == " " || !$0.properties.isWhitespace })
            for payload in Self.payloads(in: joined) {
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

    static let shortLeetWord = 3
    static let leet: [Character: Character] = ["4": "a", "@": "a", "3": "e", "1": "i", "!": "i", "0": "o", "5": "s", "$": "s", "7": "t", "|": "l"]

    /// Words that mix letters with the digits and signs of leetspeak ("1gn0r3") read as letters;
    /// nil unless at least three words do (a product name such as "b2b" or "h264" alone is not it).
    /// In such a text a short word of leet signs alone ("70", "4") is read too: "to", "a".
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
        if let bytes = text.utf8.withContiguousStorageIfAvailable({ $0.allSatisfy { $0 < 128 } ? Array($0) : nil }), let bytes {
            return readingLeetspeak(ascii: bytes)
        }
        return readingLeetspeak(characters: text)
    }

    /// `readingLeetspeak` on any text, character by character.
    static func readingLeetspeak(characters text: String) -> String? {
        var mixed = 0
        let words = text.split(separator: " ", omittingEmptySubsequences: false).map { word -> String in
            let hasLetter = word.contains { $0.isLetter }
            let leetCount = word.filter { leet[$0] != nil }.count
            if !hasLetter, leetCount == word.count, word.count <= Self.shortLeetWord { return String(word.map { leet[$0] ?? $0 }) }
            guard hasLetter, leetCount > 0, word.count >= 2 else { return String(word) }
            mixed += 1
            return String(word.map { leet[$0] ?? $0 })
        }
        return mixed >= 3 ? words.joined(separator: " ") : nil
    }

    /// `readingLeetspeak` on ASCII bytes (a character is a byte): the same words, no `Character`s.
    static func readingLeetspeak(ascii bytes: [UInt8]) -> String? {
        @inline(__always) func letter(_ b: UInt8) -> UInt8? {
            switch b {
            case 52, 64: return 97       // 4 @ → a
            case 51: return 101          // 3 → e
            case 49, 33: return 105      // 1 ! → i
            case 48: return 111          // 0 → o
            case 53, 36: return 115      // 5 $ → s
            case 55: return 116          // 7 → t
            case 124: return 108         // | → l
            default: return nil
            }
        }
        var out = bytes
        var mixed = 0, start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 32 { end += 1 }
            var hasLetter = false, leet = 0
            for b in bytes[start..<end] {
                if (b >= 65 && b <= 90) || (b >= 97 && b <= 122) { hasLetter = true } else if letter(b) != nil { leet += 1 }
            }
            if hasLetter, leet > 0, end - start >= 2 {
                mixed += 1
                for k in start..<end { if let l = letter(bytes[k]) { out[k] = l } }
            } else if !hasLetter, leet == end - start, leet > 0, leet <= Self.shortLeetWord {
                for k in start..<end { if let l = letter(bytes[k]) { out[k] = l } }
            }
            start = end + 1
        }
        return mixed >= 3 ? String(decoding: out, as: UTF8.self) : nil
    }

    /// Decoded base64/hex runs that are mostly readable text. Found by one scan each (what the
    /// regexes `[A-Za-z0-9+/]{20,}={0,2}` and `(?:[0-9a-fA-F]{2}){12,}` find, at most 16 each):
    /// every text pays for this search.
    static func payloads(in text: String) -> [String] {
        let bytes = Array(text.utf8)
        var out: [String] = []
        @inline(__always) func isBase64(_ b: UInt8) -> Bool {
            (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || (b >= 48 && b <= 57) || b == 43 || b == 47
        }
        @inline(__always) func isHex(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 65 && b <= 70) || (b >= 97 && b <= 102) }
        var found = 0, i = 0
        while i < bytes.count && found < 16 {
            guard isBase64(bytes[i]) else { i += 1; continue }
            var j = i
            while j < bytes.count && isBase64(bytes[j]) { j += 1 }
            if j - i >= 20 {
                var padded = j
                while padded < bytes.count && padded - j < 2 && bytes[padded] == 61 { padded += 1 }
                found += 1
                var s = String(decoding: bytes[i..<padded], as: UTF8.self)
                while s.utf8.count % 4 != 0 { s += "=" }
                if let data = Data(base64Encoded: s), let t = readable(data) { out.append(t) }
                j = padded
            }
            i = j
        }
        found = 0; i = 0
        while i < bytes.count && found < 16 {
            guard isHex(bytes[i]) else { i += 1; continue }
            var j = i
            while j < bytes.count && isHex(bytes[j]) { j += 1 }
            if j - i >= 24 {
                found += 1
                var decoded: [UInt8] = []
                var k = i
                let end = i + (j - i) / 2 * 2   // whole pairs only
                while k < end {
                    decoded.append(UInt8(hexDigit(bytes[k]) << 4 | hexDigit(bytes[k + 1])))
                    k += 2
                }
                if let t = readable(Data(decoded)) { out.append(t) }
            }
            i = j
        }
        return out
    }

    @inline(__always) static func hexDigit(_ b: UInt8) -> UInt8 {
        b <= 57 ? b - 48 : (b | 0x20) - 87
    }

    static func readable(_ data: Data) -> String? {
        guard data.count >= 8, let s = String(data: data, encoding: .utf8) else { return nil }
        let letters = s.unicodeScalars.filter { $0.properties.isAlphabetic || $0 == " " }.count
        return Double(letters) / Double(max(1, s.unicodeScalars.count)) > 0.7 ? s : nil
    }
}
