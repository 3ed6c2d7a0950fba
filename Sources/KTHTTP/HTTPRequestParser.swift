/// Incremental HTTP/1.1 request parser: feed it bytes as they arrive, take complete requests out.
/// A plain state machine (no I/O) so every framing rule is testable on its own.
///
/// Strict by design (RFC 9112), because a gateway in front of other servers must never read a
/// request differently from them (request smuggling) and must never trap on a number it was sent:
/// lengths are `1*DIGIT` / `1*HEXDIG` with no sign and saturate instead of overflowing; header
/// values with control characters, bare LF line ends, obs-fold, several or no `Host` (HTTP/1.1),
/// several `Transfer-Encoding` and a bare request line are refused with 400 as soon as they are seen.
public struct HTTPRequestParser: Sendable {
    public struct Limits: Sendable {
        public var maxHeaderBytes = 16 * 1024
        public var maxBodyBytes = 1 << 20
        public var maxHeaderCount = 100
        public init(maxHeaderBytes: Int = 16 * 1024, maxBodyBytes: Int = 1 << 20, maxHeaderCount: Int = 100) {
            self.maxHeaderBytes = maxHeaderBytes
            self.maxBodyBytes = maxBodyBytes
            self.maxHeaderCount = maxHeaderCount
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
        case trailers(head: Head, bytes: Int)
    }

    private struct Head {
        var method: String
        var target: String
        var headers: HTTPHeaders
        var keepAlive: Bool
        var isHTTP10: Bool
    }

    public var limits: Limits
    private var state = State.head
    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var body: [UInt8] = []
    /// Where the search for the end of the head resumes (avoids rescanning on every read).
    private var scanFrom = 0
    /// The request line of the head being read was checked already (it is checked once complete,
    /// before the rest of the head arrives, so `GET /` without a version is refused at once).
    private var requestLineChecked = false

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

    /// Bytes received and not yet turned into a request (what pipelining buffers).
    public var bufferedBytes: Int { buffer.count - readIndex }

    /// Everything held for requests not yet complete: unread input and the body read so far.
    public var heldBytes: Int { buffer.count - readIndex + body.count }

    /// Drops every byte held (the connection refused its request and will read no more).
    public mutating func discardInput() {
        buffer = []
        body = []
        readIndex = 0
        scanFrom = 0
        requestLineChecked = false
        state = .head
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
        if buffer.isEmpty, buffer.capacity > 256 * 1024 { buffer = [] }
    }

    /// The next complete request, or `.needMoreData`.
    public mutating func next() throws(Failure) -> Event {
        while true {
            switch state {
            case .head:
                // Empty lines before a request line are skipped (RFC 9112 §2.2).
                while buffer.count - readIndex >= 2, buffer[readIndex] == 13, buffer[readIndex + 1] == 10 { readIndex += 2 }
                if buffer.count - readIndex == 1, buffer[readIndex] == 13 { return .needMoreData }
                // The request line first, whether or not the rest of the head is here yet.
                try checkRequestLineEarly()
                guard let end = try findHeadEnd() else {
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
                requestLineChecked = false
                body.removeAll(keepingCapacity: true)
                let te = head.headers.values("transfer-encoding")
                let cl = head.headers.values("content-length")
                let expectsContinue = head.headers["expect"]?.lowercased() == "100-continue"
                if !te.isEmpty {
                    guard te.count == 1 else { throw Failure(status: 400, message: "Transfer-Encoding is given more than once") }
                    guard cl.isEmpty else { throw Failure(status: 400, message: "both Content-Length and Transfer-Encoding given") }
                    let codings = te[0].lowercased().split(separator: ",").map { $0.trimmingSpaces() }
                    guard codings.last == "chunked", codings.filter({ $0 == "chunked" }).count == 1 else {
                        throw Failure(status: 400, message: "Transfer-Encoding '\(te[0])' does not end with a single 'chunked'")
                    }
                    guard codings.count == 1 else { throw Failure(status: 501, message: "transfer-coding '\(te[0])' is not supported; send 'chunked' only") }
                    state = .chunkSize(head: head)
                    if expectsContinue, buffer.count == readIndex { wantsContinue = true }
                } else if !cl.isEmpty {
                    guard let n = Self.contentLength(cl) else {
                        throw Failure(status: 400, message: "invalid Content-Length '\(cl.joined(separator: ", "))': expected one decimal number (digits only)")
                    }
                    if n > limits.maxBodyBytes {
                        throw Failure(status: 413, message: "request body of \(n == Int.max ? "more than \(Int.max)" : String(n)) bytes is larger than the limit of \(limits.maxBodyBytes) bytes")
                    }
                    state = .fixedBody(head: head, remaining: n)
                    if n > 0, expectsContinue, buffer.count - readIndex < n { wantsContinue = true }
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
                guard let lineEnd = try findCRLF(from: readIndex, in: "chunk size line") else {
                    if buffer.count - readIndex > 1024 { throw Failure(status: 400, message: "chunk size line longer than 1024 bytes") }
                    return .needMoreData
                }
                guard let size = Self.chunkSize(buffer[readIndex..<lineEnd]) else {
                    let text = String(decoding: buffer[readIndex..<min(lineEnd, readIndex + 40)], as: UTF8.self)
                    throw Failure(status: 400, message: "invalid chunk size line '\(Self.printable(text))': expected hexadecimal digits, then optional ';' extensions")
                }
                readIndex = lineEnd + 2
                if size == 0 {
                    state = .trailers(head: head, bytes: 0)
                } else {
                    // Subtraction, not addition: `size` may be as large as Int.max.
                    if size > limits.maxBodyBytes - body.count {
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
            case .trailers(let head, let seen):
                guard let lineEnd = try findCRLF(from: readIndex, in: "trailer section") else {
                    if seen + buffer.count - readIndex > limits.maxHeaderBytes { throw Failure(status: 431, message: "trailers larger than \(limits.maxHeaderBytes) bytes") }
                    return .needMoreData
                }
                let line = buffer[readIndex..<lineEnd]
                readIndex = lineEnd + 2
                if line.isEmpty { return .request(finish(head)) }
                let total = seen + line.count + 2
                guard total <= limits.maxHeaderBytes else { throw Failure(status: 431, message: "trailers larger than \(limits.maxHeaderBytes) bytes") }
                guard let colon = line.firstIndex(of: 58), colon > line.startIndex,
                      line[..<colon].allSatisfy(Self.isTokenChar), line[(colon + 1)...].allSatisfy(Self.isFieldValueByte) else {
                    throw Failure(status: 400, message: "malformed trailer field")
                }
                state = .trailers(head: head, bytes: total)
            }
        }
    }

    private mutating func finish(_ head: Head) -> HTTPRequest {
        state = .head
        var req = HTTPRequest(method: head.method, target: head.target, headers: head.headers, body: body, keepAlive: head.keepAlive)
        req.isHTTP10 = head.isHTTP10
        body = []
        return req
    }

    /// The index of the CRLFCRLF that ends the head, nil while it is still arriving. A bare LF or
    /// a CR followed by anything but LF is refused as soon as it is seen: the terminator a client
    /// using them waits for never comes, and the connection would be held to the header timeout.
    private mutating func findHeadEnd() throws(Failure) -> Int? {
        var i = max(scanFrom, readIndex)
        let n = buffer.count
        while i < n {
            switch buffer[i] {
            case 10:
                guard i > readIndex, buffer[i - 1] == 13 else {
                    throw Failure(status: 400, message: "header lines must end with CRLF, not a bare LF")
                }
            case 13:
                if i + 1 < n, buffer[i + 1] != 10 { throw Failure(status: 400, message: "a bare CR in the header section") }
                if i + 3 < n, buffer[i + 1] == 10, buffer[i + 2] == 13, buffer[i + 3] == 10 { return i }
            default:
                break
            }
            i += 1
        }
        // The last three bytes may begin the terminator: looked at again when more arrives.
        scanFrom = max(readIndex, n - 3)
        return nil
    }

    /// The index of the CR of the next CRLF, nil while the line is still arriving. A bare LF (or
    /// a CR followed by anything but LF) is refused as soon as it is seen: waiting for a CRLF that
    /// a client using bare LFs never sends would hold the connection until the body timeout.
    private func findCRLF(from start: Int, in part: String) throws(Failure) -> Int? {
        var i = start
        while i < buffer.count {
            switch buffer[i] {
            case 10:
                throw Failure(status: 400, message: "the \(part) must end with CRLF, not a bare LF")
            case 13:
                guard i + 1 < buffer.count else { return nil }
                guard buffer[i + 1] == 10 else { throw Failure(status: 400, message: "a bare CR in the \(part)") }
                return i
            default:
                i += 1
            }
        }
        return nil
    }

    /// Checks the request line as soon as it is complete, so a line that can never start a valid
    /// head (HTTP/0.9's `GET /`, garbage, a bare LF) is answered now, not at the header timeout.
    private mutating func checkRequestLineEarly() throws(Failure) {
        guard !requestLineChecked else { return }
        var start = readIndex
        while start + 1 < buffer.count, buffer[start] == 13, buffer[start + 1] == 10 { start += 2 }
        // The method is checked as its bytes arrive: a TLS handshake, HTTP/2 binary or other
        // non-HTTP bytes are refused at once instead of waiting for a line end or the timeout.
        var m = start
        while m < buffer.count, m - start <= 32, buffer[m] != 32 {
            guard buffer[m] >= 65 && buffer[m] <= 90 else {
                if m == start && buffer[m] == 0x16 {
                    throw Failure(status: 400, message: "a TLS handshake was sent to a plain-HTTP port; use http:// here, or start the server with --tls-cert")
                }
                throw Failure(status: 400, message: "malformed method: expected upper-case letters")
            }
            m += 1
        }
        if m - start > 32 { throw Failure(status: 400, message: "malformed method: longer than 32 letters") }
        var i = start
        while i < buffer.count, buffer[i] != 10 {
            if buffer[i] == 13, i + 1 < buffer.count, buffer[i + 1] != 10 {
                throw Failure(status: 400, message: "a bare CR in the request line")
            }
            i += 1
        }
        guard i < buffer.count else { return }
        guard i > start, buffer[i - 1] == 13 else { throw Failure(status: 400, message: "the request line must end with CRLF") }
        _ = try Self.parseRequestLine(buffer[start..<(i - 1)])
        requestLineChecked = true
    }

    static func parseRequestLine(_ line: ArraySlice<UInt8>) throws(Failure) -> (method: String, target: String, version: String) {
        let parts = line.split(separator: 32, maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else {
            throw Failure(status: 400, message: "malformed request line: expected 'METHOD /target HTTP/1.1' separated by single spaces")
        }
        guard parts[0].allSatisfy({ $0 >= 65 && $0 <= 90 }) else { throw Failure(status: 400, message: "malformed method: expected upper-case letters") }
        guard parts[1].allSatisfy({ $0 > 32 && $0 < 127 }), parts[1].first == 47 || parts[1].elementsEqual("*".utf8) else {
            throw Failure(status: 400, message: "malformed request target: expected a path starting with '/'")
        }
        let version = String(decoding: parts[2], as: UTF8.self)
        let v = Array(parts[2])
        guard v.count == 8, v[0...4].elementsEqual("HTTP/".utf8), (48...57).contains(v[5]), v[6] == 46, (48...57).contains(v[7]) else {
            throw Failure(status: 400, message: "malformed HTTP version: expected HTTP/1.1 or HTTP/1.0")
        }
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else {
            throw Failure(status: 505, message: "HTTP version \(version) is not supported; use HTTP/1.1")
        }
        return (String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1], as: UTF8.self), version)
    }

    private func parseHead(_ bytes: ArraySlice<UInt8>) throws(Failure) -> Head {
        // Leading empty lines were skipped by `next`. The request line is judged first, exactly as
        // `checkRequestLineEarly` judges it, so the verdict does not depend on how bytes arrive.
        var lines = bytes.split(separator: 10, omittingEmptySubsequences: false)
        guard let first = lines.first else { throw Failure(status: 400, message: "empty request") }
        if lines.count > 1 {
            guard first.last == 13 else { throw Failure(status: 400, message: "the request line must end with CRLF") }
            lines[0] = first.dropLast()
        }
        let (method, target, version) = try Self.parseRequestLine(lines[0])
        // Every other line but the last ended with CRLF; the last one's CRLF is part of the terminator.
        for i in 1..<max(1, lines.count - 1) {
            guard lines[i].last == 13 else { throw Failure(status: 400, message: "header lines must end with CRLF, not a bare LF") }
            lines[i] = lines[i].dropLast()
        }
        guard lines.count - 1 <= limits.maxHeaderCount else {
            throw Failure(status: 431, message: "more than \(limits.maxHeaderCount) header fields")
        }
        var headers = HTTPHeaders()
        for line in lines.dropFirst() {
            if let f = line.first, f == 32 || f == 9 {
                throw Failure(status: 400, message: "obsolete line folding in the header section is not accepted")
            }
            guard let colon = line.firstIndex(of: 58) else { throw Failure(status: 400, message: "malformed header line: no ':'") }
            let name = line[line.startIndex..<colon]
            guard !name.isEmpty, name.allSatisfy(Self.isTokenChar) else {
                throw Failure(status: 400, message: "malformed header name '\(Self.printable(String(decoding: name.prefix(40), as: UTF8.self)))'")
            }
            var value = line[line.index(after: colon)...]
            while let f = value.first, f == 32 || f == 9 { value = value.dropFirst() }
            while let l = value.last, l == 32 || l == 9 { value = value.dropLast() }
            let nameText = String(decoding: name, as: UTF8.self)
            guard value.allSatisfy(Self.isFieldValueByte) else {
                throw Failure(status: 400, message: "header '\(nameText)' has a control character in its value")
            }
            headers.add(nameText, String(decoding: value, as: UTF8.self))
        }
        let hosts = headers.values("host")
        if version == "HTTP/1.1" ? hosts.count != 1 : hosts.count > 1 {
            throw Failure(status: 400, message: hosts.isEmpty ? "an HTTP/1.1 request needs a Host header" : "the request has \(hosts.count) Host headers; send one")
        }
        // RFC 9112 §3.2: a Host that is not `uri-host [":" port]` is a 400.
        if let host = hosts.first, !host.utf8.allSatisfy(Self.isHostByte) {
            throw Failure(status: 400, message: "the Host header '\(Self.printable(String(host.prefix(64))))' is not a host name or address with an optional port")
        }
        let connection = headers["connection"]?.lowercased() ?? ""
        let keepAlive = version == "HTTP/1.1" ? !connection.contains("close") : connection.contains("keep-alive")
        return Head(method: method, target: target, headers: headers, keepAlive: keepAlive, isHTTP10: version == "HTTP/1.0")
    }

    // MARK: Grammar

    /// tchar (RFC 9110 §5.6.2).
    static func isTokenChar(_ b: UInt8) -> Bool {
        switch b {
        case 48...57, 65...90, 97...122: return true
        case 33, 35, 36, 37, 38, 39, 42, 43, 45, 46, 94, 95, 96, 124, 126: return true
        default: return false
        }
    }

    /// The bytes of `uri-host [":" port]` (RFC 3986): unreserved, pct-encoded, sub-delims, ':'
    /// and the brackets of an IP literal.
    static func isHostByte(_ b: UInt8) -> Bool {
        switch b {
        case 48...57, 65...90, 97...122: return true
        case 45, 46, 95, 126, 37, 33, 36, 38, 39, 40, 41, 42, 43, 44, 59, 61, 58, 91, 93: return true
        default: return false
        }
    }

    /// field-vchar / SP / HTAB / obs-text: everything but the control characters and DEL.
    static func isFieldValueByte(_ b: UInt8) -> Bool { b == 9 || (b >= 32 && b != 127) }

    /// Content-Length values: each exactly `1*DIGIT` (no sign, no spaces, no list), all equal.
    /// Saturates at `Int.max` (larger than any limit) instead of overflowing.
    static func contentLength(_ values: [String]) -> Int? {
        var result: Int?
        for v in values {
            guard let n = decimal(v.utf8) else { return nil }
            if let r = result, r != n { return nil }
            result = n
        }
        return result
    }

    /// `1*DIGIT`, saturating at Int.max; nil for anything else (signs, spaces, empty).
    public static func decimal(_ digits: some Collection<UInt8>) -> Int? {
        guard !digits.isEmpty else { return nil }
        var n = 0
        for d in digits {
            guard d >= 48 && d <= 57 else { return nil }
            let (m, o1) = n.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int(d - 48))
            n = (o1 || o2) ? Int.max : s
        }
        return n
    }

    /// `chunk-size [ BWS ";" chunk-ext ] ` → the size (saturating at Int.max), nil when malformed.
    static func chunkSize(_ line: ArraySlice<UInt8>) -> Int? {
        var i = line.startIndex
        var n = 0
        while i < line.endIndex, let h = hexValue(line[i]) {
            n = n > (Int.max >> 4) ? Int.max : (n << 4) | h
            i += 1
        }
        guard i > line.startIndex else { return nil }
        if i == line.endIndex { return n }
        // Whitespace is allowed only before an extension (BWS ";").
        while i < line.endIndex, line[i] == 32 || line[i] == 9 { i += 1 }
        guard i < line.endIndex, line[i] == 59, line[i...].allSatisfy(isFieldValueByte) else { return nil }
        return n
    }

    private static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case 48...57: return Int(b - 48)
        case 65...70: return Int(b - 55)
        case 97...102: return Int(b - 87)
        default: return nil
        }
    }

    /// For error messages: control characters shown as `?`.
    static func printable(_ s: String) -> String {
        String(s.unicodeScalars.map { $0.value < 32 || $0.value == 127 ? "?" : Character($0) })
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
