import Foundation

/// The text the PII recognisers and the DLP and safety terms read: what a reader (or a model)
/// takes for the same characters is made the same. No-break and other Unicode spaces read as a space, Unicode hyphens and dashes as
/// '-', fullwidth ASCII as ASCII, decimal digits of every script as ASCII digits, and invisible format characters (zero-width space and joiners,
/// word joiner, soft hyphen, BOM) are dropped — "4111<NBSP>1111…" is copied from any web page,
/// "4111<ZWSP>1111…" is written to slip past a scanner, and both are a card number to a model.
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
        for (offset, u) in original.utf16.enumerated() {
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
