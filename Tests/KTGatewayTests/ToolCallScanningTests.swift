import Foundation
import Testing
import KTTestSupport
@testable import KTGateway
@testable import KTPolicy

/// Tool-call arguments are scanned like content (JSON answers and streams), redactions keep the
/// arguments valid JSON, and parts no policy can read are recorded as unscanned.
@Suite struct ToolCallScanningTests {
    static let card = "4111 1111 1111 1111"

    func streamEvents(_ argumentFragments: [String], text: String? = nil) -> [[UInt8]] {
        var events: [String] = []
        func add(_ o: [String: Any]) {
            events.append("data: " + String(decoding: try! JSONSerialization.data(withJSONObject: o), as: UTF8.self) + "\n\n")
        }
        let head: [String: Any] = ["id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"]
        func choice(_ delta: [String: Any], finish: Any = NSNull()) -> [String: Any] {
            head.merging(["choices": [["index": 0, "delta": delta, "finish_reason": finish]]]) { $1 }
        }
        add(choice(["role": "assistant", "content": NSNull()]))
        if let text { add(choice(["content": text])) }
        for (i, f) in argumentFragments.enumerated() {
            var call: [String: Any] = ["index": 0, "function": ["arguments": f]]
            if i == 0 { call = ["index": 0, "id": "call_1", "type": "function", "function": ["name": "pay", "arguments": f]] }
            add(choice(["tool_calls": [call]]))
        }
        add(choice([:], finish: "tool_calls"))
        events.append("data: [DONE]\n\n")
        return events.map { Array($0.utf8) }
    }

    @Test func aCardInStreamedToolCallArgumentsIsRedactedAndTheArgumentsStayJSON() throws {
        let e = try policyEngine("policies: { chain: [pii-detector] }\npolicy: { pii-detector: {} }\n")
        var g = StreamGuard(engine: e)
        let fragments = ["{\"card\": \"4111 11", "11 1111 ", "1111\", \"note\": \"pay ", "it\"}"]
        var out = ""
        for event in streamEvents(fragments, text: "Paying now.") {
            for o in g.feed(event) { if case .send(let b) = o { out += String(decoding: b, as: UTF8.self) } }
        }
        #expect(!out.contains("4111") && !out.contains("1111"), "\(out)")
        // One chunk carries the whole call; its arguments parse and hold the marker.
        let line = try #require(out.split(separator: "\n").first { $0.contains("tool_calls") && $0.contains("arguments") })
        let o = try JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as! [String: Any]
        let call = (((o["choices"] as! [[String: Any]])[0]["delta"] as! [String: Any])["tool_calls"] as! [[String: Any]])[0]
        #expect(call["id"] as? String == "call_1")
        let function = call["function"] as! [String: Any]
        #expect(function["name"] as? String == "pay")
        let args = try JSONSerialization.jsonObject(with: Data((function["arguments"] as! String).utf8)) as! [String: Any]
        #expect(args["card"] as? String == "[CREDIT_CARD]" && args["note"] as? String == "pay it")
        // The order is kept: text, the call, the finish, [DONE].
        let text = try #require(out.range(of: "Paying now.")), callAt = try #require(out.range(of: "call_1"))
        let finish = try #require(out.range(of: "\"finish_reason\":\"tool_calls\"")), done = try #require(out.range(of: "[DONE]"))
        #expect(text.lowerBound < callAt.lowerBound && callAt.lowerBound < finish.lowerBound && finish.lowerBound < done.lowerBound)
    }

    @Test func jsonAnswersRedactToolCallArgumentsAndLegacyFunctionCalls() throws {
        let answer: [String: Any] = ["choices": [["index": 0, "message": [
            "role": "assistant", "content": NSNull(),
            "tool_calls": [["id": "c", "type": "function", "function": ["name": "f", "arguments": "{\"to\":\"jane.doe@example.com\",\"n\":3}"]]],
            "function_call": ["name": "g", "arguments": "not json: card \(Self.card)"],
        ]]]]
        let e = try policyEngine("policies: { chain: [pii-detector] }\npolicy: { pii-detector: { scan_responses: true } }\n")
        var segments = PolicySegments.response(answer)
        #expect(segments.count == 2)
        _ = e.evaluate(&segments, context: EvaluationContext(phase: .response, isFinal: true))
        var object = answer
        PolicySegments.writeResponse(segments, into: &object)
        let message = ((object["choices"] as! [[String: Any]])[0]["message"] as! [String: Any])
        let args = ((message["tool_calls"] as! [[String: Any]])[0]["function"] as! [String: Any])["arguments"] as! String
        let parsed = try JSONSerialization.jsonObject(with: Data(args.utf8)) as! [String: Any]
        #expect(parsed["to"] as? String == "[EMAIL]" && parsed["n"] as? Int == 3)
        #expect(((message["function_call"] as! [String: Any])["arguments"] as! String) == "not json: card [CREDIT_CARD]")
    }

    /// Reasoning and refusal text in a JSON answer are read by PII/DLP under their own roles and
    /// written back; rewrite rules (which act on the answer) leave them alone.
    @Test func jsonAnswersRedactReasoningAndRefusalButRewriteOnlyTheAnswer() throws {
        let answer: [String: Any] = ["choices": [["index": 0, "message": [
            "role": "assistant", "content": "Done.", "reasoning_content": "The card \(Self.card) belongs to jane.doe@example.com.",
            "refusal": "I won't repeat \(Self.card).",
        ]]]]
        let e = try policyEngine("""
            policies: { chain: [pii-detector, response-rewriter] }
            policy:
              pii-detector: { scan_responses: true }
              response-rewriter: { rules: [ { name: sig, position: append, replacement: " -- kt" } ] }
            """)
        var segments = PolicySegments.response(answer)
        #expect(segments.map(\.role) == ["assistant", "reasoning", "refusal"])
        _ = e.evaluate(&segments, context: EvaluationContext(phase: .response, isFinal: true))
        var object = answer
        PolicySegments.writeResponse(segments, into: &object)
        let message = ((object["choices"] as! [[String: Any]])[0]["message"] as! [String: Any])
        #expect(message["content"] as? String == "Done. -- kt")
        #expect(message["reasoning_content"] as? String == "The card [CREDIT_CARD] belongs to [EMAIL].")
        #expect(message["refusal"] as? String == "I won't repeat [CREDIT_CARD].")
        // A reasoning field of a type the API never sends is refused, not relayed unread.
        #expect(PolicySegments.unreadableAnswerField(["choices": [["message": ["reasoning_content": ["x"]]]]], stream: false) == "choices[0].message.reasoning_content")
    }

    @Test func imagePartsAreCountedAsUnscanned() {
        let request: [String: Any] = ["messages": [["role": "user", "content": [
            ["type": "text", "text": "what is this?"], ["type": "image_url", "image_url": ["url": "data:…"]],
            ["type": "input_audio", "input_audio": ["data": "…"]], ["type": "image_url", "image_url": ["url": "https://x"]],
        ]]]]
        #expect(PolicySegments.unscannedParts(request) == ["image_url": 2, "input_audio": 1])
    }
}

/// Through a real gateway: a card in tool-call arguments is redacted (JSON and stream).
@Suite(.serialized) struct ToolCallGatewayTests {
    @Test func toolCallArgumentsAreRedactedThroughAGateway() async throws {
        let (mock, mport) = try await ChildProcess.mockUpstream()
        defer { Task { await mock.stop() } }
        let config = try writePolicyConfig(upstream: mport, chain: "pii-detector", policy: "  pii-detector: { scan_responses: true }\n")
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", config, "--log-level", "warn"])
        defer { gw.signal(SIGKILL) }
        let args = #"{\"account\":\"DE89 3704 0044 0532 0130 00\",\"card\":\"4111 1111 1111 1111\"}"#
        let json = #"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_9","type":"function","function":{"name":"pay","arguments":"\#(args)"}}]},"finish_reason":"tool_calls"}]}"#
        let escapedJSON = json.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        await setBehavior(mport, #"{"raw_content_type": "application/json", "raw_body": "\#(escapedJSON)"}"#)
        let r = await RawClient.post(port: port, path: "/v1/chat/completions", json: chat("pay my bill"))
        #expect(r?.status == 200)
        #expect(r?.text.contains("4111") == false && r?.text.contains("DE89") == false, "\(r?.text ?? "")")
        let o = try JSONSerialization.jsonObject(with: Data(r?.body ?? [])) as! [String: Any]
        let message = (o["choices"] as! [[String: Any]])[0]["message"] as! [String: Any]
        let a = ((message["tool_calls"] as! [[String: Any]])[0]["function"] as! [String: Any])["arguments"] as! String
        let parsed = try JSONSerialization.jsonObject(with: Data(a.utf8)) as! [String: Any]
        #expect(parsed["card"] as? String == "[CREDIT_CARD]" && parsed["account"] as? String == "[IBAN]")

        // The same call streamed in fragments.
        let fragments = ["{\\\"card\\\":\\\"4111 1", "111 1111 11", "11\\\"}"]
        var sse = #"data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":null},"finish_reason":null}]}"# + "\n\n"
        for (i, f) in fragments.enumerated() {
            let head = i == 0 ? #""id":"call_9","type":"function","function":{"name":"pay","arguments":"\#(f)"}"# : #""function":{"arguments":"\#(f)"}"#
            sse += #"data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,\#(head)}]},"finish_reason":null}]}"# + "\n\n"
        }
        sse += #"data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"# + "\n\ndata: [DONE]\n\n"
        let escapedSSE = sse.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
        await setBehavior(mport, #"{"raw_content_type": "text/event-stream", "raw_body": "\#(escapedSSE)"}"#)
        let s = await RawClient.post(port: port, path: "/v1/chat/completions", json: chat("pay my bill", stream: true))
        #expect(s?.status == 200)
        let text = s?.text ?? ""
        #expect(!text.contains("4111") && text.contains("[CREDIT_CARD]") && text.contains("[DONE]"), "\(text)")

        // Reasoning streamed before the answer (DeepSeek / vLLM `reasoning_content`) is judged too.
        var thinking = #"data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"# + "\n\n"
        for piece in ["Their card is 4111 1", "111 1111 1111; ", "do not repeat it."] {
            thinking += #"data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"reasoning_content":"\#(piece)"},"finish_reason":null}]}"# + "\n\n"
        }
        thinking += #"data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Paid."},"finish_reason":"stop"}]}"# + "\n\ndata: [DONE]\n\n"
        let escapedThinking = thinking.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
        await setBehavior(mport, #"{"raw_content_type": "text/event-stream", "raw_body": "\#(escapedThinking)"}"#)
        let t = await RawClient.post(port: port, path: "/v1/chat/completions", json: chat("pay my bill", stream: true))
        let thought = t?.text ?? ""
        #expect(t?.status == 200 && !thought.contains("4111") && thought.contains("reasoning_content") && thought.contains("[CREDIT_CARD]")
                && thought.contains("Paid.") && thought.contains("[DONE]"), "\(thought)")

        // An image part passes through and its event says it was not scanned.
        await setBehavior(mport, "{}")
        let image = #"{"model":"gpt-test","messages":[{"role":"user","content":[{"type":"text","text":"what is in it?"},{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}"#
        #expect(await RawClient.post(port: port, path: "/v1/chat/completions", json: image)?.status == 200)
        let events = await RawClient.get(port: port, path: "/keeptrusts/events")?.text ?? ""
        #expect(events.contains(#""unscanned_parts":{"image_url":1}"#), "\(events.suffix(600))")
        // Token-id embeddings inputs (LangChain sends them by default) pass and are recorded too.
        let tokens = #"{"model":"gpt-test","input":[[9906,1917],[15339]]}"#
        #expect(await RawClient.post(port: port, path: "/v1/embeddings", json: tokens)?.status == 200)
        let after = await RawClient.get(port: port, path: "/keeptrusts/events")?.text ?? ""
        #expect(after.contains(#""unscanned_parts":{"token_ids":2}"#), "\(after.suffix(600))")
    }
}
