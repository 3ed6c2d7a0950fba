import Foundation
import KTModel
import KTPolicy

/// Runs the response-phase policies over a stream before its text reaches the client.
///
/// The guard keeps the whole answer so far per choice, evaluates the chain on it, and releases
/// only the part of the (possibly redacted) text that lies more than `holdBack` characters
/// before the end. `holdBack` is the longest match any response policy can make (64
/// characters for the built-in recognisers, more for long DLP terms), so a match that spans
/// two chunks is still whole when it is judged, and what was released never changes later:
/// policies only look a bounded distance ahead. The chain runs every `evaluateEvery`
/// characters and at the end; appended text (response-rewriter `append`) comes out at the end.
struct StreamGuard {
    enum Output {
        case send([UInt8])
        case blocked(ChainDecision)
    }

    let engine: PolicyEngine
    let holdBack: Int
    let evaluateEvery = 32
    private var text: [Int: String] = [:]
    private var released: [Int: Int] = [:]      // characters of the redacted text already sent
    private var sinceEvaluation: [Int: Int] = [:]
    private var template: [String: Any]?        // the upstream's chunk, to clone for our own
    private var pendingTail: [[UInt8]] = []     // finish/usage events held until the text is flushed
    private var buffer: [UInt8] = []
    private(set) var decisions: [ChainDecision] = []
    private(set) var answer = ""

    init(engine: PolicyEngine) {
        self.engine = engine
        self.holdBack = max(engine.streamHoldBack, 1)
    }

    /// Feeds upstream bytes; returns what may go to the client now.
    mutating func feed(_ bytes: [UInt8]) -> [Output] {
        buffer += bytes
        var out: [Output] = []
        while let end = eventEnd() {
            let event = Array(buffer[0..<end.start])
            buffer.removeFirst(end.next)
            out += handle(event)
            if case .blocked = out.last { return out }
        }
        return out
    }

    /// The upstream ended cleanly: flush held text (final evaluation), then the held tail.
    mutating func finish() -> [Output] {
        var out: [Output] = []
        for index in text.keys.sorted() {
            let r = evaluate(index, final: true)
            if case .blocked = r.last { return r }
            out += r
        }
        out += pendingTail.map { .send($0) }
        pendingTail = []
        return out
    }

    private func eventEnd() -> (start: Int, next: Int)? {
        var i = 0
        while i + 1 < buffer.count {
            if buffer[i] == 10 && buffer[i + 1] == 10 { return (i, i + 2) }
            if i + 3 < buffer.count, buffer[i] == 13, buffer[i + 1] == 10, buffer[i + 2] == 13, buffer[i + 3] == 10 { return (i, i + 4) }
            i += 1
        }
        return nil
    }

    private mutating func handle(_ event: [UInt8]) -> [Output] {
        let line = String(decoding: event, as: UTF8.self)
        let payload = line.split(separator: "\n").filter { $0.hasPrefix("data:") }.map { $0.dropFirst(5).trimmingCharacters(in: .whitespaces) }.joined()
        let raw = event + Array("\n\n".utf8)
        if payload == "[DONE]" {
            // Flush everything before [DONE].
            var out = finish()
            if case .blocked = out.last { return out }
            out.append(.send(raw))
            return out
        }
        guard var object = (try? JSONSerialization.jsonObject(with: Data(payload.utf8))) as? [String: Any],
              let choices = object["choices"] as? [[String: Any]] else {
            return pendingTail.isEmpty ? [.send(raw)] : { pendingTail.append(raw); return [] }()
        }
        var out: [Output] = []
        var carriesText = false
        var finishes = false
        for c in choices {
            let index = c["index"] as? Int ?? 0
            let delta = (c["delta"] as? [String: Any])?["content"] as? String ?? c["text"] as? String
            if let delta, !delta.isEmpty {
                carriesText = true
                text[index, default: ""] += delta
                sinceEvaluation[index, default: 0] += delta.count
                if template == nil { template = object }
                if sinceEvaluation[index]! >= evaluateEvery {
                    let r = evaluate(index, final: false)
                    out += r
                    if case .blocked = r.last { return out }
                }
            }
            if let reason = c["finish_reason"], !(reason is NSNull) { finishes = true }
        }
        if carriesText {
            // Text-carrying events are re-emitted by `evaluate`; a role-only part of them is dropped.
            if finishes {
                object["choices"] = choices.map { c -> [String: Any] in
                    var c = c
                    if var d = c["delta"] as? [String: Any] { d["content"] = nil; c["delta"] = d } else { c["text"] = "" }
                    return c
                }
                pendingTail.append(Array("data: \(String(decoding: (try? JSONSerialization.data(withJSONObject: object)) ?? Data(), as: UTF8.self))\n\n".utf8))
            }
            return out
        }
        if finishes || !pendingTail.isEmpty {
            // finish_reason/usage must follow the last text: hold it until the flush.
            pendingTail.append(raw)
            return out
        }
        out.append(.send(raw))
        return out
    }

    /// Evaluates the chain on the whole text of one choice and releases what is safe.
    private mutating func evaluate(_ index: Int, final: Bool) -> [Output] {
        sinceEvaluation[index] = 0
        var segments = [TextSegment(role: "assistant", text: text[index] ?? "", location: [index])]
        let decision = engine.evaluate(&segments, context: EvaluationContext(phase: .response, isFinal: final))
        if decision.verdict == .block { return [.blocked(decision)] }
        if final || decisions.isEmpty || decision.verdict != .allow { record(decision) }
        let redacted = Array(segments[0].text)
        let already = released[index] ?? 0
        let upTo = final ? redacted.count : max(already, redacted.count - holdBack)
        guard upTo > already else { return [] }
        let piece = String(redacted[already..<upTo])
        released[index] = upTo
        if final { answer = String(redacted) }
        return [.send(chunk(piece, index: index))]
    }

    private mutating func record(_ d: ChainDecision) {
        if decisions.isEmpty || d.verdict != .allow || decisions.last?.verdict == .allow { decisions = [d] }
    }

    private func chunk(_ content: String, index: Int) -> [UInt8] {
        var object = template ?? ["object": "chat.completion.chunk"]
        let isChat = (object["object"] as? String) != "text_completion"
        let choice: [String: Any] = isChat
            ? ["index": index, "delta": ["content": content], "logprobs": NSNull(), "finish_reason": NSNull()]
            : ["index": index, "text": content, "logprobs": NSNull(), "finish_reason": NSNull()]
        object["choices"] = [choice]
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return Array("data: ".utf8) + [UInt8](data) + Array("\n\n".utf8)
    }
}
