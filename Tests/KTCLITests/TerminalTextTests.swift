import Testing
import KTModel
@testable import KTCLI

@Suite struct TerminalTextTests {
    @Test func controlAndBidiCharactersAreShownAsEscapes() {
        #expect(TerminalText.visible("plain text, ünïcödé — ok") == "plain text, ünïcödé — ok")
        #expect(TerminalText.visible("a\u{1B}[31mb") == "a\\x1b[31mb")
        #expect(TerminalText.visible("\u{07}\u{7F}\u{9B}\u{0}") == "\\x07\\x7f\\x9b\\x00")
        #expect(TerminalText.visible("\u{202E}evil\u{2066}\u{2029}") == "\\u202eevil\\u2066\\u2029")
        #expect(TerminalText.visible("one\ntwo\tthree\r") == "one\\ntwo\\tthree\\r")
        #expect(TerminalText.visible("one\ntwo\u{1B}", keepingNewlines: true) == "one\ntwo\\x1b")
        let v: JSONValue = .object([("k\u{1B}", .array([.string("\u{9B}"), .int(3)]))])
        #expect(v.terminalSafe == .object([("k\\x1b", .array([.string("\\x9b"), .int(3)]))]))
    }
}
