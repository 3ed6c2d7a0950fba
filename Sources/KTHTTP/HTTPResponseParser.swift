import Foundation

/// Incremental HTTP/1.1 response parser (Content-Length, chunked, or until close).
public struct HTTPResponseParser: Sendable {
    public enum Event: Sendable, Equatable {
        case head(status: Int, headers: [String: String])
        case body([UInt8])
        case end
        case needMoreData
    }

    public struct Failure: Error, Sendable { public var message: String }

    private enum State { case head, fixed(Int), chunkSize, chunkData(Int), chunkEnd, trailers, untilClose, done }
    private var state = State.head
    private var buffer: [UInt8] = []
    private var index = 0
    /// A response to HEAD has no body whatever its headers say.
    public var expectsNoBody = false

    public init() {}

    public mutating func feed(_ bytes: some Collection<UInt8>) {
        if index > 0 && index == buffer.count { buffer.removeAll(keepingCapacity: true); index = 0 }
        buffer.append(contentsOf: bytes)
    }

    /// Call when the peer closed: ends an until-close body.
    public mutating func peerClosed() -> Event {
        if case .untilClose = state { state = .done; return .end }
        return .needMoreData
    }

    /// Resets for the next response on a keep-alive connection (leftover bytes are kept).
    public mutating func reset() { state = .head }

    public mutating func next() throws(Failure) -> Event {
        while true {
            switch state {
            case .done:
                return .end
            case .head:
                guard let end = find([13, 10, 13, 10], from: index) else {
                    if buffer.count - index > 64 * 1024 { throw Failure(message: "response head too large") }
                    return .needMoreData
                }
                let text = String(decoding: buffer[index..<end], as: UTF8.self)
                index = end + 4
                var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)
                let statusLine = lines.removeFirst().split(separator: " ")
                guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw Failure(message: "malformed status line") }
                var headers: [String: String] = [:]
                for l in lines {
                    guard let c = l.firstIndex(of: ":") else { continue }
                    headers[l[..<c].lowercased()] = l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)
                }
                if status == 100 { continue }
                if expectsNoBody || status == 204 || status == 304 {
                    state = .done
                } else if headers["transfer-encoding"]?.lowercased() == "chunked" {
                    state = .chunkSize
                } else if let cl = headers["content-length"], let n = Int(cl) {
                    state = n == 0 ? .done : .fixed(n)
                } else {
                    state = .untilClose
                }
                return .head(status: status, headers: headers)
            case .fixed(let remaining):
                let take = min(remaining, buffer.count - index)
                guard take > 0 else { return .needMoreData }
                let chunk = Array(buffer[index..<index + take])
                index += take
                state = remaining - take == 0 ? .done : .fixed(remaining - take)
                return .body(chunk)
            case .chunkSize:
                guard let end = find([13, 10], from: index) else { return .needMoreData }
                let line = String(decoding: buffer[index..<end], as: UTF8.self)
                guard let size = Int(line.split(separator: ";").first.map(String.init) ?? "", radix: 16) else {
                    throw Failure(message: "malformed chunk size")
                }
                index = end + 2
                state = size == 0 ? .trailers : .chunkData(size)
            case .chunkData(let remaining):
                let take = min(remaining, buffer.count - index)
                guard take > 0 else { return .needMoreData }
                let chunk = Array(buffer[index..<index + take])
                index += take
                state = remaining - take == 0 ? .chunkEnd : .chunkData(remaining - take)
                return .body(chunk)
            case .chunkEnd:
                guard buffer.count - index >= 2 else { return .needMoreData }
                index += 2
                state = .chunkSize
            case .trailers:
                guard let end = find([13, 10], from: index) else { return .needMoreData }
                let empty = end == index
                index = end + 2
                if empty { state = .done }
            case .untilClose:
                guard buffer.count > index else { return .needMoreData }
                let chunk = Array(buffer[index...])
                index = buffer.count
                return .body(chunk)
            }
        }
    }

    private func find(_ needle: [UInt8], from: Int) -> Int? {
        var i = from
        while i + needle.count <= buffer.count {
            if buffer[i] == needle[0] && buffer[i + 1] == needle[1] && (needle.count == 2 || (buffer[i + 2] == needle[2] && buffer[i + 3] == needle[3])) {
                return i
            }
            i += 1
        }
        return nil
    }
}
