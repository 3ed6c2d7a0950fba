import Foundation

/// Where a recogniser's pattern can match at all. Every character a pattern consumes belongs to
/// its shape's character class, so each match lies inside one maximal run of that class; a run
/// too poor to hold a valid finding (too few digits, no "@", fewer than three dots…) is skipped,
/// and the pattern runs on each remaining run alone (as a short string, with a little context
/// for the look-behind and look-ahead). The findings are those of a scan of the whole text, at
/// a fraction of the cost: prose has few such runs, and the regex engine no longer walks it.
extension PIIRecognizers {
    enum Shape: Sendable {
        case email, card, iban, ssn, phone, ipv4, ipv6

        var bit: UInt8 {
            switch self {
            case .email: 1
            case .card, .ssn: 2
            case .iban: 4
            case .phone: 8
            case .ipv4: 16
            case .ipv6: 32
            }
        }

        /// The least a run must contain for a finding of this shape to pass validation.
        func worthSearching(_ r: RunStats) -> Bool {
            switch self {
            case .email: r.at > 0
            case .card: r.digits >= 12
            case .ssn: r.digits >= 9
            case .iban: r.ibanStart
            case .phone: r.digits >= 7
            case .ipv4: r.digits >= 4 && r.dots >= 3
            case .ipv6: r.colons >= 2
            }
        }
    }

    struct RunStats {
        var digits = 0, at = 0, dots = 0, colons = 0
        /// Two ASCII letters then two digits (how an IBAN begins).
        var ibanStart = false
    }

    /// Per UTF-16 unit, the shapes whose class holds it, and whether it may be a digit (`\d` is
    /// every decimal digit; a surrogate is counted as one, to be safe).
    struct UnitClasses {
        var bits: [UInt8]
        var digit: [Bool]
        var letter: [Bool]   // ASCII letters

        init(_ units: [UInt16]) {
            bits = [UInt8](repeating: 0, count: units.count)
            digit = [Bool](repeating: false, count: units.count)
            letter = [Bool](repeating: false, count: units.count)
            for (i, u) in units.enumerated() {
                var b: UInt8 = 0
                if u < 128 {
                    let c = UInt8(u)
                    let isDigit = c >= 48 && c <= 57
                    let isLetter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
                    let isHex = isDigit || (c >= 65 && c <= 70) || (c >= 97 && c <= 102)
                    if isDigit || isLetter || c == 46 || c == 95 || c == 37 || c == 43 || c == 45 || c == 64 { b |= Shape.email.bit }
                    if isDigit || c == 32 || c == 45 { b |= Shape.card.bit }
                    if isDigit || isLetter || c == 32 { b |= Shape.iban.bit }
                    if isDigit || c == 43 || c == 32 || c == 46 || c == 45 || c == 40 || c == 41 || c == 120 || c == 101 || c == 116 || (9...13).contains(c) {
                        b |= Shape.phone.bit
                    }
                    if isDigit || c == 46 { b |= Shape.ipv4.bit }
                    if isHex || c == 58 { b |= Shape.ipv6.bit }
                    digit[i] = isDigit
                    letter[i] = isLetter
                } else {
                    var isDigit = true, isSpace = true
                    if !UTF16.isLeadSurrogate(u) && !UTF16.isTrailSurrogate(u), let s = Unicode.Scalar(u) {
                        isDigit = s.properties.numericType == .decimal
                        let category = s.properties.generalCategory
                        isSpace = s.properties.isWhitespace || category == .spaceSeparator || category == .lineSeparator || category == .paragraphSeparator
                    }
                    if isDigit { b |= Shape.card.bit | Shape.iban.bit | Shape.phone.bit | Shape.ipv4.bit }
                    if isSpace { b |= Shape.phone.bit }
                    digit[i] = isDigit
                }
                bits[i] = b
            }
        }
    }

    /// The runs of `shape`'s class worth a search, as UTF-16 ranges.
    static func runs(of shape: Shape, in classes: UnitClasses, units: [UInt16]) -> [NSRange] {
        var out: [NSRange] = []
        let bit = shape.bit
        var i = 0
        let n = classes.bits.count
        while i < n {
            guard classes.bits[i] & bit != 0 else { i += 1; continue }
            var stats = RunStats()
            var j = i
            while j < n && classes.bits[j] & bit != 0 {
                if classes.digit[j] { stats.digits += 1 }
                switch units[j] {
                case 64: stats.at += 1
                case 46: stats.dots += 1
                case 58: stats.colons += 1
                default: break
                }
                if shape == .iban, !stats.ibanStart, j + 3 < n, classes.letter[j], classes.letter[j + 1], classes.digit[j + 2], classes.digit[j + 3] {
                    stats.ibanStart = true
                }
                j += 1
            }
            if shape.worthSearching(stats) { out.append(NSRange(location: i, length: j - i)) }
            i = j
        }
        return out
    }

    /// A text's UTF-16 units (the offsets findings are reported in) and, when it is ASCII, its
    /// bytes: the strings cut from it are then made from bytes, the fast way.
    struct TextUnits {
        var utf16: [UInt16]
        var ascii: [UInt8]?

        init(_ text: String) {
            utf16 = Array(text.utf16)
            let bytes = Array(text.utf8)
            ascii = bytes.count == utf16.count ? bytes : nil
        }

        /// The text of a UTF-16 range (a lone surrogate at an edge becomes U+FFFD, as NSString's
        /// substring does when it is bridged back to a Swift string).
        func string(_ range: NSRange) -> String {
            if let ascii { return String(decoding: ascii[range.location..<(range.location + range.length)], as: UTF8.self) }
            return String(decoding: utf16[range.location..<(range.location + range.length)], as: UTF16.self)
        }
    }

    /// A run with two UTF-16 units of context each side (a look-around sees a whole character,
    /// even one written as a surrogate pair), as its own string, and the run's range in it.
    static func window(_ run: NSRange, in units: TextUnits) -> (text: String, range: NSRange, offset: Int) {
        let start = max(0, run.location - 2), end = min(units.utf16.count, run.location + run.length + 2)
        return (units.string(NSRange(location: start, length: end - start)), NSRange(location: run.location - start, length: run.length), start)
    }

    /// The runs of one shape joined into one string, each with two units of context each side,
    /// an SOH (U+0001, in no class and no look-around's set, so it reads like the text's edge)
    /// between them: the regex runs once per text instead of once per run. A match lies inside
    /// a run (its context is cut off from the next run by a character outside the class, and
    /// nothing matches one character).
    struct RunBatch {
        var text = ""
        /// Per run: where it starts in `text` and in the original text, and its length.
        var spans: [(batch: Int, original: Int, length: Int)] = []

        init(_ runs: [NSRange], in units: TextUnits) {
            var ascii: [UInt8] = [], utf16: [UInt16] = []
            var length = 0
            for run in runs {
                let start = max(0, run.location - 2), end = min(units.utf16.count, run.location + run.length + 2)
                spans.append((length + run.location - start, run.location, run.length))
                if let bytes = units.ascii { ascii += bytes[start..<end]; ascii.append(1) } else { utf16 += units.utf16[start..<end]; utf16.append(1) }
                length += end - start + 1
            }
            text = units.ascii != nil ? String(decoding: ascii, as: UTF8.self) : String(decoding: utf16, as: UTF16.self)
        }

        /// The original range of each match (in order), nil for one outside every run.
        func originals(_ matches: [NSTextCheckingResult]) -> [NSRange?] {
            var k = 0
            return matches.map { m in
                while k < spans.count && spans[k].batch + spans[k].length <= m.range.location { k += 1 }
                guard k < spans.count, m.range.location >= spans[k].batch, m.range.location + m.range.length <= spans[k].batch + spans[k].length else { return nil }
                return NSRange(location: spans[k].original + m.range.location - spans[k].batch, length: m.range.length)
            }
        }
    }
}
