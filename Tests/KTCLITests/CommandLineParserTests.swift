import KTTestSupport
import Testing
@testable import KTCLI

@Suite struct CommandLineParserTests {
    let options = [
        OptionSpec("file", value: "F", repeatable: true, "f"),
        OptionSpec("listen", value: "ADDR", "l"),
        OptionSpec("json", "j"),
    ]

    func parse(_ tokens: [String], positionals: [PositionalSpec] = []) throws(UsageError) -> ParsedArguments {
        try CommandLineParser.parse(tokens, options: options, positionals: positionals, command: "kt test")
    }

    @Test func spaceAndEqualsFormsAndRepeats() throws {
        let p = try parse(["--file", "a.yaml", "--file=b.yaml", "--listen=127.0.0.1:1", "--json"])
        #expect(p.all("file") == ["a.yaml", "b.yaml"])
        #expect(p.value("listen") == "127.0.0.1:1")
        #expect(p.flag("json"))
    }

    @Test func valuesMayLookLikeAnything() throws {
        // A value that starts with '=' or contains '=' stays intact.
        let p = try parse(["--listen", "=x=y"])
        #expect(p.value("listen") == "=x=y")
    }

    @Test func doubleDashEndsOptions() throws {
        let p = try parse(["--json", "--", "--file", "-x"], positionals: [PositionalSpec("A", ""), PositionalSpec("B", "")])
        #expect(p.flag("json") && p.positionals == ["--file", "-x"])
    }

    @Test func unknownFlagSuggests() {
        #expect { try parse(["--lisen", "x"]) } throws: { ($0 as! UsageError).message.contains("did you mean '--listen'") }
    }

    @Test func mistakesAreUsageErrors() {
        #expect(throws: UsageError.self) { try parse(["--listen"]) }                   // missing value
        #expect(throws: UsageError.self) { try parse(["--listen", "a", "--listen", "b"]) }  // not repeatable
        #expect(throws: UsageError.self) { try parse(["--json=yes"]) }                  // flag with value
        #expect(throws: UsageError.self) { try parse(["-j"]) }                          // single dash
        #expect(throws: UsageError.self) { try parse(["extra"]) }                       // unexpected positional
        #expect(throws: UsageError.self) { try parse([], positionals: [PositionalSpec("ID", "")]) }
    }
}
