/// Incremental HTTP/1.1 request parser: feed it bytes as they arrive, take complete requests out.
/// A plain state machine (no I/O) so every framing rule is testable on its own.
public struct HTTPRequestParser: Sendable {
    public struct Limits: Sendable {
        public var maxHeaderBytes = 16 * 1024
        public var maxBodyBytes = 1 << 20
        public init(maxHeaderBytes: Int = 16 * 1024, maxBodyBytes: Int = 1 << 20) {
            self.maxHeaderBytes = maxHeaderBytes
            self.maxBodyBytes = maxBodyBytes
        }
    }

    /// A request the parser cannot accept; the connection answers with `status` and closes.
    public struct Failure: Error, Sendable, Equatable {
        public var status: Int
        public var message: String
    }

    public enum Event: Sendable {
        case request(HTTPRequest)
        case needMoreData
    }

    private enum State {
        case head
        case fixedBody(head: Head, remaining: Int)
        case chunkSize(head: Head)
        case chunkData(head: Head, remaining: Int)
        case chunkDataEnd(head: Head)
        case trailers(head: Head)
    }

    private struct Head {
        var method: String
        var target: String
        var headers: HTTPHeaders
        var keepAlive: Bool
    }

    public var limits: Limits
    private var state = State.head
    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var body: [UInt8] = []
    /// Where the search for the end of the head resumes (avoids rescanning on every read).
    private var scanFrom = 0

    public init(limits: Limits = Limits()) { self.limits = limits }

    /// Set when a head with `Expect: 100-continue` announced a body; the connection answers
    /// `100 Continue` once and clears it.
    public var wantsContinue = false

    /// True while the head of a request is still arriving (the slowloris window).
    public var isReadingHead: Bool {
        if case .head = state { return readIndex < buffer.count }
        return false
    }

    /// True while a request has started arriving (used to tell a slow head from an idle connection).
    public var hasPartialRequest: Bool {
        if case .head = state { return readIndex < buffer.count }
        return true
    }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        compact()
        buffer.append(contentsOf: bytes)
    }

    public mutating func feed(_ bytes: [UInt8]) {
        compact()
        buffer.append(contentsOf: bytes)
    }

    private mutating func compact() {
        if readIndex > 0 && (readIndex == buffer.count || readIndex > 64 * 1024) {
            buffer.removeFirst(readIndex)
            scanFrom = max(0, scanFrom - readIndex)
            readIndex = 0
        }
    }

    /// The next complete request, or `.needMoreData`.
    public mutating func next() throws(Failure) -> Event {
        while true {
            switch state {
            case .head:
                guard let end = findHeadEnd() else {
                    if buffer.count - readIndex > limits.maxHeaderBytes {
                        throw Failure(status: 431, message: "request header fields are larger than \(limits.maxHeaderBytes) bytes")
                    }
                    return .needMoreData
                }
                if end - readIndex > limits.maxHeaderBytes {
                    throw Failure(status: 431, message: "request header fields are larger than \(limits.maxHeaderBytes) bytes")
                }
                let head = try parseHead(buffer[readIndex..<end])
                readIndex = end + 4
                scanFrom = readIndex
                body.removeAll(keepingCapacity: true)
                let te = head.headers["transfer-encoding"]?.lowercased()
                let cl = head.headers.values("content-length")
                if let te {
                    guard cl.isEmpty else { throw Failure(status: 400, message: "both Content-Length and Transfer-Encoding given") }
                    guard te == "chunked" else { throw Failure(status: 501, message: "transfer-encoding '\(te)' is not supported") }
                    state = .chunkSize(head: head)
                    if head.headers["expect"]?.lowercased() == "100-continue", buffer.count == readIndex { wantsContinue = true }
                } else if let first = cl.first {
                    guard cl.allSatisfy({ $0 == first }), let n = Int(first.trimmingCharacters(in: .whitespaces)), n >= 0 else {
                        throw Failure(status: 400, message: "invalid Content-Length")
                    }
                    if n > limits.maxBodyBytes {
                        throw Failure(status: 413, message: "request body of \(n) bytes is larger than the limit of \(limits.maxBodyBytes) bytes")
                    }
                    state = .fixedBody(head: head, remaining: n)
                    if n > 0, head.headers["expect"]?.lowercased() == "100-continue", buffer.count - readIndex < n { wantsContinue = true }
                } else {
                    state = .fixedBody(head: head, remaining: 0)
                }
            case .fixedBody(let head, let remaining):
                let available = buffer.count - readIndex
                let take = min(available, remaining)
                body.append(contentsOf: buffer[readIndex..<readIndex + take])
                readIndex += take
                if remaining - take > 0 {
                    state = .fixedBody(head: head, remaining: remaining - take)
                    return .needMoreData
                }
                return .request(finish(head))
            case .chunkSize(let head):
                guard let lineEnd = findCRLF(from: readIndex) else {
                    if buffer.count - readIndex > 1024 { throw Failure(status: 400, message: "chunk size line too long") }
                    return .needMoreData
                }
                let line = String(decoding: buffer[readIndex..<lineEnd], as: UTF8.self)
                let sizeText = line.split(separator: ";", maxSplits: 1).first.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? ""
                guard let size = Int(sizeText, radix: 16), size >= 0 else {
                    throw Failure(status: 400, message: "invalid chunk size '\(sizeText)'")
                }
                readIndex = lineEnd + 2
                if size == 0 {
                    state = .trailers(head: head)
                } else {
                    if body.count + size > limits.maxBodyBytes {
                        throw Failure(status: 413, message: "request body is larger than the limit of \(limits.maxBodyBytes) bytes")
                    }
                    state = .chunkData(head: head, remaining: size)
                }
            case .chunkData(let head, let remaining):
                let available = buffer.count - readIndex
                let take = min(available, remaining)
                body.append(contentsOf: buffer[readIndex..<readIndex + take])
                readIndex += take
                if remaining - take > 0 {
                    state = .chunkData(head: head, remaining: remaining - take)
                    return .needMoreData
                }
                state = .chunkDataEnd(head: head)
            case .chunkDataEnd(let head):
                guard buffer.count - readIndex >= 2 else { return .needMoreData }
                guard buffer[readIndex] == 13, buffer[readIndex + 1] == 10 else {
                    throw Failure(status: 400, message: "chunk data not followed by CRLF")
                }
                readIndex += 2
                state = .chunkSize(head: head)
            case .trailers(let head):
                guard let lineEnd = findCRLF(from: readIndex) else {
                    if buffer.count - readIndex > limits.maxHeaderBytes { throw Failure(status: 431, message: "trailers too large") }
                    return .needMoreData
                }
                let empty = lineEnd == readIndex
                readIndex = lineEnd + 2
                if empty { return .request(finish(head)) }
            }
        }
    }

    private mutating func finish(_ head: Head) -> HTTPRequest {
        state = .head
        let req = HTTPRequest(method: head.method, target: head.target, headers: head.headers, body: body, keepAlive: head.keepAlive)
        body = []
        return req
    }

    private mutating func findHeadEnd() -> Int? {
        var i = max(scanFrom, readIndex)
        let n = buffer.count
        while i + 3 < n {
            if buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 { return i }
            i += 1
        }
        scanFrom = max(readIndex, n - 3)
        return nil
    }

    private func findCRLF(from start: Int) -> Int? {
        var i = start
        while i + 1 < buffer.count {
            if buffer[i] == 13 && buffer[i + 1] == 10 { return i }
            i += 1
        }
        return nil
    }

    private func parseHead(_ bytes: ArraySlice<UInt8>) throws(Failure) -> Head {
        var lines = bytes.split(separator: 10, omittingEmptySubsequences: false).map { line -> ArraySlice<UInt8> in
            line.last == 13 ? line.dropLast() : line
        }
        // Tolerate leading empty lines before the request line (RFC 9112 §2.2).
        while let first = lines.first, first.isEmpty { lines.removeFirst() }
        guard let requestLine = lines.first else { throw Failure(status: 400, message: "empty request") }
        let parts = requestLine.split(separator: 32, omittingEmptySubsequences: true)
        guard parts.count == 3 else { throw Failure(status: 400, message: "malformed request line") }
        let method = String(decoding: parts[0], as: UTF8.self)
        let target = String(decoding: parts[1], as: UTF8.self)
        let version = String(decoding: parts[2], as: UTF8.self)
        guard method.utf8.allSatisfy({ $0 >= 65 && $0 <= 90 }), !method.isEmpty else {
            throw Failure(status: 400, message: "malformed method")
        }
        guard target.hasPrefix("/") || target == "*" else { throw Failure(status: 400, message: "malformed request target") }
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else {
            throw Failure(status: 505, message: "HTTP version \(version) is not supported")
        }
        var headers = HTTPHeaders()
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: 58) else { throw Failure(status: 400, message: "malformed header line") }
            let name = line[line.startIndex..<colon]
            guard !name.isEmpty, name.allSatisfy({ $0 > 32 && $0 < 127 }) else {
                throw Failure(status: 400, message: "malformed header name")
            }
            var value = line[line.index(after: colon)...]
            while let f = value.first, f == 32 || f == 9 { value = value.dropFirst() }
            while let l = value.last, l == 32 || l == 9 { value = value.dropLast() }
            headers.add(String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
        }
        let connection = headers["connection"]?.lowercased() ?? ""
        let keepAlive = version == "HTTP/1.1" ? !connection.contains("close") : connection.contains("keep-alive")
        return Head(method: method, target: target, headers: headers, keepAlive: keepAlive)
    }
}

import Foundation
