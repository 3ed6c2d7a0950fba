import Foundation
import Testing
import KTTestSupport
@testable import KTGateway

/// `provider: anthropic` targets: chat completions translated to the Messages API and back, JSON
/// and stream, tools, system prompt, max_tokens default, headers, errors.
@Suite(.serialized) struct AnthropicProviderTests {
    func start() async throws -> (gw: ChildProcess, port: Int, mock: ChildProcess, mport: Int) {
        let (mock, mport) = try await ChildProcess.mockUpstream()
        let yaml = """
            pack: { name: claude, version: 1.0.0 }
            providers:
              targets:
                - { id: claude, provider: anthropic, model: claude-sonnet-4-5, base_url: "http://127.0.0.1:\(mport)", secret_key_ref: { env: KT_ANTHROPIC_KEY }, max_tokens: 1024 }
            policies: { chain: [pii-detector] }
            policy:
              pii-detector: { scan_responses: true }
            """
        let path = (try Fixtures.tempDir() as NSString).appendingPathComponent("config.yaml")
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", path, "--log-level", "warn"], environment: ["KT_ANTHROPIC_KEY": "sk-ant-test"])
        return (gw, port, mock, mport)
    }

    @Test func chatCompletionsWorkAgainstAnAnthropicTarget() async throws {
        let (gw, port, mock, mport) = try await start()
        defer { gw.signal(SIGKILL); mock.signal(SIGKILL) }
        let body = #"{"model":"claude-sonnet-4-5","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hello, mail me at jane.doe@example.com"}]}"#
        let r = await RawClient.post(port: port, path: "/v1/chat/completions", json: body)
        #expect(r?.status == 200, "\(r?.text ?? "")")
        let o = try JSONSerialization.jsonObject(with: Data(r?.body ?? [])) as! [String: Any]
        #expect(o["object"] as? String == "chat.completion")
        let choice = (o["choices"] as! [[String: Any]])[0]
        #expect(choice["finish_reason"] as? String == "stop")
        let content = (choice["message"] as! [String: Any])["content"] as? String ?? ""
        #expect(content.hasPrefix("Echo: hello") && content.contains("[EMAIL]"), "response policies see the translated answer: \(content)")
        #expect((o["usage"] as? [String: Any])?["total_tokens"] as? Int == 18)

        let stats = await mockStats(mport)
        #expect(stats["last_authorization"] as? String == "sk-ant-test")
        #expect(stats["last_anthropic_version"] as? String == "2023-06-01")
        let sent = try JSONSerialization.jsonObject(with: Data((stats["last_anthropic_body"] as? String ?? "{}").utf8)) as! [String: Any]
        #expect(sent["system"] as? String == "Be brief." && sent["max_tokens"] as? Int == 1024)
        #expect((sent["messages"] as? [[String: Any]])?.count == 1)

        // A stream: the Messages events come out as chat.completion.chunk events and [DONE].
        let s = await RawClient.post(port: port, path: "/v1/chat/completions", json: chat("stream it", stream: true).replacingOccurrences(of: "gpt-test", with: "claude-sonnet-4-5"))
        #expect(s?.status == 200)
        let events = sseData(s?.text ?? "")
        #expect(events.last == "[DONE]")
        let text = events.compactMap { e -> String? in
            guard let o = try? JSONSerialization.jsonObject(with: Data(e.utf8)) as? [String: Any] else { return nil }
            return (((o["choices"] as? [[String: Any]])?.first?["delta"]) as? [String: Any])?["content"] as? String
        }.joined()
        #expect(text == "Echo: stream it", "\(events)")
        #expect(s?.text.contains(#""finish_reason":"stop""#) == true)
    }

    @Test func toolsAndToolCallsTranslateBothWays() async throws {
        let (gw, port, mock, mport) = try await start()
        defer { gw.signal(SIGKILL); mock.signal(SIGKILL) }
        let tools = #""tools":[{"type":"function","function":{"name":"lookup","description":"look things up","parameters":{"type":"object","properties":{"query":{"type":"string"}}}}}]"#
        let body = #"{"model":"claude-sonnet-4-5",\#(tools),"messages":[{"role":"user","content":"what is the weather?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_0","type":"function","function":{"name":"lookup","arguments":"{\"query\":\"x\"}"}}]},{"role":"tool","tool_call_id":"call_0","content":"sunny"},{"role":"user","content":"and tomorrow?"}]}"#
        let r = await RawClient.post(port: port, path: "/v1/chat/completions", json: body)
        #expect(r?.status == 200, "\(r?.text ?? "")")
        let o = try JSONSerialization.jsonObject(with: Data(r?.body ?? [])) as! [String: Any]
        let choice = (o["choices"] as! [[String: Any]])[0]
        #expect(choice["finish_reason"] as? String == "tool_calls")
        let call = (((choice["message"] as! [String: Any])["tool_calls"] as! [[String: Any]])[0]["function"] as! [String: Any])
        #expect(call["name"] as? String == "lookup" && (call["arguments"] as? String)?.contains("weather") == true)
        // What the Messages API got: tools with input_schema, tool_use and tool_result blocks, alternating turns.
        let stats = await mockStats(mport)
        let sent = try JSONSerialization.jsonObject(with: Data((stats["last_anthropic_body"] as? String ?? "{}").utf8)) as! [String: Any]
        #expect(((sent["tools"] as? [[String: Any]])?.first?["input_schema"]) != nil)
        let roles = (sent["messages"] as? [[String: Any]] ?? []).map { $0["role"] as? String ?? "" }
        #expect(roles == ["user", "assistant", "user"])
        let last = (sent["messages"] as! [[String: Any]])[2]["content"] as! [[String: Any]]
        #expect(last.map { $0["type"] as? String ?? "" } == ["tool_result", "text"])

        // Streamed tool call: arguments arrive whole (held and judged), as one tool_calls delta.
        let sbody = body.replacingOccurrences(of: #""model":"claude-sonnet-4-5","#, with: #""model":"claude-sonnet-4-5","stream":true,"#)
        let s = await RawClient.post(port: port, path: "/v1/chat/completions", json: sbody)
        #expect(s?.status == 200)
        #expect(s?.text.contains(#"\"query\": \"weather\"}"#) == true || s?.text.contains(#"{\"query\":\"weather\"}"#) == true, "\(s?.text ?? "")")
        #expect(s?.text.contains(#""finish_reason":"tool_calls""#) == true)
    }

    @Test func hostileUsageNumbersSaturateInsteadOfTrapping() throws {
        let huge: [String: Any] = ["input_tokens": Int.max, "cache_read_input_tokens": Int.max, "output_tokens": Int.max]
        let u = try #require(AnthropicTranslation.usage(huge))
        #expect(u["total_tokens"] as? Int == 3 << 40)
        var t = AnthropicStreamTranslator(created: 0)
        let start = #"data: {"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":9223372036854775807}}}"# + "\n\n"
        let delta = #"data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":9223372036854775807}}"# + "\n\n"
        let out = String(decoding: try t.feed(Array((start + delta).utf8)), as: UTF8.self)
        #expect(out.contains("\"finish_reason\":\"stop\""))
    }

    @Test func anthropicErrorsBecomeTheOpenAIEnvelopeWithTheUpstreamsMessage() throws {
        let body = Array(#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#.utf8)
        let o = try JSONSerialization.jsonObject(with: Data(AnthropicTranslation.error(body, status: 529))) as! [String: Any]
        let e = o["error"] as! [String: Any]
        #expect(e["message"] as? String == "anthropic: Overloaded" && e["code"] as? String == "overloaded_error" && e["type"] as? String == "api_error")
        // Images: data URLs become base64 blocks, other URLs url blocks.
        let blocks = try AnthropicTranslation.contentBlocks([["type": "image_url", "image_url": ["url": "data:image/jpeg;base64,AAAA"]],
                                                             ["type": "image_url", "image_url": ["url": "https://example.com/a.png"]]])
        #expect((blocks[0]["source"] as? [String: Any])?["media_type"] as? String == "image/jpeg")
        #expect((blocks[1]["source"] as? [String: Any])?["type"] as? String == "url")
    }
}
