import Foundation
import Testing
@testable import KTGateway

/// The Messages API surface's translations, without I/O: requests to chat completions (errors
/// name the field), stream chunks to Messages API events.
@Suite struct AnthropicInboundTests {
    func chat(_ json: String) throws(AnthropicInbound.Invalid) -> [String: Any] { try AnthropicInbound.chatRequest(Array(json.utf8)) }

    @Test func requestsBecomeChatCompletions() throws {
        let c = try chat(#"""
            {"model":"claude-x","max_tokens":64,"system":[{"type":"text","text":"Be brief."}],"stream":true,"stop_sequences":["END"],
             "metadata":{"user_id":"u1"},"tool_choice":{"type":"tool","name":"lookup"},
             "tools":[{"name":"lookup","description":"find","input_schema":{"type":"object"}}],
             "messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"AAAA"}}]},
                         {"role":"assistant","content":[{"type":"text","text":"calling"},{"type":"tool_use","id":"toolu_1","name":"lookup","input":{"q":"x"}}]},
                         {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"found"}]}]}
            """#)
        #expect(c["model"] as? String == "claude-x" && c["max_tokens"] as? Int == 64 && c["stream"] as? Bool == true)
        #expect(c["stop"] as? [String] == ["END"] && c["user"] as? String == "u1")
        let messages = c["messages"] as! [[String: Any]]
        #expect(messages.map { $0["role"] as! String } == ["system", "user", "assistant", "tool"])
        #expect(messages[0]["content"] as? String == "Be brief.")
        let parts = messages[1]["content"] as! [[String: Any]]
        #expect(((parts[1]["image_url"] as! [String: Any])["url"] as! String) == "data:image/jpeg;base64,AAAA")
        let call = (messages[2]["tool_calls"] as! [[String: Any]])[0]
        #expect(call["id"] as? String == "toolu_1" && ((call["function"] as! [String: Any])["arguments"] as! String) == #"{"q":"x"}"#)
        #expect(messages[3]["tool_call_id"] as? String == "toolu_1" && messages[3]["content"] as? String == "found")
        #expect(((c["tool_choice"] as! [String: Any])["function"] as! [String: Any])["name"] as? String == "lookup")
    }

    @Test func invalidRequestsNameTheField() {
        let cases: [(String, String)] = [
            ("{", "not valid JSON"), ("[]", "JSON object"), (#"{"max_tokens":5,"messages":[{"role":"user","content":"x"}]}"#, "model"),
            (#"{"model":"m","max_tokens":true,"messages":[{"role":"user","content":"x"}]}"#, "max_tokens"),
            (#"{"model":"m","max_tokens":5,"messages":[]}"#, "messages"),
            (#"{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"x"}]}"#, "messages[0]"),
            (#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"video"}]}]}"#, "messages[0].content[0]"),
            (#"{"model":"m","max_tokens":5,"stream":"yes","messages":[{"role":"user","content":"x"}]}"#, "stream"),
            (#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"messages":[]}"#, "duplicate key 'messages' in an object at byte 71"),
            (#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],}"#, "expected a string key at byte 71"),
        ]
        for (body, field) in cases {
            do { _ = try chat(body); Issue.record("accepted \(body)") } catch { #expect(error.message.contains(field), "\(body): \(error.message)") }
        }
    }

    func events(_ chunks: [String]) -> [(String, [String: Any])] {
        var s = AnthropicMessagesWriterShape()
        var out: [UInt8] = []
        // Fed in awkward pieces: framing must not depend on how the bytes arrive.
        let all = Array(chunks.map { "data: \($0)\n\n" }.joined().utf8)
        var i = 0
        while i < all.count { let j = min(all.count, i + 7); out += s.feed(Array(all[i..<j]), model: "m"); i = j }
        return String(decoding: out, as: UTF8.self).components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { e in
            let lines = e.split(separator: "\n")
            let name = String(lines[0].dropFirst("event: ".count))
            let data = try! JSONSerialization.jsonObject(with: Data(lines[1].dropFirst("data: ".count).utf8)) as! [String: Any]
            return (name, data)
        }
    }

    @Test func streamChunksBecomeMessagesEvents() {
        let e = events([
            #"{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}"#,
            #"{"id":"c1","choices":[{"index":0,"delta":{"content":"lo"}}]}"#,
            #"{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"lookup","arguments":"{\"q\""}}]}}]}"#,
            #"{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"}]}"#,
            #"{"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":7}}"#,
            "[DONE]",
        ])
        #expect(e.map(\.0) == ["message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
                               "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"])
        #expect((e[0].1["message"] as! [String: Any])["id"] as? String == "msg_c1")
        #expect(((e[5].1["content_block"] as! [String: Any])["name"] as? String) == "lookup" && e[5].1["index"] as? Int == 1)
        #expect(((e[7].1["delta"] as! [String: Any])["partial_json"] as? String) == ":1}")
        #expect(((e[9].1["delta"] as! [String: Any])["stop_reason"] as? String) == "tool_use")
        #expect(((e[9].1["usage"] as! [String: Any])["output_tokens"] as? Int) == 7)
    }

    @Test func aMidStreamBlockIsAnErrorEventAndTheEnd() {
        let e = events([
            #"{"id":"c2","choices":[{"index":0,"delta":{"content":"partial"}}]}"#,
            #"{"error":{"type":"policy_violation","message":"blocked by policy dlp-filter","code":"output_blocked"}}"#,
            #"{"id":"c2","choices":[{"index":0,"delta":{"content":"never"}}]}"#,
        ])
        #expect(e.map(\.0) == ["message_start", "content_block_start", "content_block_delta", "error"])
        #expect(((e[3].1["error"] as! [String: Any])["message"] as? String) == "blocked by policy dlp-filter")
    }
}
