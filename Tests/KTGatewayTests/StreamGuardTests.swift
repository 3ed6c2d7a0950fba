import Foundation
import KTModel
import Testing
import KTConfig
@testable import KTGateway
@testable import KTPolicy

func policyEngine(_ yaml: String) throws -> PolicyEngine {
    let text = "pack: { name: t, version: 1.0.0 }\nproviders: { targets: [ { id: m, provider: mock, model: x } ] }\n" + yaml
    return try PolicyEngine(config: ConfigLoader().load(text: text, name: "t.yaml").config)
}

/// Upstream SSE events carrying `pieces` as content deltas.
func sse(_ pieces: [String]) -> [[UInt8]] {
    var events = [#"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"# + "\n\n"]
    for p in pieces {
        let json = String(decoding: try! JSONSerialization.data(withJSONObject: ["id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                                                                                  "choices": [["index": 0, "delta": ["content": p], "finish_reason": NSNull()]]]), as: UTF8.self)
        events.append("data: \(json)\n\n")
    }
    events.append(#"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"# + "\n\n")
    events.append("data: [DONE]\n\n")
    return events.map { Array($0.utf8) }
}

/// Runs the guard over the events and returns the text the client sees and whether it was blocked.
func guarded(_ engine: PolicyEngine, _ events: [[UInt8]]) -> (text: String, blocked: Bool, done: Bool, releasedBeforeEnd: String) {
    var g = StreamGuard(engine: engine)
    var out = "", blocked = false, done = false, early = ""
    for (i, e) in events.enumerated() {
        for o in g.feed(e) {
            switch o {
            case .blocked, .invalidEvent: blocked = true
            case .send(let bytes):
                let s = String(decoding: bytes, as: UTF8.self)
                if s.contains("[DONE]") { done = true }
                for line in s.split(separator: "\n") where line.hasPrefix("data: {") {
                    let o = try! JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as! [String: Any]
                    let c = ((o["choices"] as! [[String: Any]]).first?["delta"] as? [String: Any])?["content"] as? String ?? ""
                    out += c
                    if i < events.count - 2 { early += c }
                }
            }
        }
        if blocked { break }
    }
    return (out, blocked, done, early)
}

@Suite struct StreamGuardTests {
    /// Reasoning deltas (`reasoning_content`, as DeepSeek and vLLM stream them) are text the client
    /// shows: they are judged like the answer — a card split over reasoning chunks never goes out —
    /// and keep their field; the answer's text is unchanged.
    @Test func reasoningDeltasAreJudgedAndKeepTheirField() throws {
        let e = try policyEngine("policies: { chain: [pii-detector] }\npolicy: { pii-detector: { scan_responses: true } }\n")
        func event(_ delta: [String: Any]) -> [UInt8] {
            let json = String(decoding: try! JSONSerialization.data(withJSONObject: ["id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                                                                                      "choices": [["index": 0, "delta": delta, "finish_reason": NSNull()]]]), as: UTF8.self)
            return Array("data: \(json)\n\n".utf8)
        }
        let events = [event(["role": "assistant", "content": ""]),
                      event(["reasoning_content": "The user's card is 4111 11"]), event(["reasoning_content": "11 1111 1111, so I "]),
                      event(["reasoning_content": "should not repeat it. "]),
                      event(["content": "I can't share card numbers."]),
                      Array("data: [DONE]\n\n".utf8)]
        var g = StreamGuard(engine: e)
        var reasoning = "", content = "", raw = ""
        for ev in events {
            for o in g.feed(ev) {
                guard case .send(let bytes) = o else { Issue.record("not sent: \(o)"); continue }
                let s = String(decoding: bytes, as: UTF8.self)
                raw += s
                for line in s.split(separator: "\n") where line.hasPrefix("data: {") {
                    let o = try JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as! [String: Any]
                    let d = (o["choices"] as! [[String: Any]]).first?["delta"] as? [String: Any] ?? [:]
                    reasoning += d["reasoning_content"] as? String ?? ""
                    content += d["content"] as? String ?? ""
                }
            }
        }
        #expect(!raw.contains("4111") && !raw.contains("1111 1111"), "\(raw)")
        #expect(reasoning == "The user's card is [CREDIT_CARD], so I should not repeat it. ", "\(reasoning)")
        #expect(content == "I can't share card numbers.")
        #expect(raw.contains("[DONE]"))
    }

    @Test func anEmailSplitAcrossChunksIsRedactedNotLeaked() throws {
        let e = try policyEngine("policies: { chain: [pii-detector] }\npolicy: { pii-detector: { scan_responses: true } }\n")
        let pieces = ["Sure, write to ja", "ne.d", "oe@exam", "ple.com and I will forward it. ", String(repeating: "More text follows here. ", count: 8)]
        let r = guarded(e, sse(pieces))
        #expect(!r.blocked && r.done)
        #expect(r.text.contains("[EMAIL]") && !r.text.contains("jane") && !r.text.contains("example.com"))
        #expect(r.text == pieces.joined().replacingOccurrences(of: "jane.doe@example.com", with: "[EMAIL]"))
        #expect(!r.releasedBeforeEnd.isEmpty)  // text was streamed before the end, not buffered whole
    }

    /// An event the policies cannot read (NaN) or could read differently from the client (a key
    /// given twice, also spelt with an escape) stops the stream: nothing of it or after it is released.
    @Test func anEventThatIsNotStrictJSONStopsTheStream() throws {
        let e = try policyEngine("policies: { chain: [pii-detector] }\npolicy: { pii-detector: { scan_responses: true } }\n")
        let card = "4111 1111 1111 1111"
        for bad in [#"{"choices":[{"index":0,"delta":{"content":"\#(card)","content":"ok"},"finish_reason":null}]}"#,
                    #"{"choices":[{"index":0,"delta":{"content":"\#(card)"},"finish_reason":null}],"x":NaN}"#,
                    #"{"choices":[{"index":0,"delta":{"content":"\#(card)","c\u006fntent":"ok"},"finish_reason":null}]}"#,
                    // Types the API never sends: text the policies would not read.
                    #"{"choices":[{"index":0,"delta":{"content":[{"type":"text","text":"\#(card)"}]},"finish_reason":null}]}"#,
                    #"{"choices":{"0":{"index":0,"delta":{"content":"\#(card)"}}}}"#,
                    #"{"choices":[{"index":0,"delta":"\#(card)","finish_reason":null}]}"#] {
            var g = StreamGuard(engine: e)
            var released = "", invalid: String?
            for event in sse(["Here it is: "]).dropLast(2) + [Array("data: \(bad)\n\n".utf8)] + sse([" done"]).suffix(2) {
                for o in g.feed(event) {
                    switch o {
                    case .send(let bytes): released += String(decoding: bytes, as: UTF8.self)
                    case .blocked: Issue.record("blocked instead of stopped")
                    case .invalidEvent(let why): invalid = why
                    }
                }
                if invalid != nil { break }
            }
            #expect(invalid?.contains("not a JSON value") == true || invalid?.contains("'content' twice") == true
                    || invalid?.contains("type the API never sends") == true || invalid?.contains("not an array of objects") == true,
                    "\(bad): \(invalid ?? "")")
            #expect(!released.contains("4111") && !released.contains("[DONE]"), "\(released)")
        }
    }

    /// `stream_options.include_usage` (the OpenAI SDKs and LangChain ask for it): the usage event,
    /// with its empty `choices`, follows the text and the finish, before [DONE].
    @Test func theUsageEventFollowsTheTextAndTheFinish() throws {
        let e = try policyEngine("policies: { chain: [pii-detector] }\npolicy: { pii-detector: { scan_responses: true } }\n")
        var events = sse(["Call me at 4111 1111 ", "1111 1111 please."])
        let usage = #"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":9,"total_tokens":12}}"# + "\n\n"
        events.insert(Array(usage.utf8), at: events.count - 1)
        var g = StreamGuard(engine: e)
        var out = ""
        for ev in events { for o in g.feed(ev) { if case .send(let b) = o { out += String(decoding: b, as: UTF8.self) } } }
        let text = try #require(out.range(of: "[CREDIT_CARD]")), finish = try #require(out.range(of: #""finish_reason":"stop""#))
        let usageAt = try #require(out.range(of: #""total_tokens":12"#)), done = try #require(out.range(of: "[DONE]"))
        #expect(!out.contains("4111"))
        #expect(text.lowerBound < finish.lowerBound && finish.lowerBound < usageAt.lowerBound && usageAt.lowerBound < done.lowerBound, "\(out)")
    }

    @Test func aBlockedTermMidStreamBlocksWithoutDone() throws {
        let e = try policyEngine("policies: { chain: [safety-filter] }\npolicy: { safety-filter: { block_if: [nerve agent] } }\n")
        let r = guarded(e, sse(["Here is how to make a ner", "ve agent at home: step one..."]))
        #expect(r.blocked && !r.done && !r.text.contains("nerve"))
    }

    @Test func appendComesAtTheEndAndCleanStreamsPassIntact() throws {
        let e = try policyEngine("""
            policies: { chain: [response-rewriter] }
            policy: { response-rewriter: { rules: [ { name: d, replacement: " [AI]", position: append } ] } }
            """)
        let pieces = ["Hello", " there,", " friend."]
        let r = guarded(e, sse(pieces))
        #expect(r.text == "Hello there, friend. [AI]" && r.done)
    }
}

/// Strict audit holds the stream's terminator until the record is durable; every other byte passes.
@Suite struct StreamTerminatorHoldTests {
    func run(_ chunks: [String]) -> (passed: String, held: String) {
        var hold = StreamTerminatorHold()
        var passed = ""
        for c in chunks { passed += String(decoding: hold.feed(Array(c.utf8)), as: UTF8.self) }
        passed += String(decoding: hold.finish(), as: UTF8.self)
        return (passed, String(decoding: hold.held, as: UTF8.self))
    }

    @Test func theTerminatorIsHeldWhereverTheChunksSplitIt() {
        let stream = "data: {\"a\":1}\n\ndata: {\"b\":2}\r\n\r\ndata: [DONE]\n\n"
        let bytes = Array(stream)
        for cut in 1..<bytes.count {
            let (passed, held) = run([String(bytes[..<cut]), String(bytes[cut...])])
            #expect(passed == "data: {\"a\":1}\n\ndata: {\"b\":2}\r\n\r\n", "cut at \(cut)")
            #expect(held == "data: [DONE]\n\n", "cut at \(cut)")
        }
    }

    @Test func longEventsPassAtOnceAndOnlyATerminatorIsHeld() {
        let long = "data: " + String(repeating: "x", count: 10_000) + "\n\n"
        var hold = StreamTerminatorHold()
        // Most of a long event is released before the event ends (no buffering of answers).
        let first = hold.feed(Array(long.utf8.prefix(5_000)))
        #expect(first.count >= 5_000 - StreamTerminatorHold.maxTerminatorBytes)
        #expect(run([long, ": comment\n\n", "event: x\ndata: [DONE]"]) == (long + ": comment\n\n", "event: x\ndata: [DONE]"))
        #expect(run(["data: [DONE] not\n\n"]) == ("data: [DONE] not\n\n", ""))
        #expect(run(["data: a\n\n", "data: [DONE]\n\n", "data: late\n\n"]).held == "data: [DONE]\n\ndata: late\n\n")
    }
}

/// Streams release everything but the tail that could still become a match.
@Suite struct StreamGuardReleaseTests {
    /// Each event fed on its own (one upstream read per event): what each read released.
    func perRead(_ engine: PolicyEngine, _ pieces: [String]) -> [String] {
        var g = StreamGuard(engine: engine)
        return sse(pieces).map { event in
            g.feed(event).map { o -> String in
                guard case .send(let bytes) = o else { return "<blocked>" }
                return String(decoding: bytes, as: UTF8.self).split(separator: "\n").filter { $0.hasPrefix("data: {") }.map { line in
                    let o = try! JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as! [String: Any]
                    return ((o["choices"] as! [[String: Any]]).first?["delta"] as? [String: Any])?["content"] as? String ?? ""
                }.joined()
            }.joined()
        }
    }

    @Test func proseThroughTheQuickLaunchChainIsReleasedChunkByChunk() throws {
        let e = try policyEngine("policies: { chain: [prompt-injection, pii-detector, audit-logger] }\npolicy: { prompt-injection: {}, pii-detector: {}, audit-logger: {} }\n")
        let released = perRead(e, ["Hello", " there,", " how can", " I help?"])
        // Event 0 is the role-only chunk; each text chunk comes out in the read that brought it.
        #expect(Array(released[1...4]) == ["Hello", " there,", " how can", " I help?"])
    }

    @Test func aCardSplitOverThreeChunksIsNeverReleased() throws {
        let e = try policyEngine("policies: { chain: [pii-detector] }\npolicy: { pii-detector: {} }\n")
        let released = perRead(e, ["Your card is 4111 11", "11 1111 ", "1111, thanks."])
        let all = released.joined()
        #expect(!all.contains("4111") && !all.contains("1111"), "\(released)")
        #expect(all.contains("[CREDIT_CARD]"))
        #expect(released[1] == "Your card is ")
    }

    /// Any chunking of any text gives what the non-streamed chain gives for the whole text.
    @Test func everyChunkingReleasesExactlyTheWholeTextsRedaction() throws {
        let engines = [
            try policyEngine("policies: { chain: [pii-detector] }\npolicy: { pii-detector: { scan_responses: true } }\n"),
            try policyEngine("policies: { chain: [pii-detector, dlp-filter] }\npolicy: { pii-detector: {}, dlp-filter: { blocked_terms: [project falcon, confidential], action: redact } }\n"),
        ]
        let texts = [
            "Card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, mail jane.doe@example.com, call +1 415 555 0100.",
            "Project Falcon is confidential; the code name project falcon must not leak. Card 5500-0000-0000-0004 ok.",
            "Plain words, numbers like 42 and 2.5 and version 1.2.3, nothing to hide here at all.",
            "Reach me at (415) 555-0100 ext 42 or 10.0.0.1 or fe80::1; SSN 123-45-6789. Confidentiality-rated, not confidential",
            "GB82 WEST 1234 5698 7654 32 and then 4111111111111111",
            // Long enough that evaluations see windows, not the whole answer.
            (0..<12).map { i in
                ["The quarterly report covers revenue, costs and the outlook for next year in some detail. ",
                 "Pay with 4111 1111 1111 1111 before Friday, or write to billing.team@example.org today. ",
                 "Wire it to DE89 3704 0044 0532 0130 00; the project falcon budget stays confidential for now. ",
                 "Call +44 20 7946 0958 ext 12 if the transfer to GB82 WEST 1234 5698 7654 32 fails again. "][i % 4]
            }.joined(),
        ]
        var rng = SplitMix64(seed: 7)
        for e in engines {
            for text in texts {
                var whole = [TextSegment(role: "assistant", text: text, location: [0])]
                _ = e.evaluate(&whole, context: EvaluationContext(phase: .response, isFinal: true))
                for _ in 0..<(text.count > 500 ? 6 : 40) {
                    var pieces: [String] = [], rest = Substring(text)
                    while !rest.isEmpty {
                        let n = min(rest.count, Int(rng.next() % 7) + 1)
                        pieces.append(String(rest.prefix(n)))
                        rest = rest.dropFirst(n)
                    }
                    let streamed = perRead(e, pieces).joined()
                    #expect(streamed == whole[0].text, "pieces \(pieces)")
                }
            }
        }
    }
}
