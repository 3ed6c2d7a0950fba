/// Byte-level framing of server-sent events, shared by the stream guard and the Anthropic stream
/// translator (both run once per upstream event).
enum SSEFraming {
    /// Where the first complete event in `buffer` ends: its length, and where the next begins
    /// (events end with a blank line, LF LF or CR LF CR LF).
    static func eventEnd(_ buffer: [UInt8]) -> (start: Int, next: Int)? {
        var i = 0
        while i + 1 < buffer.count {
            if buffer[i] == 10 && buffer[i + 1] == 10 { return (i, i + 2) }
            if i + 3 < buffer.count, buffer[i] == 13, buffer[i + 1] == 10, buffer[i + 2] == 13, buffer[i + 3] == 10 { return (i, i + 4) }
            i += 1
        }
        return nil
    }

    /// The `data:` lines of one event, joined with newlines (one space after the colon dropped,
    /// as the SSE format says; surrounding blanks trimmed).
    static func dataPayload(_ event: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var lineStart = 0
        var first = true
        func take(_ end: Int) {
            var line = event[lineStart..<end]
            if line.last == 13 { line = line.dropLast() }
            guard line.starts(with: "data:".utf8) else { return }
            var value = line.dropFirst(5)
            while value.first == 32 || value.first == 9 { value = value.dropFirst() }
            while value.last == 32 || value.last == 9 { value = value.dropLast() }
            if !first { out.append(10) }
            out.append(contentsOf: value)
            first = false
        }
        for (i, b) in event.enumerated() where b == 10 {
            take(i)
            lineStart = i + 1
        }
        take(event.count)
        return out
    }

    /// Appends `bytes` to `buffer` and takes out the data payload of every complete event.
    static func payloads(_ buffer: inout [UInt8], adding bytes: [UInt8]) -> [[UInt8]] {
        buffer += bytes
        var out: [[UInt8]] = []
        while let (end, next) = eventEnd(buffer) {
            out.append(dataPayload(Array(buffer[..<end])))
            buffer.removeFirst(next)
        }
        return out
    }
}
