/// Splits a `text/event-stream` body into events (`id:`, `event:`, `data:` lines; comments skipped).
public struct SSEParser: Sendable {
    public struct Event: Sendable { public var id: String?; public var event: String?; public var data: String }
    var buffer: [UInt8] = []
    var id: String?
    var event: String?
    var data: [String] = []

    /// The longest line kept while waiting for its end; a longer one is dropped (`overflowed`).
    public static let maxLineBytes = 4 << 20
    public private(set) var overflowed = false

    public init() {}

    public mutating func feed(_ bytes: [UInt8]) -> [Event] {
        buffer += bytes
        var out: [Event] = []
        var start = 0
        while let nl = buffer[start...].firstIndex(of: 0x0A) {
            var line = buffer[start..<nl]
            if line.last == 0x0D { line = line.dropLast() }
            start = nl + 1
            let text = String(decoding: line, as: UTF8.self)
            if text.isEmpty {
                if !data.isEmpty { out.append(Event(id: id, event: event, data: data.joined(separator: "\n"))) }
                data.removeAll()
                event = nil
                continue
            }
            if text.hasPrefix(":") { continue }
            let (field, value): (Substring, Substring)
            if let colon = text.firstIndex(of: ":") {
                field = text[..<colon]
                var v = text[text.index(after: colon)...]
                if v.first == " " { v = v.dropFirst() }
                value = v
            } else {
                field = text[...]
                value = ""
            }
            switch field {
            case "data": data.append(String(value))
            case "id": id = String(value)
            case "event": event = String(value)
            default: break
            }
        }
        buffer.removeFirst(start)
        if buffer.count > Self.maxLineBytes {
            buffer.removeAll()
            data.removeAll()
            overflowed = true
        }
        return out
    }
}
