/// Serialises response heads. Kept separate so the bytes are testable.
public enum HTTPResponseHead {
    public static func reason(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 413: return "Content Too Large"
        case 415: return "Unsupported Media Type"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }

    /// `framing`: a fixed Content-Length, chunked for streams, or (for HTTP/1.0 clients, which do
    /// not know chunked) a stream whose end is the connection's close.
    public enum Framing: Sendable { case contentLength(Int), chunked, closeDelimited }

    /// `announceKeepAlive`: an HTTP/1.0 client keeps the connection only when told so.
    public static func serialize(status: Int, headers: HTTPHeaders, framing: Framing, keepAlive: Bool, announceKeepAlive: Bool = false,
                                 into out: inout [UInt8]) {
        out.append(contentsOf: "HTTP/1.1 \(status) \(reason(status))\r\n".utf8)
        for (name, value) in headers where name != "content-length" && name != "transfer-encoding" && name != "connection" {
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: ": ".utf8)
            // Header values never carry CR/LF (response splitting).
            out.append(contentsOf: value.utf8.filter { $0 != 13 && $0 != 10 })
            out.append(contentsOf: "\r\n".utf8)
        }
        switch framing {
        case .contentLength(let n): out.append(contentsOf: "content-length: \(n)\r\n".utf8)
        case .chunked: out.append(contentsOf: "transfer-encoding: chunked\r\n".utf8)
        case .closeDelimited: break
        }
        if !keepAlive { out.append(contentsOf: "connection: close\r\n".utf8) } else if announceKeepAlive { out.append(contentsOf: "connection: keep-alive\r\n".utf8) }
        out.append(contentsOf: "\r\n".utf8)
    }

    /// One chunk of a chunked body (an empty chunk would end the body, so it is skipped).
    public static func chunk(_ bytes: some Collection<UInt8>, into out: inout [UInt8]) {
        guard !bytes.isEmpty else { return }
        out.append(contentsOf: String(bytes.count, radix: 16).utf8)
        out.append(contentsOf: "\r\n".utf8)
        out.append(contentsOf: bytes)
        out.append(contentsOf: "\r\n".utf8)
    }

    public static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)
}
