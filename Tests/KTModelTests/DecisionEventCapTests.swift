import Testing
import KTModel

@Suite struct DecisionEventCapTests {
    func event(prompt: [String], response: String, extra: [(String, JSONValue)] = []) -> JSONValue {
        .object([("id", "req_1"), ("gateway", "gw-a"), ("verdict", "allow"), ("status", 200), ("latency_ms", .double(1.5)),
                 ("policy_results", .array([.object([("policy", "pii-detector"), ("status", "allow")])])),
                 ("content", .object([("prompt", .array(prompt.map { .string($0) })), ("response", .string(response))]))] + extra)
    }

    @Test func smallEventsAreKeptAsTheyAre() {
        let e = event(prompt: ["hello"], response: "hi")
        #expect(DecisionEventCap.capped(e) == e)
    }

    /// Content is cut to 16 KB a side (the prompt's parts together), on a character boundary;
    /// the decision stays whole and the copy says it was cut.
    @Test func largeContentIsCutAndMarked() {
        let big = String(repeating: "é", count: 100_000)          // two bytes each
        let e = event(prompt: [big, "second part"], response: String(repeating: "r", count: 300_000))
        let c = DecisionEventCap.capped(e)
        #expect(c.serialized().utf8.count <= DecisionEventCap.maxBytes)
        #expect(c["truncated"]?.boolValue == true && c["content"]?["truncated"]?.boolValue == true)
        let prompt = c["content"]?["prompt"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(prompt.count == 1 && prompt[0].utf8.count == DecisionEventCap.contentBytes && prompt[0].allSatisfy { $0 == "é" })
        #expect(c["content"]?["response"]?.stringValue?.utf8.count == DecisionEventCap.contentBytes)
        #expect(c["verdict"]?.stringValue == "allow" && c["policy_results"]?.arrayValue?.count == 1 && c["latency_ms"]?.doubleValue == 1.5)
    }

    /// Whatever else a sender puts in an event, only the essential scalar fields survive an
    /// event that is still too large once its content is cut.
    @Test func anOversizedEventOfAnyShapeKeepsItsEssentials() {
        let e = event(prompt: [], response: "", extra: [("padding", .string(String(repeating: "x", count: 1 << 20))),
                                                         ("nested", .array(Array(repeating: .string("y"), count: 100_000)))])
        let c = DecisionEventCap.capped(e)
        #expect(c.serialized().utf8.count <= 1024)
        #expect(c["id"]?.stringValue == "req_1" && c["verdict"]?.stringValue == "allow" && c["status"]?.intValue == 200)
        #expect(c["padding"] == nil && c["nested"] == nil && c["content"] == nil && c["truncated"]?.boolValue == true)
    }
}
