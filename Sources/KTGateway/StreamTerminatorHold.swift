/// Holds back a stream's `data: [DONE]` event (and anything after it) while every other byte
/// passes at once: with strict audit the client must not see a stream as complete before its
/// record is durable. Only an event short enough to be `[DONE]` is buffered while it arrives.
struct StreamTerminatorHold {
    /// Longer than any `[DONE]` event (with an `id:` or `event:` line); a longer one passes.
    static let maxTerminatorBytes = 256

    private var event: [UInt8] = []
    /// The current event is too long to be the terminator: its bytes pass as they come.
    private var passing = false
    /// Bytes of the current line so far (not counting CR), to find the blank line ending an event.
    private var lineLength = 0
    /// The terminator and whatever followed it.
    private(set) var held: [UInt8] = []
    private(set) var sawTerminator = false

    /// The bytes that may go to the client now.
    mutating func feed(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for b in bytes {
            if sawTerminator { held.append(b); continue }
            if passing { out.append(b) } else { event.append(b) }
            if b == 0x0A {
                if lineLength == 0 { endEvent(into: &out) }
                lineLength = 0
            } else if b != 0x0D {
                lineLength += 1
            }
            if !passing, event.count > Self.maxTerminatorBytes {
                out += event
                event.removeAll(keepingCapacity: true)
                passing = true
            }
        }
        return out
    }

    /// The upstream ended: an unterminated last event that is `[DONE]` is held too; anything
    /// else left over may go now.
    mutating func finish() -> [UInt8] {
        guard !sawTerminator, !event.isEmpty else { return [] }
        if Self.isTerminator(event) {
            sawTerminator = true
            held = event
            event = []
            return []
        }
        defer { event = [] }
        return event
    }

    private mutating func endEvent(into out: inout [UInt8]) {
        defer { passing = false }
        guard !passing else { return }
        if Self.isTerminator(event) {
            sawTerminator = true
            held = event
        } else {
            out += event
        }
        event.removeAll(keepingCapacity: true)
    }

    /// An event whose data lines join to `[DONE]`.
    static func isTerminator(_ event: [UInt8]) -> Bool {
        // Bytes, not Characters: "\r\n" is one Character in Swift.
        var data: [String] = []
        for line in event.split(separator: 0x0A) {
            var l = line
            if l.last == 0x0D { l = l.dropLast() }
            guard l.starts(with: Array("data:".utf8)) else { continue }
            var v = l.dropFirst(5)
            if v.first == 0x20 { v = v.dropFirst() }
            data.append(String(decoding: v, as: UTF8.self))
        }
        return data.joined(separator: "\n") == "[DONE]"
    }
}
