import Testing
@testable import KTPolicy

/// What a stream must hold back at its end, per shape: only what could still become a match.
@Suite struct StreamTailTests {
    @Test(arguments: [
        ("Plain prose with nothing pending", 0),
        ("Your card 4111 1111", 9),
        ("Your card 4111-1111-", 10),
        ("Order total: 42", 2),
        ("ends with a space ", 0),
        ("version 2.", 0),   // '.' is no card separator: the card rule holds nothing after it
    ])
    func cardTails(_ text: String, _ expected: Int) {
        #expect(StreamTail.card(text) == expected, "\(text)")
    }

    @Test func phoneTailsIncludeOpenersAndExtensions() {
        #expect(StreamTail.phone("call +") == 1)
        #expect(StreamTail.phone("call (555) 12") == 8)
        #expect(StreamTail.phone("call +1 555 0100 ext") == "+1 555 0100 ext".count)
        #expect(StreamTail.phone("call +1 555 0100 x2") == "+1 555 0100 x2".count)
        #expect(StreamTail.phone("the next step") == 0)
    }

    @Test func ibanTailsStartAtABoundaryWithLettersThenDigits() {
        #expect(StreamTail.iban("pay to DE89 3704 0044") == "DE89 3704 0044".count)
        #expect(StreamTail.iban("pay to DE") == 2)
        #expect(StreamTail.iban("pay to DE8") == 3)
        #expect(StreamTail.iban("the weather is fine") == 0)
        #expect(StreamTail.iban("code AB1") == 3)
        #expect(StreamTail.iban("the word abcd") == 0)
    }

    @Test func termPrefixesAreWordBoundedAndCaseInsensitive() {
        let terms = ["project falcon", "confidential"]
        #expect(StreamTail.termPrefix("this is Confid", terms: terms) == 6)
        #expect(StreamTail.termPrefix("this is confidential", terms: terms) == 12)   // a letter may still follow
        #expect(StreamTail.termPrefix("about Project F", terms: terms) == 9)
        #expect(StreamTail.termPrefix("unconfid", terms: terms) == 0)                  // not at a word start
        #expect(StreamTail.termPrefix("nothing here", terms: terms) == 0)
    }

    @Test func emailsHoldTheTrailingAddressCharacters() {
        #expect(StreamTail.email("write to jane.doe@exa") == "jane.doe@exa".count)
        #expect(StreamTail.email("done. ") == 0)
    }
}
