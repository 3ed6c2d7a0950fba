import Foundation
import KTModel
import KTPolicy

/// Runs the response-phase policies over a stream before its text reaches the client.
///
/// The guard keeps the whole answer so far per choice, evaluates the chain on it once per
/// upstream read (a slow stream is judged chunk by chunk, a fast one in batches), and releases
/// the (possibly redacted) text up to the tail that could still become a match: the engine's
/// `streamPendingTail` — trailing digits and separators for cards, a term's beginning for DLP,
/// the longest match for regex rules. Prose with nothing match-shaped at its end flows at once;
/// a match split across chunks is still whole when it is judged, and what was released never
/// changes later (while a redaction reaches into the held tail, nothing more is released).
/// Appended text (response-rewriter `append`) comes out at the end.
struct StreamGuard {
    enum Output {
        case send([UInt8])
        case blocked(ChainDecision)
        /// The upstream sent an event that is not strict JSON: nothing more is released (what
        /// the policies read of it could differ from what the client reads).
        case invalidEvent(String)
    }

    let engine: PolicyEngine
    /// The most a stream may hold (the longest match of any response policy), for diagnostics.
    let holdBack: Int
    /// Past this many unjudged characters in one read, judge before reading on (bounds the work
    /// a single evaluation does on a huge read).
    let evaluateEvery = 4096
    /// Checks every event for a key given twice (buffers reused from event to event).
    private var duplicateKeys = JSONDuplicateKeys.Scanner()
    /// Choices with text not judged yet in this read.
    private var unjudged: Set<Int> = []
    /// The answer so far per choice, as characters (windows are cut by character offsets).
    private var text: [Int: [Character]] = [:]
    /// Per choice: characters of the original text whose (redacted) form has been sent.
    private var committed: [Int: Int] = [:]
    /// Per choice: the redacted text sent so far.
    private var sent: [Int: [Character]] = [:]
    /// Per choice: the upstream's own events carrying the text not sent yet. When that text goes
    /// out unchanged and whole, these bytes are forwarded as they came (no re-serialisation; the
    /// upstream's fields are kept); `rawUsable` is false once any of that text went out in a
    /// chunk of our own, or an event held more than this choice's text.
    private var rawPending: [Int: [UInt8]] = [:]
    private var rawUsable: [Int: Bool] = [:]
    /// Tool calls being streamed, per choice and call index: held whole until the stream ends,
    /// then judged (their arguments are JSON: a fragment cannot be judged) and sent in one chunk.
    private var toolCalls: [Int: [Int: PendingCall]] = [:]
    private var functionCalls: [Int: PendingCall] = [:]

    struct PendingCall {
        var id: Any?
        var type: Any?
        var name = ""
        var arguments = ""

        mutating func add(_ delta: [String: Any]) {
            if let id = delta["id"], !(id is NSNull) { self.id = id }
            if let t = delta["type"], !(t is NSNull) { type = t }
            let function = delta["function"] as? [String: Any] ?? delta
            if let n = function["name"] as? String { name += n }
            if let a = function["arguments"] as? String { arguments += a }
        }
    }
    /// Characters before the committed point each evaluation sees again, for the policies' left
    /// context (word boundaries, a phone number's context words); the window starts at a space.
    static let leftContext = 64
    private var sinceEvaluation: [Int: Int] = [:]
    private var template: [String: Any]?        // the upstream's chunk, to clone for our own
    private var chunkPrefix: [UInt8]?           // "data: {…upstream fields…,"choices":["
    private var chunkIsChat = true
    private var pendingTail: [[UInt8]] = []     // finish/usage events held until the text is flushed
    private var buffer: [UInt8] = []
    private(set) var decisions: [ChainDecision] = []
    private(set) var answer = ""

    /// Asides (reasoning, refusal) are judged as channels of their own, keyed past the choice
    /// indexes: `choice + (k + 1) << asideShift` for `PolicySegments.asideFields[k]`.
    static let asideShift = 20
    static func choice(of key: Int) -> Int { key & ((1 << asideShift) - 1) }
    static func aside(of key: Int) -> Int? { key >> asideShift == 0 ? nil : (key >> asideShift) - 1 }
    /// Flush order: a choice's asides before its answer, as they stream.
    static func flushOrder(_ keys: some Sequence<Int>) -> [Int] {
        keys.sorted { (choice(of: $0), aside(of: $0) == nil ? 1 : 0, $0) < (choice(of: $1), aside(of: $1) == nil ? 1 : 0, $1) }
    }

    init(engine: PolicyEngine) {
        self.engine = engine
        self.holdBack = max(engine.streamHoldBack, 1)
    }

    /// Feeds upstream bytes; returns what may go to the client now.
    mutating func feed(_ bytes: [UInt8]) -> [Output] {
        buffer += bytes
        var out: [Output] = []
        while let end = SSEFraming.eventEnd(buffer) {
            let event = Array(buffer[0..<end.start])
            buffer.removeFirst(end.next)
            out += handle(event)
            if case .blocked = out.last { return out }
        }
        for index in Self.flushOrder(unjudged) {
            let r = evaluate(index, final: false)
            out += r
            if case .blocked = r.last { return out }
        }
        return out
    }

    /// The upstream ended cleanly: flush held text (final evaluation), then the held tail.
    mutating func finish() -> [Output] {
        var out: [Output] = []
        for index in Self.flushOrder(text.keys) {
            let r = evaluate(index, final: true)
            if case .blocked = r.last { return r }
            out += r
        }
        for index in Set(toolCalls.keys).union(functionCalls.keys).sorted() {
            let r = judgeToolCalls(index)
            if case .blocked = r.last { return r }
            out += r
        }
        toolCalls = [:]
        functionCalls = [:]
        out += pendingTail.map { .send($0) }
        pendingTail = []
        return out
    }

    private mutating func handle(_ event: [UInt8]) -> [Output] {
        let payload = SSEFraming.dataPayload(event)
        let raw = event + Array("\n\n".utf8)
        if payload.elementsEqual("[DONE]".utf8) {
            // Flush everything before [DONE].
            var out = finish()
            if case .blocked = out.last { return out }
            out.append(.send(raw))
            return out
        }
        guard !payload.isEmpty else { return pendingTail.isEmpty ? [.send(raw)] : { pendingTail.append(raw); return [] }() }
        // An event's bytes may be released as they came once the text read here passed: what
        // cannot be read here is not passed on unread, and what could read differently to the
        // client (a key given twice) is not passed on at all.
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(payload)) else {
            return [.invalidEvent("the upstream sent an event that is not a JSON value")]
        }
        if let key = duplicateKeys.firstDuplicate(in: payload) {
            return [.invalidEvent("the upstream sent an event that gives the key '\(key.prefix(64))' twice")]
        }
        let object = parsed as? [String: Any]
        let readChoices = object?["choices"].map { $0 as? [[String: Any]] }
        if case .some(.none) = readChoices {
            return [.invalidEvent("the upstream sent an event whose choices are not an array of objects")]
        }
        guard var object, var choices = readChoices ?? nil else {
            return pendingTail.isEmpty ? [.send(raw)] : { pendingTail.append(raw); return [] }()
        }
        var out: [Output] = []
        var carriesText = false
        var finishes = false
        // Tool-call deltas are taken out of the event and held (see `toolCalls`).
        var carriesToolCalls = false
        for k in choices.indices {
            if let field = PolicySegments.unreadableChoiceField(choices[k], at: k, stream: true) {
                return [.invalidEvent("the upstream sent an event whose \(field) has a type the API never sends")]
            }
            guard var d = choices[k]["delta"] as? [String: Any] else { continue }
            let index = choices[k]["index"] as? Int ?? 0
            if let calls = d["tool_calls"] as? [[String: Any]] {
                for call in calls { toolCalls[index, default: [:]][call["index"] as? Int ?? 0, default: PendingCall()].add(call) }
                d["tool_calls"] = nil
                carriesToolCalls = true
            }
            if let f = d["function_call"] as? [String: Any] {
                functionCalls[index, default: PendingCall()].add(f)
                d["function_call"] = nil
                carriesToolCalls = true
            }
            choices[k]["delta"] = d
            if carriesToolCalls { rawUsable[index] = false }
        }
        if carriesToolCalls {
            object["choices"] = choices
            if template == nil { template = object }
        }
        for c in choices {
            let index = c["index"] as? Int ?? 0
            let d = c["delta"] as? [String: Any]
            // Asides first (they stream before the answer); an event that carries one is never
            // forwarded as it came: its other text goes out in chunks of our own.
            var asides: [(key: Int, text: String)] = []
            for (k, aside) in PolicySegments.asideFields.enumerated() {
                if let t = d?[aside.field] as? String, !t.isEmpty { asides.append((index + (k + 1) << Self.asideShift, t)) }
            }
            if !asides.isEmpty {
                carriesText = true
                rawUsable[index] = false
                if template == nil { template = object }
                for (key, t) in asides {
                    text[key, default: []].append(contentsOf: t)
                    rawUsable[key] = false
                    sinceEvaluation[key, default: 0] += t.count
                    unjudged.insert(key)
                    if sinceEvaluation[key]! >= evaluateEvery {
                        let r = evaluate(key, final: false)
                        out += r
                        if case .blocked = r.last { return out }
                    }
                }
            }
            let delta = d?["content"] as? String ?? c["text"] as? String
            if let delta, !delta.isEmpty {
                carriesText = true
                text[index, default: []].append(contentsOf: delta)
                let finishing = c["finish_reason"].map { !($0 is NSNull) } ?? false
                if choices.count == 1, !finishing, asides.isEmpty { rawPending[index, default: []] += raw } else { rawUsable[index] = false }
                sinceEvaluation[index, default: 0] += delta.count
                if template == nil { template = object }
                unjudged.insert(index)
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
                    if var d = c["delta"] as? [String: Any] {
                        d["content"] = nil
                        for aside in PolicySegments.asideFields { d[aside.field] = nil }
                        c["delta"] = d
                    } else { c["text"] = "" }
                    return c
                }
                pendingTail.append(Array("data: \(String(decoding: (try? JSONSerialization.data(withJSONObject: object)) ?? Data(), as: UTF8.self))\n\n".utf8))
            }
            return out
        }
        if carriesToolCalls {
            // What is left of the event (a finish_reason, usage) follows the calls at the end.
            let rest = choices.contains { ($0["finish_reason"].map { !($0 is NSNull) } ?? false) } || object["usage"] != nil
            if rest { pendingTail.append(Array("data: \(String(decoding: (try? JSONSerialization.data(withJSONObject: object)) ?? Data(), as: UTF8.self))\n\n".utf8)) }
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

    /// Judges one choice's complete tool calls like a JSON answer's (string values of the
    /// arguments, redactions written back as valid JSON) and sends them in one chunk.
    private mutating func judgeToolCalls(_ index: Int) -> [Output] {
        var message: [String: Any] = [:]
        if let calls = toolCalls[index] {
            message["tool_calls"] = calls.keys.sorted().map { k -> [String: Any] in
                let c = calls[k]!
                var call: [String: Any] = ["index": k, "function": ["name": c.name, "arguments": c.arguments]]
                if let id = c.id { call["id"] = id }
                call["type"] = c.type ?? "function"
                return call
            }
        }
        if let f = functionCalls[index] { message["function_call"] = ["name": f.name, "arguments": f.arguments] }
        var segments = PolicySegments.toolCallSegments(message, at: 0)
        if !segments.isEmpty {
            let before = segments
            let decision = engine.evaluate(&segments, context: EvaluationContext(phase: .response, isFinal: true))
            if decision.verdict == .block { return [.blocked(decision)] }
            if decisions.isEmpty || decision.verdict != .allow { record(decision) }
            if segments != before { PolicySegments.writeToolCalls(segments, into: &message) }
        }
        let choice: [String: Any] = ["index": index, "delta": message, "logprobs": NSNull(), "finish_reason": NSNull()]
        _ = chunk("", index: index)   // makes sure the prefix exists
        let body = (try? JSONSerialization.data(withJSONObject: choice)) ?? Data()
        return [.send(chunkPrefix! + [UInt8](body) + Array("]}\n\n".utf8))]
    }

    /// Evaluates the chain on the text of one choice not yet sent (plus some left context) and
    /// releases what is safe. Work per evaluation is bounded by the new text, not the answer.
    private mutating func evaluate(_ index: Int, final: Bool) -> [Output] {
        sinceEvaluation[index] = 0
        unjudged.remove(index)
        let chars = text[index] ?? []
        let done = committed[index] ?? 0
        // The window starts after a non-word character `leftContext` to twice that before the
        // committed point, so no policy sees a word cut in half at its start (text without any,
        // such as CJK prose, is cut at twice the context).
        var start = max(0, done - Self.leftContext)
        while start > 0, start > done - 2 * Self.leftContext, StreamTail.isWordCharacter(chars[start - 1]) { start -= 1 }
        // Nothing match-shaped in the text not sent yet (prose under pci_mode has no digits): no
        // chain run, and the text goes out as it came up to its tail. (Everything before it was
        // judged; a match needs at least one of the shapes `couldMatch` looks for in new text.
        // Its start counts as a word start for the tail: that only ever holds more.)
        let unsent = String(chars[done...])
        if !final, !engine.streamCouldMatch(unsent) {
            let upTo = chars.count - min(engine.streamPendingTail(unsent), chars.count - done)
            guard upTo > done else { return [] }
            return [release(index, chars, from: done, piece: chars[done..<upTo], whole: upTo == chars.count, committing: upTo)]
        }
        let window = String(chars[start...])
        let role = Self.aside(of: index).map { PolicySegments.asideFields[$0].role } ?? "assistant"
        var segments = [TextSegment(role: role, text: window, location: [index])]
        var decision: ChainDecision?
        decision = engine.evaluate(&segments, context: EvaluationContext(phase: .response, isFinal: final))
        var redacted = Array(segments[0].text)
        var alreadyOut: Int
        if start == 0 {
            // The whole answer: positions are those of the redacted text sent so far.
            alreadyOut = sent[index]?.count ?? 0
        } else if redacted.starts(with: chars[start..<done]) {
            alreadyOut = done - start
        } else {
            // A redaction inside the context: the committed point cannot be found in this window.
            // Judge the whole answer instead (rare: only while a match sits just before it).
            segments = [TextSegment(role: role, text: String(chars), location: [index])]
            decision = engine.evaluate(&segments, context: EvaluationContext(phase: .response, isFinal: final))
            redacted = Array(segments[0].text)
            start = 0
            alreadyOut = sent[index]?.count ?? 0
        }
        if let decision {
            if decision.verdict == .block { return [.blocked(decision)] }
            if final || decisions.isEmpty || decision.verdict != .allow { record(decision) }
        }
        var upTo = redacted.count
        var nextCommitted = chars.count
        if !final {
            let tail = min(engine.streamPendingTail(window), chars.count - start)
            // The tail is where the original and the redacted text must still agree: a redaction
            // reaching into it means a match whose end is not known yet, so nothing more goes out.
            let settled = tail == 0 || redacted.suffix(tail).elementsEqual(chars.suffix(tail))
            upTo = settled ? redacted.count - tail : alreadyOut
            nextCommitted = settled ? chars.count - tail : done
        }
        guard upTo > alreadyOut else {
            if final, Self.aside(of: index) == nil { answer = String(sent[index] ?? []) }
            return []
        }
        let piece = redacted[alreadyOut..<upTo]
        let whole = upTo == redacted.count && piece.elementsEqual(chars[done...])
        let out = release(index, chars, from: done, piece: piece, whole: whole, committing: max(done, nextCommitted))
        if final, Self.aside(of: index) == nil { answer = String(sent[index] ?? []) }
        return [out]
    }

    /// Sends `piece` as the next text of choice `index`. `whole`: it is all the text not sent
    /// yet, unchanged, so the upstream's own events can be forwarded as they were.
    private mutating func release(_ index: Int, _ chars: [Character], from done: Int, piece: ArraySlice<Character>,
                                  whole: Bool, committing: Int) -> Output {
        sent[index, default: []].append(contentsOf: piece)
        committed[index] = committing
        let raw = rawPending.removeValue(forKey: index) ?? []
        let out: [UInt8] = whole && rawUsable[index] != false && !raw.isEmpty ? raw : chunk(String(piece), index: index)
        rawUsable[index] = whole
        return .send(out)
    }

    private mutating func record(_ d: ChainDecision) {
        if decisions.isEmpty || d.verdict != .allow || decisions.last?.verdict == .allow { decisions = [d] }
    }

    /// Our own chunk carrying `content`, shaped like the upstream's (its id, model, created…).
    /// The upstream's fields are serialised once; each chunk only adds its choice.
    private mutating func chunk(_ content: String, index: Int) -> [UInt8] {
        if chunkPrefix == nil {
            var object = template ?? ["object": "chat.completion.chunk"]
            chunkIsChat = (object["object"] as? String) != "text_completion"
            object["choices"] = nil
            var bytes = [UInt8]((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8))
            bytes.removeLast()   // the closing brace: the choices follow
            if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
            chunkPrefix = Array("data: ".utf8) + bytes + Array(#""choices":["#.utf8)
        }
        let text = JSONValue.string(content).serialized()
        let field = Self.aside(of: index).map { PolicySegments.asideFields[$0].field } ?? "content"
        let choiceIndex = Self.choice(of: index)
        let choice = chunkIsChat
            ? #"{"index":\#(choiceIndex),"delta":{"\#(field)":\#(text)},"logprobs":null,"finish_reason":null}"#
            : #"{"index":\#(choiceIndex),"text":\#(text),"logprobs":null,"finish_reason":null}"#
        return chunkPrefix! + Array(choice.utf8) + Array("]}\n\n".utf8)
    }
}
