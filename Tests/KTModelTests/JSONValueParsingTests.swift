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

    @Test func errorsSayWhatAndWhere() {
        func message(_ s: String) -> String? {
            do { _ = try JSONValue.parse(s); return nil } catch { return error.description }
        }
        #expect(message(#"{"a":1,}"#) == "expected a string key at byte 7")
        #expect(message(#"{"a":"\ud800"}"#) == "unpaired surrogate in \\u escape at byte 12")
        #expect(message("{\"a\":\"\u{1}\"}") == "control character in a string at byte 6")
    }
}
