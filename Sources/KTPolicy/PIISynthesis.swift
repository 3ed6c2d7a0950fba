import Foundation
import KTModel

/// Labelled PII test data generated from the formats themselves (valid check digits, every IBAN
/// country, phone numbers of 22 countries in their E.164 and national forms), in sentences
/// written for this generator — never rows or phrases of an evaluation file. Benign rows hold
/// what recognisers must leave alone: dates, times, amounts, order numbers, versions, postcodes.
public enum PIISynthesis {
    public struct Row: Sendable {
        public var text: String
        /// (label as in the presidio data, start, end) in Unicode scalar offsets.
        public var spans: [(String, Int, Int)]
        public var benign: Bool { spans.isEmpty }
    }

    struct RNG {
        var generator: SplitMix64
        init(state: UInt64) { generator = SplitMix64(seed: state) }
        mutating func next() -> UInt64 { generator.next() }
        mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
        mutating func pick<T>(_ list: [T]) -> T { list[int(0...list.count - 1)] }
        mutating func digits(_ n: Int) -> String { String((0..<n).map { _ in Character(String(int(0...9))) }) }
        mutating func bool() -> Bool { next() & 1 == 0 }
    }

    /// A sentence with one value in it: "{}" marks where.
    static func row(_ frame: String, _ value: String, label: String) -> Row {
        let parts = frame.components(separatedBy: "{}")
        let start = parts[0].unicodeScalars.count
        return Row(text: parts[0] + value + parts.dropFirst().joined(separator: "{}"), spans: [(label, start, start + value.unicodeScalars.count)])
    }

    public static func rows(seed: UInt64 = 1) -> [Row] {
        var rng = RNG(state: seed)
        var out: [Row] = []
        out += ibanRows(&rng)
        out += phoneRows(&rng)
        out += cardRows(&rng)
        out += ssnRows(&rng)
        out += emailRows(&rng)
        out += ipRows(&rng)
        out += benignRows(&rng)
        return out
    }

    // MARK: IBAN

    static let ibanFrames = [
        "Please wire the deposit to {} by Friday.", "IBAN: {}", "Konto {} bei der Sparkasse.", "Le virement part sur {} demain.",
        "Beneficiary account {} (reference: rent).", "{} is the account to use.", "Can you check whether {} is right?",
        "Transferencia a la cuenta {} confirmada.", "Bonifico su {} entro lunedì.", "Send it to {}, thanks!",
    ]

    /// Letters appear in the BBAN of these countries (bank codes such as GB's WEST or NL's ABNA).
    static let lettersInBBAN: Set<String> = ["GB", "NL", "IE", "BH", "GI", "JO", "KW", "LC", "MT", "MU", "QA", "SC", "VG", "PK", "RO", "BG", "CY", "LV", "PS", "IS", "HU"]

    static func iban(_ country: String, length: Int, _ rng: inout RNG) -> String {
        var bban = ""
        if lettersInBBAN.contains(country) { bban += String((0..<4).map { _ in Character(UnicodeScalar(UInt8(65 + rng.int(0...25)))) }) }
        bban += rng.digits(length - 4 - bban.count)
        // ISO 13616: check digits make (BBAN + country + "00") mod 97 equal 98 - check.
        var remainder = 0
        for ch in bban + country + "00" {
            if let d = ch.wholeNumberValue { remainder = (remainder * 10 + d) % 97 } else { remainder = (remainder * 100 + Int(ch.asciiValue!) - 55) % 97 }
        }
        let check = 98 - remainder
        return country + (check < 10 ? "0" : "") + String(check) + bban
    }

    static func ibanRows(_ rng: inout RNG) -> [Row] {
        var out: [Row] = []
        for (country, length) in PIIRecognizers.ibanLengths.sorted(by: { $0.key < $1.key }) {
            let compact = iban(country, length: length, &rng)
            let grouped = stride(from: 0, to: compact.count, by: 4).map { i -> String in
                let a = compact.index(compact.startIndex, offsetBy: i), b = compact.index(a, offsetBy: min(4, compact.count - i))
                return String(compact[a..<b])
            }.joined(separator: " ")
            for form in [compact, grouped, grouped.lowercased(), compact.lowercased()] {
                out.append(row(rng.pick(ibanFrames), form, label: "IBAN_CODE"))
            }
        }
        return out
    }

    // MARK: Phone

    /// Per country: the calling code and national shapes ("#" a digit) with their trunk prefix.
    static let phoneFormats: [(cc: String, national: [String], international: [String])] = [
        ("1", ["(###) ###-####", "###-###-####", "###.###.####"], ["+1 ### ### ####", "+1-###-###-####", "+1##########"]),
        ("44", ["020 #### ####", "07### ######", "0161 ### ####"], ["+44 20 #### ####", "+44 7### ######", "+44##########"]),
        ("49", ["030 ########", "0171 #######", "089 #######"], ["+49 30 ########", "+49 171 #######", "+49 (0)89 #######"]),
        ("33", ["01 ## ## ## ##", "06 ## ## ## ##", "01.##.##.##.##"], ["+33 1 ## ## ## ##", "+33 6 ## ## ## ##", "+33#########"]),
        ("34", ["9## ### ###", "6## ## ## ##"], ["+34 9## ### ###", "+34 6## ## ## ##"]),
        ("39", ["06 #### ####", "3## ### ####"], ["+39 06 #### ####", "+39 3## ### ####"]),
        ("31", ["020 ### ####", "06-########", "010 ### ## ##"], ["+31 20 ### ####", "+31 6 ########"]),
        ("32", ["02 ### ## ##", "04## ## ## ##"], ["+32 2 ### ## ##", "+32 4## ## ## ##"]),
        ("41", ["044 ### ## ##", "07# ### ## ##"], ["+41 44 ### ## ##", "+41 7# ### ## ##"]),
        ("43", ["01 ### ####", "0664 #######"], ["+43 1 ### ####", "+43 664 #######"]),
        ("48", ["22 ### ## ##", "5## ### ###"], ["+48 22 ### ## ##", "+48 5## ### ###"]),
        ("46", ["08-### ### ##", "07#-### ## ##"], ["+46 8 ### ### ##", "+46 7# ### ## ##"]),
        ("351", ["21 ### ####", "9## ### ###"], ["+351 21 ### ####", "+351 9## ### ###"]),
        ("353", ["01 ### ####", "08# ### ####"], ["+353 1 ### ####", "+353 8# ### ####"]),
        ("81", ["03-####-####", "090-####-####"], ["+81 3 #### ####", "+81 90 #### ####"]),
        ("91", ["022 #### ####", "0##### #####"], ["+91 ##### #####", "+91 22 #### ####"]),
        ("61", ["(02) #### ####", "04## ### ###"], ["+61 2 #### ####", "+61 4## ### ###"]),
        ("55", ["(11) 9####-####", "(21) ####-####"], ["+55 11 9#### ####", "+55 21 #### ####"]),
        ("52", ["55 #### ####", "33 #### ####"], ["+52 55 #### ####", "+52 1 55 #### ####"]),
        ("86", ["1## #### ####", "010 #### ####"], ["+86 1## #### ####", "+86 10 #### ####"]),
        ("82", ["010-####-####", "02-###-####"], ["+82 10 #### ####", "+82 2 ### ####"]),
        ("27", ["021 ### ####", "08# ### ####"], ["+27 21 ### ####", "+27 8# ### ####"]),
    ]

    static let phoneFramesWithContext = [
        "Call me at {} after five.", "Tel.: {}", "My mobile is {}.", "You can reach me on {} tomorrow.", "Phone: {} (office)",
        "Telefon {} – bitte ab 9 Uhr.", "Mon portable : {}", "Llámame al {} cuando puedas.", "Il mio cellulare è {}.",
        "WhatsApp {} for updates.", "Fax {} is the old line.", "Contact number {}",
    ]
    static let phoneFramesPlain = [
        "I'll be on {} until noon.", "{} – that's the front desk.", "Use {} if the other line is busy.", "See you soon, {}",
    ]

    static func fill(_ shape: String, _ rng: inout RNG) -> String {
        var first = true
        return String(shape.map { ch -> Character in
            guard ch == "#" else { return ch }
            // Leading digits of a subscriber number are never 0 or 1 (no trunk or service prefix).
            defer { first = false }
            return Character(String(first ? rng.int(2...9) : rng.int(0...9)))
        })
    }

    static func phoneRows(_ rng: inout RNG) -> [Row] {
        var out: [Row] = []
        for f in phoneFormats {
            for shape in f.national {
                let n = fill(shape, &rng)
                out.append(row(rng.pick(phoneFramesWithContext), n, label: "PHONE_NUMBER"))
                out.append(row(rng.pick(phoneFramesPlain), n, label: "PHONE_NUMBER"))
                // Without separators a national number is a bare digit run: only context makes it a phone.
                let compact = n.filter(\.isNumber)
                out.append(row(rng.pick(phoneFramesWithContext), compact, label: "PHONE_NUMBER"))
            }
            for shape in f.international {
                let n = fill(shape, &rng)
                out.append(row(rng.pick(phoneFramesPlain), n, label: "PHONE_NUMBER"))
                out.append(row(rng.pick(phoneFramesWithContext), n, label: "PHONE_NUMBER"))
            }
        }
        return out
    }

    // MARK: Cards, SSN, e-mail, IP

    static func luhnComplete(_ body: String) -> String {
        let d = body.compactMap(\.wholeNumberValue)
        var sum = 0
        for (i, digit) in d.reversed().enumerated() {
            if i % 2 == 0 { let x = digit * 2; sum += x > 9 ? x - 9 : x } else { sum += digit }
        }
        return body + String((10 - sum % 10) % 10)
    }

    static let cardFrames = [
        "My card number is {}.", "Charge {} please.", "Visa {} exp 04/29", "Use the card {} for the booking.",
        "Karte {} wurde abgelehnt.", "{} is the one on file.", "Pagué con {} ayer.",
    ]

    static func cardRows(_ rng: inout RNG) -> [Row] {
        let issuers: [(prefix: String, length: Int)] = [("4", 16), ("4", 13), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16), ("34", 15), ("37", 15),
                                                          ("6011", 16), ("65", 16), ("35", 16), ("62", 16), ("36", 14), ("4", 19)]
        var out: [Row] = []
        for _ in 0..<3 {
            for (prefix, length) in issuers {
                let number = luhnComplete(prefix + rng.digits(length - prefix.count - 1))
                let groups: [Int] = length == 15 ? [4, 6, 5] : (length == 14 ? [4, 6, 4] : Array(repeating: 4, count: length / 4) + (length % 4 > 0 ? [length % 4] : []))
                var parts: [String] = [], i = number.startIndex
                for g in groups { let j = number.index(i, offsetBy: g); parts.append(String(number[i..<j])); i = j }
                for form in [number, parts.joined(separator: " "), parts.joined(separator: "-")] {
                    out.append(row(rng.pick(cardFrames), form, label: "CREDIT_CARD"))
                }
            }
        }
        return out
    }

    static func ssnRows(_ rng: inout RNG) -> [Row] {
        var out: [Row] = []
        let frames = ["SSN {}", "My social security number is {}.", "{} is on the W-2.", "Employee SSN: {}"]
        for _ in 0..<30 {
            var area = rng.int(1...899)
            if area == 666 { area = 667 }
            let a = String(format: "%03d", area), g = String(format: "%02d", rng.int(1...99)), s = String(format: "%04d", rng.int(1...9999))
            for form in [a + "-" + g + "-" + s, a + " " + g + " " + s] { out.append(row(rng.pick(frames), form, label: "US_SSN")) }
        }
        return out
    }

    static func emailRows(_ rng: inout RNG) -> [Row] {
        let names = ["ana", "j.smith", "li.wei", "m_ortega", "kofi+news", "o'neil", "support", "dev-team", "r2d2", "zoe.kim"]
        let domains = ["example.com", "mail.example.org", "uni.example.edu", "example.co.uk", "example.io", "corp.example.de"]
        let frames = ["Write to {} with the logs.", "E-mail: {}", "cc {} on the thread", "{} asked for the report.", "Envoyez-le à {}."]
        var out: [Row] = []
        for _ in 0..<40 {
            let name = rng.pick(names).replacingOccurrences(of: "'", with: "")
            out.append(row(rng.pick(frames), name + "@" + rng.pick(domains), label: "EMAIL_ADDRESS"))
        }
        return out
    }

    static func ipRows(_ rng: inout RNG) -> [Row] {
        let frames = ["The server at {} is down.", "Blocked {} after the scan.", "ssh admin@{}", "Source IP: {}", "{} answered the ping."]
        var out: [Row] = []
        for _ in 0..<30 {
            let v4 = (0..<4).map { i in String(i == 0 ? rng.int(1...223) : rng.int(0...255)) }.joined(separator: ".")
            out.append(row(rng.pick(frames), v4, label: "IP_ADDRESS"))
            let groups = (0..<8).map { _ in String(rng.int(0...0xffff), radix: 16) }
            let v6 = rng.bool() ? groups.joined(separator: ":") : groups[0] + ":" + groups[1] + "::" + groups[7]
            out.append(row(rng.pick(frames), v6, label: "IP_ADDRESS"))
        }
        return out
    }

    // MARK: Benign

    static func benignRows(_ rng: inout RNG) -> [Row] {
        var out: [String] = []
        for _ in 0..<12 {
            let y = rng.int(1990...2030), m = rng.int(1...12), d = rng.int(1...28)
            out += [
                String(format: "The meeting moved to %02d.%02d.%d at 14:30.", d, m, y),
                String(format: "Deadline: %d-%02d-%02d 09:00", y, m, d),
                String(format: "Born %02d/%02d/%d in Lyon.", m, d, y),
                "The invoice total is $\(rng.int(1...99)),\(rng.digits(3)).\(rng.digits(2)) including tax.",
                "Es kostet € \(rng.int(1...999)).\(rng.digits(3)),\(rng.digits(2)) brutto.",
                "We raised \(rng.int(1...9)) \(rng.digits(3)) \(rng.digits(3)) EUR last year.",
                "Order number \(rng.digits(3))-\(rng.digits(3))-\(rng.digits(3)) has shipped.",
                "Invoice \(y)-\(rng.digits(5)) is overdue.",
                "Ticket #\(rng.digits(4))-\(rng.digits(2)) was closed.",
                "Tracking: \(rng.digits(4)) \(rng.digits(4)) \(rng.digits(4)) \(rng.digits(2))",
                "Update to version \(rng.int(1...20)).\(rng.int(0...9)).\(rng.int(10000...30000)).\(rng.int(100...9999)) first.",
                "Windows build \(rng.int(10...11)).0.\(rng.int(19000...26000)).\(rng.int(1000...4000)) fixed it.",
                "iOS \(rng.int(12...18)).\(rng.int(0...6)).\(rng.int(1...3)) and Android \(rng.int(10...15)) are supported.",
                "Our office is at \(rng.int(1...200)) Main Street, \(rng.digits(5)) Springfield.",
                "ISBN 978-\(rng.int(0...9))-\(rng.digits(2))-\(rng.digits(6))-\(rng.int(0...9))",
                "The population grew from \(rng.int(1...9)),\(rng.digits(3)),\(rng.digits(3)) to \(rng.int(1...9)),\(rng.digits(3)),\(rng.digits(3)).",
                "It took \(rng.int(2...59)) minutes and \(rng.int(2...59)) seconds, \(rng.int(10...99))% faster.",
                "Coordinates \(rng.int(10...80)).\(rng.digits(4)), \(rng.int(10...170)).\(rng.digits(4)) mark the spot.",
                "Between \(rng.int(1950...1999)) and \(rng.int(2000...2024)) the rate doubled.",
                "Room \(rng.int(100...999)), floor \(rng.int(1...20)), desk \(rng.int(1...50)).",
                "Part no. \(rng.digits(2))-\(rng.digits(4))-\(rng.digits(3)) is out of stock.",
                "Account balance: \(rng.int(1...9)) \(rng.digits(3)),\(rng.digits(2)) kr",
                "Passport number \(rng.int(1...9))\(rng.digits(8)), issued \(rng.int(2015...2024)).",
                "Membership no. \(rng.digits(4))-\(rng.digits(4)) renews in May.",
                "Policy number \(rng.digits(3)) \(rng.digits(3)) \(rng.digits(3)) covers the car.",
            ]
        }
        return out.map { Row(text: $0, spans: []) }
    }
}
