import Foundation
import Testing
@testable import KTPolicy
import KTModel

@Suite struct PIIValidatorTests {
    @Test(arguments: ["4111 1111 1111 1111", "4454794511390933", "5500-0000-0000-0004", "347415977307943", "6011111111111117", "630427373398"])
    func validCards(_ n: String) { #expect(PIIRecognizers.isCard(n)) }

    @Test(arguments: ["4111 1111 1111 1112", "1234567812345678", "0000000000000000", "9999999999999995"])
    func invalidCards(_ n: String) { #expect(!PIIRecognizers.isCard(n)) }

    @Test(arguments: ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "gb42nawi04454264788619", "FR1420041010050500013M02606"])
    func validIBANs(_ s: String) { #expect(PIIRecognizers.isIBAN(s)) }

    @Test(arguments: ["GB82 WEST 1234 5698 7654 33", "DE8937040044053201300", "XX82WEST12345698765432"])
    func invalidIBANs(_ s: String) { #expect(!PIIRecognizers.isIBAN(s)) }

    @Test func ssnRanges() {
        #expect(PIIRecognizers.isSSN("853-37-1694") && PIIRecognizers.isSSN("125-17-4954"))
        for bad in ["000-12-3456", "666-12-3456", "912-12-3456", "123-00-4567", "123-45-0000", "078-05-1120", "111-11-1111"] {
            #expect(!PIIRecognizers.isSSN(bad), "\(bad)")
        }
    }

    @Test func phonesAndAddresses() {
        for good in ["905-674-3793", "(415) 555-2671", "+44 20 7946 0958", "+4915112345678", "60-56-85-91", "463-612-6138x036"] {
            #expect(PIIRecognizers.isPhone(good), "\(good)")
        }
        for bad in ["12.05.2024", "123-45", "2024-05-13 12", "467 3395"] { #expect(!PIIRecognizers.isPhone(bad), "\(bad)") }
        // A weak shape counts only with a context word before it.
        #expect(PIIRecognizers.isPhone("467 3395", before: "Phone:\n"))
        #expect(PIIRecognizers.isPhone("9498777106", before: "call me on "))
        #expect(PIIRecognizers.isIPv4("192.168.1.10") && !PIIRecognizers.isIPv4("256.1.1.1") && !PIIRecognizers.isIPv4("01.2.3.4"))
        #expect(PIIRecognizers.isIPv6("2001:db8::8a2e:370:7334") && !PIIRecognizers.isIPv6("12:34"))
    }

    @Test func findsAndResolvesOverlaps() throws {
        let r = try PIIRecognizers()
        let text = "Mail jane.doe@example.com, card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, ip 10.0.0.1, ssn 536-22-8145."
        let found = try r.find(in: text).map(\.entity)
        #expect(found == ["email", "credit_card", "iban", "ip_address", "us_ssn"])
    }
}

/// Span precision/recall on ../shared/data/pii/dev.jsonl for the structured entities.
@Suite struct PIIDatasetTests {
    static let mapping: [String: String] = ["EMAIL_ADDRESS": "email", "CREDIT_CARD": "credit_card", "IBAN_CODE": "iban",
                                            "US_SSN": "us_ssn", "IP_ADDRESS": "ip_address", "PHONE_NUMBER": "phone"]

    @Test func structuredEntitiesReachTheF1Goal() throws {
        let path = Fixtures.sharedData("pii/dev.jsonl")
        guard FileManager.default.fileExists(atPath: path) else { return }  // ../shared absent: nothing to measure
        let report = try PIIEvaluation.run(path: path)
        for entity in ["email", "credit_card", "iban", "us_ssn", "ip_address"] {
            let m = try #require(report[entity])
            #expect(m.f1 >= 0.95, "\(entity): \(m)")
        }
    }
}

import KTTestSupport
extension Fixtures {
    static func sharedData(_ relative: String) -> String {
        ((root as NSString).deletingLastPathComponent as NSString).appendingPathComponent("../shared/data/" + relative)
    }
}

/// The recognisers on data generated from the formats (PIISynthesis), not from any evaluation
/// file: every IBAN registry country in four print forms, phone numbers of 22 countries, and
/// benign numbers (dates, amounts, orders, versions, postcodes, ID documents).
@Suite struct PIIGeneratedDataTests {
    @Test(arguments: [UInt64(1), 2, 3])
    func recallOfEveryStructuredEntityAndOverRedactionOfBenignRows(_ seed: UInt64) throws {
        let report = try PIIEvaluation.evaluate(PIISynthesis.rows(seed: seed))
        for entity in ["email", "credit_card", "iban", "us_ssn", "ip_address", "phone"] {
            let m = try #require(report.metrics[entity])
            #expect(m.recall >= 0.95, "\(entity): \(m)")
        }
        #expect(report.benignRows >= 250)
        #expect(report.overRedaction <= 0.02, "\(report.benignRowsRedacted) of \(report.benignRows) benign rows redacted")
    }

    @Test func ibansEndAtTheirCountrysLengthAndTwoInARowAreBothFound() throws {
        let r = try PIIRecognizers()
        let text = "Pay DE89 3704 0044 0532 0130 00 and GB82 WEST 1234 5698 7654 32 today, or de89370400440532013000."
        let found = try r.find(in: text).filter { $0.entity == "iban" }.map(\.value)
        #expect(found == ["DE89 3704 0044 0532 0130 00", "GB82 WEST 1234 5698 7654 32", "de89370400440532013000"])
    }

    @Test func everyRegistryCountryIsKnown() {
        #expect(PIIRecognizers.ibanLengths.count == 89)
        #expect(PIIRecognizers.ibanLengths["RU"] == 33 && PIIRecognizers.ibanLengths["LC"] == 32 && PIIRecognizers.ibanLengths["NO"] == 15)
    }

    @Test func nationalPhoneFormsAndWhatIsNotAPhone() {
        for good in ["030 12345678", "07700 900123", "06-12345678", "01 23 45 67 89", "03-1234-5678", "(02) 1234 5678"] {
            #expect(PIIRecognizers.isPhone(good), "\(good)")
        }
        #expect(PIIRecognizers.isPhone("9876543210", before: "Llámame al "))
        #expect(PIIRecognizers.isPhone("0301234567", before: "Telefon: "))
        for (bad, before) in [("123-456-789", "Order number "), ("10.0.19045.2965", "build "), ("1 234 567 890", "$"), ("13.05.2024", ""),
                              ("05/13/2024", ""), ("2270-66-1551", "passport ")] {
            #expect(!PIIRecognizers.isPhone(bad, before: Substring(before)), "\(before)\(bad)")
        }
        // Nine bare digits are an SSN only when introduced as one.
        #expect(!PIIRecognizers.isSSN("536228145") && PIIRecognizers.isSSN("536228145", before: "SSN: "))
    }
}

/// The recognisers search only the runs of characters their patterns can consume; the findings
/// must be those of the patterns run over the whole text (the version this replaced).
@Suite struct PIIWindowedSearchTests {
    @Test func windowedSearchFindsWhatAWholeTextScanFinds() async throws {
        let r = try PIIRecognizers()
        // Pieces of every entity's shape, with the characters that sit at their edges: Unicode
        // digits and spaces, astral letters, separators.
        let pieces: [String] = ["4111 1111 1111 1111", "5500-0000-0000-0004", "DE89 3704 0044 0532 0130 00", "gb82west12345698765432", "853-37-1694", "853 37 1694",
                                "+44 20 7946 0958", "(415) 555-2671", "463-612-6138x036", " ext. 12", "10.0.0.1", "256.1.1.1", "fe80::1", "2001:db8::8a2e:370:7334",
                                "jane.doe@example.com", "a@b.co", "@", ".", "-", "+", " ", "  ", "\n", "x", "e", "t", "0", "1", "12", "123", "1234", "5512", "2024-05-13",
                                "٤١١١ ١١١١ ١١١１ ١١١١", "４１１１", "\u{00A0}", "\u{3000}", "\u{2028}", "\u{200B}", "\u{2013}", "\u{00AD}", "＠", "𝐀", "𝟏", "é", "order ", "phone: ", "SSN ", "$", "(", ")", ":"]
        // Off the cooperative pool (3,000 texts through every pattern twice).
        let bad = await onBackgroundThread { () -> [String] in
            var rng = SplitMix64(seed: 21)
            var out: [String] = []
            for _ in 0..<3000 {
                let n = Int(rng.next() % 30)
                let text = (0..<n).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined()
                if (try? r.find(in: text)) != PolicyReference.find(r, text) { out.append(text.debugDescription) }
            }
            return out
        }
        #expect(bad.isEmpty, "windowed search differs for: \(bad.prefix(5))")
    }
}

@Suite struct RedactionTests {
    /// Front-to-back building gives what NSMutableString replacement from the back gave.
    @Test func replacementsMatchNSMutableString() {
        var rng = SplitMix64(seed: 31)
        let pieces = ["a", " ", "4111", "é", "😀", "\u{200B}", "x@y.z", "-", "日本"]
        for _ in 0..<500 {
            let text = (0..<Int(rng.next() % 40)).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined()
            let units = Array(text.utf16)
            // Non-overlapping ranges on character boundaries.
            var boundaries: [Int] = [0]
            var offset = 0
            for c in text { offset += c.utf16.count; boundaries.append(offset) }
            var replacements: [(NSRange, String)] = []
            var i = 0
            while i + 1 < boundaries.count {
                let j = i + 1 + Int(rng.next() % 3)
                if j < boundaries.count, rng.next() % 3 == 0 {
                    replacements.append((NSRange(location: boundaries[i], length: boundaries[j] - boundaries[i]), ["[EMAIL]", "****", "", "[X:1a2b]"][Int(rng.next() % 4)]))
                }
                i = j
            }
            replacements.shuffle(using: &rng)
            let ns = NSMutableString(string: text)
            for (range, r) in replacements.sorted(by: { $0.0.location > $1.0.location }) { ns.replaceCharacters(in: range, with: r) }
            #expect(Redaction.apply(text, replacements) == ns as String, "\(text.debugDescription) \(units.count)")
        }
    }
}
