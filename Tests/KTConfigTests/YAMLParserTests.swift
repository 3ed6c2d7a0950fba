import KTTestSupport
import Testing
import KTModel
@testable import KTConfig

@Suite struct YAMLParserTests {
    let parser = YAMLParser()

    @Test func keepsLineAndColumnOfKeysAndValues() throws {
        let root = try parser.parse("a:\n  b: [1, two]\n  c: 'x'\n", file: "t.yaml")
        let b = try #require(root["a"]?["b"])
        #expect(b.location == SourceLocation(file: "t.yaml", line: 2, column: 6))
        let pair = try #require(root["a"]?.mappingPairs?.first { $0.key == "c" })
        #expect(pair.keyLocation.line == 3 && pair.keyLocation.column == 3)
        #expect(b.sequenceItems?[1].location.column == 10)
    }

    @Test func resolvesScalarsByTheCoreSchema() throws {
        let root = try parser.parse("""
            i: 42
            neg: -7
            hex: 0x1F
            f: 0.80
            e: 1e3
            t: true
            n: ~
            s: "42"
            yes: yes
            v: 1.2.3
            """, file: "t")
        #expect(root["i"]?.resolved == .int(42))
        #expect(root["neg"]?.resolved == .int(-7))
        #expect(root["hex"]?.resolved == .int(31))
        #expect(root["f"]?.resolved == .float(0.8))
        #expect(root["e"]?.resolved == .float(1000))
        #expect(root["t"]?.resolved == .bool(true))
        #expect(root["n"]?.resolved == .null)
        #expect(root["s"]?.resolved == .string("42"))
        #expect(root["yes"]?.resolved == .string("yes"))  // YAML 1.2: no Norway problem
        #expect(root["v"]?.resolved == .string("1.2.3"))
    }

    @Test func aliasesAndMergeKeysExpand() throws {
        let root = try parser.parse("""
            base: &b { provider: mock, model: m }
            t1: *b
            t2:
              <<: *b
              model: override
            """, file: "t")
        #expect(root["t1"]?["provider"]?.stringValue == "mock")
        #expect(root["t2"]?["provider"]?.stringValue == "mock")
        #expect(root["t2"]?["model"]?.stringValue == "override")
    }

    @Test func duplicateKeysAreRejectedWithPosition() {
        #expect {
            try parser.parse("a: 1\nb: 2\na: 3\n", file: "t")
        } throws: { error in
            let e = error as! YAMLSyntaxError
            return e.message.contains("duplicate key 'a'") && e.location.line == 3
        }
    }

    @Test func emptyAndMultiDocumentFilesAreErrors() {
        #expect(throws: YAMLSyntaxError.self) { try parser.parse("# only a comment\n", file: "t") }
        #expect(throws: YAMLSyntaxError.self) { try parser.parse("a: 1\n---\nb: 2\n", file: "t") }
    }

    // MARK: Robustness: every hostile input ends in a positioned error, never a crash or hang.

    @Test func truncatedInput() throws {
        let text = try Fixtures.text("valid/full.yaml")
        for cut in stride(from: 1, to: text.utf8.count, by: 97) {
            let bytes = Array(text.utf8.prefix(cut))
            // Either a (partial but well-formed) tree or a syntax error: never a crash.
            _ = try? parser.parse(bytes: bytes, file: "t")
        }
        #expect(throws: YAMLSyntaxError.self) { try parser.parse("pack: {name: x, version: [1, 2", file: "t") }
    }

    @Test func binaryInput() {
        var generator = SplitMix64(seed: 7)
        let bytes = (0..<4096).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        #expect(throws: YAMLSyntaxError.self) { try parser.parse(bytes: bytes, file: "t") }
        #expect(throws: YAMLSyntaxError.self) { try parser.parse(bytes: [0x61, 0x3a, 0x20, 0x00, 0xff, 0xfe], file: "t") }
    }

    @Test func deeplyNestedInput() {
        let flow = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect { try parser.parse(flow, file: "t") } throws: { ($0 as! YAMLSyntaxError).message.contains("nesting is deeper") }
        var block = ""
        for depth in 0..<10_000 { block += String(repeating: " ", count: depth) + "k:\n" }
        #expect(throws: YAMLSyntaxError.self) { try parser.parse(block, file: "t") }
    }

    @Test func hugeScalarIsBoundedByInputSize() {
        let small = YAMLParser(maxInputBytes: 1 << 20)
        let huge = "a: " + String(repeating: "x", count: 2 << 20)
        #expect { try small.parse(huge, file: "t") } throws: { ($0 as! YAMLSyntaxError).message.contains("limit") }
        // Below the limit a large scalar is simply a value.
        #expect((try? parser.parse("a: " + String(repeating: "y", count: 1 << 20), file: "t"))?["a"]?.scalarText?.count == 1 << 20)
    }

    @Test func aliasBombIsRefused() {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
        for i in 1...9 {
            let refs = Array(repeating: "*a\(i - 1)", count: 9).joined(separator: ", ")
            text += "a\(i): &a\(i) [\(refs)]\n"
        }
        #expect { try parser.parse(text, file: "t") } throws: { ($0 as! YAMLSyntaxError).message.contains("alias bomb") }
    }

    @Test func undefinedAliasIsAnError() {
        #expect(throws: YAMLSyntaxError.self) { try parser.parse("a: *nope\n", file: "t") }
    }
}

