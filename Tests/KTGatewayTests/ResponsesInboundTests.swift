import Foundation
import Testing
@testable import KTGateway

/// The Responses API surface's translations, without I/O.
@Suite struct ResponsesInboundTests {
    @Test func requestsBecomeChatCompletionsAndMistakesNameTheField() throws {
        let c = try ResponsesInbound.chatRequest(Array(#"""
            {"model":"m","instructions":"Be brief.","max_output_tokens":32,"tool_choice":{"type":"function","name":"f"},
             "tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],
             "input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]},
                      {"type":"function_call","call_id":"call_1","name":"f","arguments":"{}"},
                      {"type":"function_call_output","call_id":"call_1","output":"42"}]}
            """#.utf8))
        let messages = c["messages"] as! [[String: Any]]
        #expect(messages.map { $0["role"] as! String } == ["system", "user", "assistant", "tool"])
        #expect(messages[1]["content"] as? String == "hi" && c["max_tokens"] as? Int == 32)
        #expect(messages[3]["tool_call_id"] as? String == "call_1")
        for (body, field) in [(#"{"input":"x"}"#, "model"), (#"{"model":"m"}"#, "input"), (#"{"model":"m","input":[{"role":"robot","content":"x"}]}"#, "input[0].role"),
                              (#"{"model":"m","input":"x","max_output_tokens":0}"#, "max_output_tokens"),
                              (#"{"model":"m","input":"x","tools":[{"type":"web_search"}]}"#, "tools[0]"),
                              (#"{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":5}]}]}"#, "input[0].content[0].text"),
                              (#"{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":7}]}"#, "input[0].output"),
                              (#"{"model":"m","input":"x","previous_response_id":"resp_1"}"#, "previous_response_id")] {
            do { _ = try ResponsesInbound.chatRequest(Array(body.utf8)); Issue.record("accepted \(body)") } catch {
                #expect(error.message.hasPrefix(field), "\(body): \(error.message)")
            }
        }
    }

    /// A tool result given as parts reaches the chat request (and so the policies) whole.
    @Test func aToolOutputGivenAsPartsIsKept() throws {
        let c = try ResponsesInbound.chatRequest(Array(#"""
            {"model":"m","input":[{"role":"user","content":"summarise the page"},
             {"type":"function_call_output","call_id":"call_1","output":[{"type":"input_text","text":"page text"},{"type":"input_text","text":"more"}]}]}
            """#.utf8))
        let messages = c["messages"] as! [[String: Any]]
        #expect(messages.last?["role"] as? String == "tool")
        #expect(messages.last?["content"] as? String == "page text\nmore")
    }

    @Test func aStreamedToolCallBecomesFunctionCallEvents() throws {
        var s = ResponsesAPIShape()
        let chunks = [#"{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_9","function":{"name":"f","arguments":"{\"a\""}}]}}]}"#,
                      #"{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"}]}"#, "[DONE]"]
        let text = String(decoding: chunks.flatMap { s.feed(Array("data: \($0)\n\n".utf8), model: "m") }, as: UTF8.self)
        let types = text.split(separator: "\n").filter { $0.hasPrefix("event: ") }.map { String($0.dropFirst(7)) }
        #expect(types == ["response.created", "response.in_progress", "response.output_item.added", "response.function_call_arguments.delta",
                          "response.function_call_arguments.delta", "response.function_call_arguments.done", "response.output_item.done", "response.completed"])
        #expect(text.contains(#""arguments":"{\"a\":1}""#) && text.contains(#""call_id":"call_9""#))
        // Sequence numbers count up from 0 without a gap.
        let numbers = text.split(separator: "\n").filter { $0.hasPrefix("data: ") }.compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8)) as? [String: Any])?["sequence_number"] as? Int
        }
        #expect(numbers == Array(0..<types.count))
    }
}
