import Foundation
import KTModel

/// One PII finding: the entity, where it is (UTF-16 range, as NSRegularExpression reports), the text.
public struct PIIMatch: Sendable, Equatable {
    public var entity: String
    public var range: NSRange
    public var value: String
}

/// Recognisers with validation, not bare regexes: a candidate found by a pattern is kept only
/// if it passes its checksum or structural rules (Luhn and issuer prefixes for cards, country
/// length and mod-97 for IBANs, reserved ranges for SSNs, octets for IPv4, inet_pton for IPv6,
/// digit counts and context for phones).
public struct PIIRecognizers: Sendable {
    struct Recognizer: @unchecked Sendable {
        var entity: PIIEntity
        var shape: Shape
        var regex: NSRegularExpression
        /// The candidate, and the text before it (for context words).
        var validate: @Sendable (String, Substring) -> Bool
    }

    let recognizers: [Recognizer]
    let custom: [(String, ConfiguredRegex)]

    public init(entities: [PIIEntity] = PIIEntity.allCases, customPatterns: [NamedPattern] = []) throws(PolicyError) {
        func re(_ p: String, _ options: NSRegularExpression.Options = []) -> NSRegularExpression {
            try! NSRegularExpression(pattern: p, options: options)
        }
        var list: [Recognizer] = []
        for e in entities {
            switch e {
            case .email:
                list.append(Recognizer(entity: e, shape: .email, regex: re(#"(?<![\w.+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"#),
                                       validate: { v, _ in !v.contains("..") }))
            case .creditCard:
                list.append(Recognizer(entity: e, shape: .card, regex: re(#"(?<![\d-])(?:\d[ -]?){11,18}\d(?![\d-])"#), validate: { v, _ in PIIRecognizers.isCard(v) }))
            case .iban:
                list.append(Recognizer(entity: e, shape: .iban, regex: re(#"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])"#),
                                       validate: { v, _ in PIIRecognizers.isIBAN(v) }))
            case .usSSN:
                list.append(Recognizer(entity: e, shape: .ssn, regex: re(#"(?<![\d-])\d{3}([- ]?)\d{2}\1\d{4}(?![\d-])"#), validate: { v, before in PIIRecognizers.isSSN(v, before: before) }))
            case .phone:
                list.append(Recognizer(entity: e, shape: .phone, regex: re(#"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w-])"#),
                                       validate: { v, before in PIIRecognizers.isPhone(v, before: before) }))
            case .ipAddress:
                list.append(Recognizer(entity: e, shape: .ipv4, regex: re(#"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])"#), validate: { v, _ in PIIRecognizers.isIPv4(v) }))
                list.append(Recognizer(entity: e, shape: .ipv6, regex: re(#"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])"#),
                                       validate: { v, _ in PIIRecognizers.isIPv6(v) }))
            }
        }
        recognizers = list
        var custom: [(String, ConfiguredRegex)] = []
        for p in customPatterns {
            do { custom.append((p.name, try ConfiguredRegex(pattern: p.pattern))) } catch {
                throw PolicyError("detect_patterns '\(p.name)': invalid regular expression")
            }
        }
        self.custom = custom
    }

    /// All findings, overlapping ones resolved in favour of the longer (then earlier) match.
    public func find(in original: String, deadline: UInt64 = EvaluationContext.noDeadline) throws -> [PIIMatch] {
        let ns = original as NSString
        let full = NSRange(location: 0, length: ns.length)
        var found: [PIIMatch] = []
        // The built-in recognisers read the folded text; their findings are mapped back.
        let folding = TextFolding(original)
        let units = TextUnits(folding.text)
        let classes = UnitClasses(units.utf16)
        for r in recognizers {
            let runs = Self.runs(of: r.shape, in: classes, units: units.utf16)
            guard !runs.isEmpty else { continue }
            if r.entity != .iban {
                let batch = RunBatch(runs, in: units)
                let matches = r.regex.matches(in: batch.text, range: NSRange(location: 0, length: (batch.text as NSString).length))
                for range in batch.originals(matches) {
                    guard let range else { continue }
                    let value = units.string(range)
                    let contextStart = max(0, range.location - 48)
                    let before = Substring(units.string(NSRange(location: contextStart, length: range.location - contextStart)))
                    if r.validate(value, before) {
                        let at = folding.original(range)
                        found.append(PIIMatch(entity: r.entity.rawValue, range: at, value: ns.substring(with: at)))
                    }
                }
                continue
            }
            // IBAN candidates may run on past the IBAN; each is cut to its country's length and the
            // search goes on right after it (a second IBAN may follow the first).
            for run in runs {
                let w = Self.window(run, in: units)
                let wns = w.text as NSString
                var position = w.range.location
                let end = w.range.location + w.range.length
                while position < end,
                      let m = r.regex.firstMatch(in: w.text, options: [.withTransparentBounds], range: NSRange(location: position, length: end - position)) {
                    if let length = Self.ibanPrefix(wns.substring(with: m.range)) {
                        let at = folding.original(NSRange(location: m.range.location + w.offset, length: length))
                        found.append(PIIMatch(entity: r.entity.rawValue, range: at, value: ns.substring(with: at)))
                        position = m.range.location + length
                    } else {
                        position = m.range.location + 1
                    }
                }
            }
        }
        // Custom patterns read the text as written: they say exactly what they match.
        for (name, regex) in custom {
            for m in try regex.matches(in: original, range: full, deadline: deadline) where m.range.length > 0 {
                found.append(PIIMatch(entity: name, range: m.range, value: ns.substring(with: m.range)))
            }
        }
        return Self.resolvingOverlaps(found)
    }

    /// Overlapping findings resolved in favour of the longer, then the more specific (an SSN is
    /// also phone-shaped), then the earlier one; in text order.
    static func resolvingOverlaps(_ found: [PIIMatch]) -> [PIIMatch] {
        func priority(_ e: String) -> Int { entityPriority[e] ?? 5 }
        let ordered = found.sorted {
            if $0.range.length != $1.range.length { return $0.range.length > $1.range.length }
            if priority($0.entity) != priority($1.entity) { return priority($0.entity) < priority($1.entity) }
            return $0.range.location < $1.range.location
        }
        var kept: [PIIMatch] = []
        for f in ordered where !kept.contains(where: { NSIntersectionRange($0.range, f.range).length > 0 }) { kept.append(f) }
        return kept.sorted { $0.range.location < $1.range.location }
    }

    static let entityPriority = ["credit_card": 0, "iban": 1, "us_ssn": 2, "email": 3, "ip_address": 4, "phone": 6]

    // MARK: Validators

    static func digits(_ s: String) -> [Int] { s.compactMap { $0.wholeNumberValue } }

    public static func luhn(_ d: [Int]) -> Bool {
        var sum = 0
        for (i, digit) in d.reversed().enumerated() {
            if i % 2 == 1 { let x = digit * 2; sum += x > 9 ? x - 9 : x } else { sum += digit }
        }
        return sum % 10 == 0
    }

    /// Luhn plus a known issuer prefix with a length that issuer uses.
    public static func isCard(_ s: String) -> Bool {
        let d = digits(s)
        guard (12...19).contains(d.count), luhn(d), Set(d).count > 1 else { return false }
        let p = d.prefix(6).reduce(0) { $0 * 10 + $1 }
        let p2 = p / 10000, p3 = p / 1000, p4 = p / 100
        switch d.count {
        case 15 where p2 == 34 || p2 == 37: return true                          // Amex
        case 14 where (300...305).contains(p3) || p2 == 36 || p2 == 38: return true // Diners
        default: break
        }
        if d[0] == 4, [13, 16, 19].contains(d.count) { return true }              // Visa
        if d.count == 16, (51...55).contains(p2) || (2221...2720).contains(p4) { return true }  // Mastercard
        if d.count >= 16, p4 == 6011 || p2 == 65 || (644...649).contains(p3) || (622126...622925).contains(p) { return true }  // Discover
        if d.count >= 16, p2 == 35 { return true }                                 // JCB (35xx)
        if d.count == 15, p4 == 2131 || p4 == 1800 { return true }                // JCB, legacy 15-digit
        if d.count >= 16, p2 == 62 { return true }                                 // UnionPay
        if (12...19).contains(d.count), [50, 56, 57, 58, 63, 67].contains(p2) || p2 == 60 { return true }  // Maestro and friends
        return false
    }

    /// IBAN length per country: the SWIFT IBAN registry (ISO 13616), all 89 countries.
    static let ibanLengths: [String: Int] = [
        "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27, "BR": 29, "BY": 28,
        "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
        "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
        "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
        "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
        "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
        "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26,
        "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
    ]

    /// The IBAN at the start of a candidate: the regex may run on into the words after a grouped
    /// IBAN ("DE89 3704 0044 0532 0130 00 and more"), so the country's length decides where it
    /// ends; it must end at a group boundary (a space or the candidate's end). Returns the length
    /// in UTF-16 units of the IBAN's text, or nil.
    static func ibanPrefix(_ candidate: String) -> Int? {
        let upper = candidate.uppercased()
        guard let length = ibanLengths[String(upper.prefix(2))] else { return nil }
        var count = 0, end = upper.startIndex
        for i in upper.indices {
            if upper[i] == " " { continue }
            count += 1
            if count == length { end = upper.index(after: i); break }
        }
        guard count == length, end == upper.endIndex || upper[end] == " " else { return nil }
        let text = String(candidate[..<end])
        return isIBAN(text) ? text.utf16.count : nil
    }

    /// Country length table and the ISO 13616 mod-97 check (case-insensitive).
    public static func isIBAN(_ s: String) -> Bool {
        let compact = s.uppercased().filter { $0 != " " }
        guard let len = ibanLengths[String(compact.prefix(2))], compact.count == len else { return false }
        let rearranged = compact.dropFirst(4) + compact.prefix(4)
        var remainder = 0
        for ch in rearranged {
            if let d = ch.wholeNumberValue, ch.isASCII {
                remainder = (remainder * 10 + d) % 97
            } else if let a = ch.asciiValue, a >= 65, a <= 90 {
                remainder = (remainder * 100 + Int(a) - 55) % 97
            } else {
                return false
            }
        }
        return remainder == 1
    }

    /// SSA rules: area not 000, 666 or 900–999; group not 00; serial not 0000; no known samples.
    /// Words that introduce a US social security number.
    static let ssnContext = try! NSRegularExpression(
        pattern: #"\b(?:ssn|ss#|social security(?: number| no\.?)?|soc\.? ?sec\.?|taxpayer id|tin)\b[^\d\n]{0,24}$"#, options: [.caseInsensitive])

    /// The dashed or spaced form is an SSN by itself; nine bare digits (an order number, a phone
    /// number without separators) only after a word that says SSN.
    public static func isSSN(_ s: String, before: Substring = "") -> Bool {
        let d = digits(s)
        guard d.count == 9 else { return false }
        if s.allSatisfy(\.isNumber), !ends(before, with: ssnContext) { return false }
        let area = d[0] * 100 + d[1] * 10 + d[2], group = d[3] * 10 + d[4], serial = d[5...].reduce(0) { $0 * 10 + $1 }
        if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 { return false }
        if Set(d).count == 1 || d == [1, 2, 3, 4, 5, 6, 7, 8, 9] || (area == 78 && group == 5 && serial == 1120) { return false }
        return true
    }

    /// Words that say a number is a phone number, in the languages the gateway's users write:
    /// EN, DE, FR, ES, IT, PT, NL (general vocabulary, not taken from any evaluation data).
    static let phoneContext = try! NSRegularExpression(
        pattern: #"(?:\b(?:phone|telephone|tel|mobile|cell(?:phone)?|call|ring|dial|fax|whats ?app|signal|sms|text|hotline|helpline|number|no|nr|contact|reach|telefon|telefonnummer|handy|rufnummer|anrufen|t[ée]l[ée]phone|portable|appeler|appelez|t[ée]l[ée]fono|m[óo]vil|celular|ll[aá]m(?:a|e|ar|ame|ame al)|telefono|cellulare|chiamare|chiama|telefone|ligar|telefoon|bellen|bel)\b|☎|📞)[^\d\n]{0,24}$"#,
        options: [.caseInsensitive])

    /// Words that say a number is something else (an order, an invoice, a version): a number
    /// after them is not a phone number unless it is written in international form.
    static let notPhoneContext = try! NSRegularExpression(
        pattern: #"\b(?:order|invoice|ticket|ref(?:erence)?|tracking|shipment|parcel|serial|version|build|release|sku|part|item|case|id|isbn|account|iban|licen[cs]e|passport|permit|membership|policy|bestell(?:nummer)?|rechnung|commande|facture|pedido|factura|ordine|fattura|encomenda)\b[^\d\n]{0,24}$"#,
        options: [.caseInsensitive])

    // Compiled once: `String.range(of:options: .regularExpression)` compiles on every call.
    static let isoDate = try! NSRegularExpression(pattern: #"^(19|20)\d{2}[-/.](0[1-9]|1[0-2])[-/.](0[1-9]|[12]\d|3[01])"#)
    static let dayMonthYear = try! NSRegularExpression(pattern: #"^(0?[1-9]|[12]\d|3[01])[-/.](0?[1-9]|1[0-2])[-/.](19|20)\d{2}$"#)

    static func ends(_ text: Substring, with regex: NSRegularExpression) -> Bool {
        let t = String(text)
        return regex.firstMatch(in: t, range: NSRange(location: 0, length: (t as NSString).length)) != nil
    }

    /// 7–15 digits (E.164) in a phone-like shape. International form (+CC) is enough; national
    /// forms need a shape that numbers of other kinds rarely have (a NANP 3-3-4; three or more
    /// groups with 8+ digits; two groups after a trunk prefix 0), or a context word before them.
    /// Dates, times, versions, amounts and numbers introduced as orders, invoices and the like are not phones.
    public static func isPhone(_ s: String, before: Substring = "") -> Bool {
        let core = s.split(whereSeparator: { $0 == "x" || $0 == "e" }).first.map(String.init) ?? s  // drop an extension
        let d = digits(core)
        guard (7...15).contains(d.count) else { return false }
        // ISO dates and timestamps (2024-05-13 12), dotted dates (12.05.2024) are not phone numbers.
        // (The byte tests spare the regexes on numbers that cannot be dates.)
        let coreRange = NSRange(location: 0, length: (core as NSString).length)
        let ascii = core.utf8.allSatisfy { $0 < 128 }   // (`\d` is any decimal digit: other texts take the regexes)
        let head = Array(core.utf8.prefix(5))
        func separator(_ b: UInt8) -> Bool { b == UInt8(ascii: "-") || b == UInt8(ascii: "/") || b == UInt8(ascii: ".") }
        let mayBeISO = !ascii || (head.count == 5 && separator(head[4])
            && ((head[0] == UInt8(ascii: "1") && head[1] == UInt8(ascii: "9")) || (head[0] == UInt8(ascii: "2") && head[1] == UInt8(ascii: "0"))))
        if mayBeISO, isoDate.firstMatch(in: core, range: coreRange) != nil { return false }
        if !ascii || head.prefix(3).contains(where: separator), dayMonthYear.firstMatch(in: core, range: coreRange) != nil { return false }
        // An amount: a currency sign just before.
        if let last = before.last(where: { !$0.isWhitespace }), "$€£¥₹₽₩¢".contains(last) { return false }
        if core.hasPrefix("+") { return true }
        if ends(before, with: notPhoneContext) { return false }
        let groups = core.split(whereSeparator: { " .-()".contains($0) })
        // Dot-only numbers are versions or amounts unless every group has 2-4 digits (FR 01.23.45.67.89).
        if core.contains("."), !core.contains(where: { " -()".contains($0) }), !groups.allSatisfy({ (2...4).contains($0.count) }) { return false }
        // NANP: 3-3-4 with a valid area and exchange code.
        if (d.count == 10 || (d.count == 11 && d[0] == 1)) && groups.count >= 3 {
            let nsn = d.count == 11 ? Array(d.dropFirst()) : d
            if nsn[0] >= 2 && nsn[3] >= 2 { return true }
        }
        if groups.count >= 3 && d.count >= 8 { return true }
        // National numbers after a trunk prefix in two groups: 030 12345678, 07700 900123, 06-12345678.
        if groups.count == 2, d[0] == 0, d.count >= 9, d.count <= 12, (2...6).contains(groups[0].count) { return true }
        return ends(before, with: phoneContext)
    }

    public static func isIPv4(_ s: String) -> Bool {
        let parts = s.split(separator: ".")
        return parts.count == 4 && parts.allSatisfy { p in
            guard let v = Int(p), v <= 255 else { return false }
            return p == "0" || p.first != "0"
        }
    }

    public static func isIPv6(_ s: String) -> Bool {
        guard s.filter({ $0 == ":" }).count >= 2, s.count >= 3 else { return false }
        var addr = in6_addr()
        return inet_pton(AF_INET6, s, &addr) == 1 && s != "::"
    }
}
