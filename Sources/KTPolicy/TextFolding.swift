import Foundation

/// The text the PII recognisers and the DLP and safety terms read: what a reader (or a model)
/// takes for the same characters is made the same. No-break and other Unicode spaces read as a space, Unicode hyphens and dashes as
/// '-', fullwidth ASCII as ASCII, decimal digits of every script as ASCII digits, and invisible format characters (zero-width space and joiners,
/// word joiner, soft hyphen, BOM) are dropped — "4111<NBSP>1111…" is copied from any web page,
/// "4111<ZWSP>1111…" is written to slip past a scanner, and both are a card number to a model.
/// Cyrillic and Greek letters that render like Latin ones read as those inside a word that is
/// otherwise Latin ("proјect" with a Cyrillic ј), and in a word of lookalikes alone in a text
/// with no other Cyrillic or Greek letter; Russian or Greek text is left as written, so terms in
/// those scripts still match.
/// Findings are mapped back to the original text, covering any dropped character inside them.
struct TextFolding {
    let text: String
    /// For each UTF-16 unit of `text` (and one past the end), its offset in the original; nil
    /// when the text needed no folding.
    private let map: [Int]?

    init(_ original: String) {
        // ASCII needs nothing: the fast path for most prompts.
        if original.utf8.count == original.utf16.count {
            text = original
            map = nil
            return
        }
        var units: [UInt16] = []
        units.reserveCapacity(original.utf16.count)
        var map: [Int] = []
        map.reserveCapacity(original.utf16.count + 1)
        var changed = false
        let lookalikes = Self.lookalikeWords(original)
        var nextLookalike = 0
        for (offset, u) in original.utf16.enumerated() {
            if nextLookalike < lookalikes.count, lookalikes[nextLookalike] == offset, let latin = Self.homoglyphs[u] {
                nextLookalike += 1
                units.append(latin)
                map.append(offset)
                changed = true
                continue
            }
            switch Self.fold(u) {
            case .keep:
                units.append(u)
                map.append(offset)
            case .replace(let r):
                units.append(r)
                map.append(offset)
                changed = true
            case .drop:
                changed = true
            }
        }
        map.append(original.utf16.count)
        if changed {
            text = String(decoding: units, as: UTF16.self)
            self.map = map
        } else {
            text = original
            self.map = nil
        }
    }

    enum Fold { case keep, replace(UInt16), drop }

    /// Cyrillic and Greek lookalikes of Latin letters, case kept (Turkish dotless ı is a letter of
    /// its own, not a lookalike).
    static let homoglyphs: [UInt16: UInt16] = {
        let pairs: [(Character, Character)] = [
            ("а", "a"), ("е", "e"), ("о", "o"), ("р", "p"), ("с", "c"), ("у", "y"), ("х", "x"), ("і", "i"), ("ј", "j"), ("ѕ", "s"),
            ("һ", "h"), ("ԁ", "d"), ("ο", "o"), ("α", "a"), ("ε", "e"), ("ι", "i"), ("κ", "k"), ("ρ", "p"), ("τ", "t"), ("υ", "u"),
            ("ν", "v"), ("χ", "x"),
            ("А", "A"), ("В", "B"), ("Е", "E"), ("К", "K"), ("М", "M"), ("Н", "H"), ("О", "O"), ("Р", "P"), ("С", "C"), ("Т", "T"),
            ("Х", "X"), ("І", "I"), ("Ј", "J"), ("Ѕ", "S"), ("Α", "A"), ("Β", "B"), ("Ε", "E"), ("Ζ", "Z"), ("Η", "H"), ("Ι", "I"),
            ("Κ", "K"), ("Μ", "M"), ("Ν", "N"), ("Ο", "O"), ("Ρ", "P"), ("Τ", "T"), ("Υ", "Y"), ("Χ", "X"),
        ]
        var table: [UInt16: UInt16] = [:]
        for (from, to) in pairs { table[from.utf16.first!] = to.utf16.first! }
        return table
    }()

    /// UTF-16 offsets of the lookalikes to fold: those in words (runs of letters) that hold an
    /// ASCII letter too, and in words made of lookalikes alone when the text has no other
    /// Cyrillic or Greek letter (a Russian text always has some: и, л, т …; its "с" and "о" stay).
    /// Empty for most texts.
    /// In ascending order, read once by `init`: no hash set sized by a hostile input.
    static func lookalikeWords(_ text: String) -> [Int] {
        // Every lookalike is in U+0391…U+0501: a text with none there (accented Latin, CJK) is done.
        guard text.utf16.contains(where: { $0 >= 0x0391 && $0 <= 0x0501 }) else { return [] }
        // Candidates in text order; `wholeWord` marks those of lookalike-only words, kept only
        // when the text turns out to have no other Cyrillic or Greek letter.
        var out: [Int] = [], wholeWord: [Bool] = []
        var hasASCII = false, allLookalike = true, otherScriptLetter = false, lookalikes: [Int] = []
        func close() {
            if !lookalikes.isEmpty, hasASCII || allLookalike {
                out += lookalikes
                wholeWord += repeatElement(!hasASCII, count: lookalikes.count)
            }
            hasASCII = false; allLookalike = true; lookalikes.removeAll(keepingCapacity: true)
        }
        for (offset, u) in text.utf16.enumerated() {
            if (u >= 0x41 && u <= 0x5A) || (u >= 0x61 && u <= 0x7A) {
                hasASCII = true
                allLookalike = false
            } else if u >= 0x0391, u <= 0x0501, homoglyphs[u] != nil {
                lookalikes.append(offset)
            } else if u >= 0x80, let scalar = Unicode.Scalar(u), scalar.properties.isAlphabetic {
                allLookalike = false
                if (0x0370...0x052F).contains(u) { otherScriptLetter = true }
            } else {
                close()
            }
        }
        close()
        if otherScriptLetter { out = zip(out, wholeWord).filter { !$0.1 }.map(\.0) }
        return out
    }

    static func fold(_ u: UInt16) -> Fold {
        switch u {
        case 0x00A0, 0x1680, 0x2000...0x200A, 0x202F, 0x205F, 0x3000: return .replace(0x20)
        case 0x2010...0x2015, 0x2212, 0xFE58, 0xFE63: return .replace(0x2D)
        case 0xFF01...0xFF5E: return .replace(u - 0xFEE0)
        case 0x00AD, 0x034F, 0x180E, 0x200B...0x200D, 0x2060...0x2064, 0xFEFF: return .drop
        case 0x0000...0x007F: return .keep
        default:
            // Decimal digits of any script (Arabic-Indic, Devanagari, …) read as ASCII digits.
            if let scalar = Unicode.Scalar(u), scalar.properties.numericType == .decimal, let v = scalar.properties.numericValue,
               v >= 0, v <= 9 {
                return .replace(0x30 + UInt16(v))
            }
            return .keep
        }
    }

    /// A stream tail measured on the folded text (`measure` counts its trailing characters that
    /// could still become a match), counted back in the original's characters, a dropped
    /// zero-width character inside included.
    static func tail(_ original: String, _ measure: (String) -> Int) -> Int {
        let folding = TextFolding(original)
        let text = folding.text
        let tail = measure(text)
        guard tail > 0, folding.map != nil else { return tail }
        let foldedStart = text.utf16.count - text.suffix(tail).utf16.count
        return original[String.Index(utf16Offset: folding.originalOffset(foldedStart), in: original)...].count
    }

    /// The original UTF-16 offset of a folded one (the text's length for its end).
    func originalOffset(_ folded: Int) -> Int { map.map { $0[min(folded, $0.count - 1)] } ?? folded }

    /// A range of `text` as a range of the original (a dropped character inside it included).
    func original(_ r: NSRange) -> NSRange {
        guard let map, r.length > 0 else { return r }
        let start = map[r.location]
        let end = map[r.location + r.length - 1] + 1
        return NSRange(location: start, length: end - start)
    }
}
