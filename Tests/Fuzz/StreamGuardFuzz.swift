import Foundation
import KTConfig
import KTModel
import KTPolicy

// libFuzzer target: the stream guard, which reads every upstream byte of a stream when response
// policies run. A hostile or broken upstream must never make it trap. Two modes, by the first
// byte's low bit:
// - raw: the input is the upstream's byte stream (SSE framing, JSON, anything), fed in two reads;
// - structured: the input is cut into pieces that become content, reasoning and refusal deltas
//   of two choices (and tool-call argument fragments); nothing in them can match the chain's one
//   rule, so what the guard releases per choice and field must be exactly what came in — no text
//   lost, repeated or moved between channels, however the events are cut.

let engine: PolicyEngine = {
    let yaml = """
        pack: { name: fuzz, version: 1.0.0 }
        providers: { targets: [ { id: m, provider: mock, model: x } ] }
        policies: { chain: [dlp-filter] }
        policy: { dlp-filter: { blocked_terms: [zqzqz], action: redact } }
        """
    return try! PolicyEngine(config: ConfigLoader().load(text: yaml, name: "fuzz.yaml").config)
}()

func run(_ reads: [[UInt8]]) -> (text: [String: String], blocked: Bool) {
    var g = StreamGuard(engine: engine)
    var out: [StreamGuard.Output] = []
    for r in reads { out += g.feed(r) }
    out += g.finish()
    var text: [String: String] = [:]
    var blocked = false
    for o in out {
        switch o {
        case .blocked, .invalidEvent: blocked = true
        case .send(let bytes):
            var buffer: [UInt8] = []
            for payload in SSEFraming.payloads(&buffer, adding: bytes + Array("\n\n".utf8)) where payload.first == UInt8(ascii: "{") {
                guard let o = (try? JSONSerialization.jsonObject(with: Data(payload))) as? [String: Any] else { continue }
                for c in (o["choices"] as? [[String: Any]]) ?? [] {
                    let i = c["index"] as? Int ?? 0
                    for (k, v) in (c["delta"] as? [String: Any]) ?? [:] {
                        if let s = v as? String { text["\(i).\(k)", default: ""] += s }
                        if k == "tool_calls", let calls = v as? [[String: Any]] {
                            for call in calls { text["\(i).args", default: ""] += ((call["function"] as? [String: Any])?["arguments"] as? String) ?? "" }
                        }
                    }
                }
            }
        }
    }
    return (text, blocked)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStreamGuard(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = FuzzInput(data, size)
    guard let mode = input.bytes.first else { return 0 }
    let (body, at) = input.split
    if mode & 1 == 0 {
        _ = run([Array(body[..<at]), Array(body[at...])])
        return 0
    }
    // Structured: pieces separated by 0xFF; a piece's first byte picks its choice and field.
    let fields = ["content", "reasoning_content", "refusal", "args"]
    var expected: [String: String] = [:]
    var events: [[UInt8]] = []
    for piece in body.split(separator: 0xFF, omittingEmptySubsequences: true) {
        let selector = Int(piece.first!)
        let choice = selector & 1, field = fields[(selector >> 1) % fields.count]
        // Never the rule's letter, so nothing can match it; no NUL (cut by some readers).
        let text = String(decoding: piece.dropFirst(), as: UTF8.self).replacingOccurrences(of: "z", with: "y").replacingOccurrences(of: "\u{0}", with: " ")
        guard !text.isEmpty else { continue }
        let delta: [String: Any] = field == "args"
            ? ["tool_calls": [["index": 0, "id": "call_\(choice)", "type": "function", "function": ["name": "f", "arguments": text]]]]
            : [field: text]
        let event: [String: Any] = ["id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                                    "choices": [["index": choice, "delta": delta, "finish_reason": NSNull()]]]
        guard let json = try? JSONSerialization.data(withJSONObject: event) else { continue }
        events.append(Array("data: ".utf8) + [UInt8](json) + Array("\n\n".utf8))
        expected["\(choice).\(field)", default: ""] += text
    }
    events.append(Array("data: [DONE]\n\n".utf8))
    let stream = events.flatMap { $0 }
    let cut = stream.isEmpty ? 0 : at % (stream.count + 1)
    let (released, blocked) = run([Array(stream[..<cut]), Array(stream[cut...])])
    fuzzCheck(!blocked, "a stream nothing in which matches the chain was stopped")
    for (key, text) in expected where !key.hasSuffix(".args") {
        fuzzCheck(released[key] == text, "\(key): released \(released[key]?.debugDescription ?? "nothing") for \(text.debugDescription)")
    }
    for key in released.keys where !key.hasSuffix(".args") && !key.hasSuffix(".role") {
        fuzzCheck(expected[key] != nil || released[key] == "", "\(key): released text nobody sent")
    }
    return 0
}
