import Testing
import KTModel

@Suite struct JSONValueParsingTests {
    /// A key given twice is refused: parsers disagree on which one wins (first, last, error), so a
    /// body the gateway reads one way must not reach a service that reads it the other way.
    @Test func duplicateKeysAreRefusedWithTheirName() {
        #expect((try? JSONValue.parse(#"{"a":1,"a":2}"#)) == nil)
        do {
            _ = try JSONValue.parse(#"{"outer":{"messages":[],"x":1,"messages":[1]}}"#)
            Issue.record("a duplicate key was accepted")
        } catch {
            #expect(error.message == "duplicate key 'messages' in an object")
            #expect(error.offset == 30)   // where the second "messages" starts
        }
        // The same key in sibling objects is fine.
        #expect((try? JSONValue.parse(#"[{"a":1},{"a":2}]"#)) != nil)
    }

    /// Many keys cost linear time: a hostile object of 60,000 keys (and a duplicate at its end)
    /// parses within the time a small body takes times its size, not quadratically.
    @Test func manyKeysStayLinear() throws {
        var s = "{"
        for i in 0..<60_000 { s += "\"k\(i)\":1," }
        let parsed = try JSONValue.parse(s + "\"z\":1}")
        #expect(parsed.objectValue?.count == 60_001)
        let duplicateRefused: Bool
        do { _ = try JSONValue.parse(s + "\"k7\":1}"); duplicateRefused = false } catch { duplicateRefused = error.message == "duplicate key 'k7' in an object" }
        #expect(duplicateRefused)
    }

    @Test func aLeadingByteOrderMarkIsIgnored() throws {
        #expect(try JSONValue.parse([0xEF, 0xBB, 0xBF] + Array(#"{"a":1}"#.utf8)) == .object([("a", .int(1))]))
        #expect((try? JSONValue.parse(Array(#"{"a":1}"#.utf8) + [0xEF, 0xBB, 0xBF])) == nil)   // only at the start
    }

    @Test func errorsSayWhatAndWhere() {
        func message(_ s: String) -> String? {
            do { _ = try JSONValue.parse(s); return nil } catch { return error.description }
        }
        #expect(message(#"{"a":1,}"#) == "expected a string key at byte 7")
        #expect(message(#"{"a":"\ud800"}"#) == "unpaired surrogate in \\u escape at byte 12")
        #expect(message("{\"a\":\"\u{1}\"}") == "control character in a string at byte 6")
        #expect(message(#"{"max_tokens":1e400}"#) == "number 1e400 is out of range (beyond ±1.8e308) at byte 14")
        #expect(message(#"[-2E+999]"#) == "number -2E+999 is out of range (beyond ±1.8e308) at byte 1")
        #expect((try? JSONValue.parse(#"[1e-400, 1.7e308]"#)) != nil)   // underflow to 0 and the largest doubles are fine
    }

    /// The one-pass scan the stream guard uses finds what the parser refuses, in any spelling.
    @Test func theDuplicateKeyScanAgreesWithTheParser() {
        #expect(JSONDuplicateKeys.first(in: Array(#"{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}"#.utf8)) == nil)
        #expect(JSONDuplicateKeys.first(in: Array(#"{"a":1,"b":2,"a":3}"#.utf8)) == "a")
        #expect(JSONDuplicateKeys.first(in: Array(#"{"x":{"content":"1","c\u006fntent":"2"}}"#.utf8)) == "content")
        #expect(JSONDuplicateKeys.first(in: Array(#"{"s":"a \"quoted\" \\","s2":"x"}"#.utf8)) == nil)
        var many = "{"
        for i in 0..<100 { many += "\"k\(i)\":\(i)," }
        #expect(JSONDuplicateKeys.first(in: Array((many + "\"k50\":0}").utf8)) == "k50")
        #expect(JSONDuplicateKeys.first(in: Array((many + "\"z\":0}").utf8)) == nil)
        // Not JSON: an answer, never a trap.
        for junk in ["{\"", "}}}]]", "{\"a\\", "\"\\"] { _ = JSONDuplicateKeys.first(in: Array(junk.utf8)) }
    }
}
