import Foundation
import Testing
@testable import KTPolicy
import KTModel

/// What a reader or a model takes for a card number, an e-mail address or a phone number is one
/// to the recognisers too: no-break spaces, Unicode dashes, fullwidth forms, digits of other
/// scripts and invisible characters between the digits.
@Suite struct TextFoldingTests {
    let recognizers = try! PIIRecognizers()

    func found(_ text: String) -> [(String, String)] {
        ((try? recognizers.find(in: text)) ?? []).map { ($0.entity, $0.value) }
    }

    @Test(arguments: [
        "card 4111\u{00A0}1111\u{00A0}1111\u{00A0}1111 ok",   // no-break spaces (copied from a web page)
        "card 4111\u{202F}1111\u{202F}1111\u{202F}1111 ok",   // narrow no-break spaces
        "card 4111\u{2013}1111\u{2013}1111\u{2013}1111 ok",   // en dashes
        "card 4111\u{200B}1111\u{200B}1111\u{200B}1111 ok",   // zero-width spaces
        "card 41\u{00AD}11 1111 11\u{2060}11 1111 ok",        // soft hyphen, word joiner
        "card \u{0664}\u{0661}\u{0661}\u{0661} \u{0661}\u{0661}\u{0661}\u{0661} \u{0661}\u{0661}\u{0661}\u{0661} \u{0661}\u{0661}\u{0661}\u{0661} ok", // Arabic-Indic digits
    ])
    func cardsWrittenWithOtherCharactersAreFound(_ text: String) throws {
        let f = try recognizers.find(in: text)
        #expect(f.count == 1 && f.first?.entity == "credit_card", "\(f)")
        // The finding is the original text from "card " to " ok", dropped characters included.
        let ns = text as NSString
        let range = try #require(f.first?.range)
        #expect(ns.substring(to: range.location) == "card " && ns.substring(from: range.location + range.length) == " ok")
    }

    @Test func addressesAndPhonesInFullwidthOrWithInvisibleCharacters() {
        #expect(found("mail jane.doe\u{FF20}example.com now").map(\.0) == ["email"])
        #expect(found("mail ｊａｎｅ．ｄｏｅ＠ｅｘａｍｐｌｅ．ｃｏｍ now").map(\.0) == ["email"])
        #expect(found("mail jane\u{200B}.doe@example.com now").first?.1 == "jane\u{200B}.doe@example.com")
        #expect(found("call +44\u{00A0}20\u{00A0}7946\u{00A0}0958 today").map(\.0) == ["phone"])
        // A Cyrillic о in the domain: the address a reader sees, redacted as written.
        #expect(found("mail jane.doe@ex\u{0430}mple.c\u{043E}m now").first?.1 == "jane.doe@ex\u{0430}mple.c\u{043E}m")
    }

    /// Ordinary non-ASCII text is not made PII by the folding: amounts with no-break thousands
    /// separators, dates, versions, words with soft hyphens.
    @Test(arguments: ["Le prix est de 12\u{00A0}500\u{00A0}€ TTC.", "Réunion le 12\u{2013}14 mars 2026.", "Version 2.4.1\u{2013}beta",
                      "Ein\u{00AD}kaufs\u{00AD}wagen für 1\u{202F}299,00 €", "東京都 渋谷区 〒150-0002"])
    func ordinaryTextStaysClean(_ text: String) {
        #expect(found(text).isEmpty, "\(found(text))")
    }

    /// A stream holds back a card's digits however they are separated.
    @Test func streamTailsCountFoldedSeparators() throws {
        let policy = try PIIPolicy(settings: PIIDetectorSettings())
        #expect(policy.pendingTail("pay 4111\u{00A0}1111\u{00A0}") == "4111\u{00A0}1111\u{00A0}".count)
        #expect(policy.pendingTail("pay 4111\u{200B}1111\u{200B}11") == "4111\u{200B}1111\u{200B}11".count)
        #expect(policy.pendingTail("pay ４１１１ １１") == "４１１１ １１".count)
        #expect(policy.pendingTail("plain prose, no digits\u{00A0}here") == 0)
        #expect(policy.couldMatch("card ４１１１") && policy.couldMatch("card \u{0664}\u{0661}") && !policy.couldMatch("café\u{00A0}crème"))
    }
}
