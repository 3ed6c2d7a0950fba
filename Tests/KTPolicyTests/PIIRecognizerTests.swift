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
