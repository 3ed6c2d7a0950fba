import Testing
@testable import KTHTTP

/// Framing the parser must refuse (RFC 9112), and numbers it must never trap on.
@Suite struct HTTPRequestParserStrictnessTests {
    /// The status the parser answers `text` with, or nil when it accepts every request in it.
    func status(_ text: String, limits: HTTPRequestParser.Limits = .init()) -> Int? {
        var p = HTTPRequestParser(limits: limits)
        p.feed(Array(text.utf8))
        do {
            while case .request = try p.next() {}
            return nil
        } catch {
            return error.status
        }
    }

    /// True when the text parses into a request.
    func accepted(_ text: String) -> Bool {
        var p = HTTPRequestParser()
        p.feed(Array(text.utf8))
        guard case .request = try? p.next() else { return false }
        return true
    }

    let post = "POST / HTTP/1.1\r\nHost: h\r\n"

    @Test func hugeChunkSizesAreRefusedNotTrapped() {
        #expect(status(post + "Transfer-Encoding: chunked\r\n\r\n1\r\nA\r\n7fffffffffffffff\r\n") == 413)
        #expect(status(post + "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffffffffffffffff\r\n") == 413)
        #expect(status(post + "Transfer-Encoding: chunked\r\n\r\n8000000000000000\r\n") == 413)
        #expect(status(post + "Content-Length: 99999999999999999999999999\r\n\r\n") == 413)
        #expect(status(post + "Content-Length: 9223372036854775807\r\n\r\n") == 413)
    }

    @Test func contentLengthIsDigitsOnly() {
        for bad in ["+5", "-1", "5 5", "5,5", "0x5", "", "5.0", "٥"] {
            #expect(status(post + "Content-Length: \(bad)\r\n\r\nhello") == 400, "Content-Length: \(bad)")
        }
        #expect(status(post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!") == 400)
        #expect(status(post + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello") == nil)
        #expect(status(post + "Content-Length: 005\r\n\r\nhello") == nil)
    }

    @Test func chunkSizesAreHexDigitsOnly() {
        for bad in ["+a", "-0", "0x5", " 5", "5 ", "", "g"] {
            #expect(status(post + "Transfer-Encoding: chunked\r\n\r\n\(bad)\r\nhello\r\n0\r\n\r\n") == 400, "chunk size '\(bad)'")
        }
        #expect(status(post + "Transfer-Encoding: chunked\r\n\r\n5 ;ext=1\r\nhello\r\n0\r\n\r\n") == nil)
        #expect(status(post + "Transfer-Encoding: chunked\r\n\r\n5;a=\"b\"\r\nhello\r\n0\r\nX-T: 1\r\n\r\n") == nil)
    }

    @Test func transferEncodingMustBeOneChunked() {
        #expect(status(post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == 400)
        #expect(status(post + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n") == 400)
        #expect(status(post + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n") == 400)
        #expect(status(post + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n") == 501)
        #expect(status(post + "Transfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n") == nil)
    }

    @Test func controlCharactersAndObsoleteFormsAreRefused() {
        #expect(status("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\u{01}b\r\n\r\n") == 400)
        #expect(status("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\u{7F}\r\n\r\n") == 400)
        #expect(status("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n") == 400)
        #expect(status("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n") == 400)      // obs-fold
        #expect(status("GET / HTTP/1.1\r\nHost: h\r\nX A: a\r\n\r\n") == 400)           // space in name
        #expect(status("GET / HTTP/1.1\r\nHost: h\r\nX-A : a\r\n\r\n") == 400)          // space before colon
        #expect(status("GET / HTTP/1.1\nHost: h\r\n\r\n") == 400)                       // bare LF
        #expect(status("GET / HTTP/1.1\r\nHost: h\r\nX-A: caf\u{E9} \tok\r\n\r\n") == nil) // obs-text and HTAB
    }

    @Test func hostHeaderRules() {
        #expect(status("GET / HTTP/1.1\r\n\r\n") == 400)
        #expect(status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400)
        #expect(status("GET / HTTP/1.0\r\n\r\n") == nil)
        #expect(status("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n") == 400)
    }

    @Test func requestLineIsCheckedAsSoonAsItIsComplete() {
        // No blank line follows: the parser must not wait for one (HTTP/0.9, garbage).
        #expect(status("GET /\r\n") == 400)
        #expect(status("GET / HTTP/1.1 extra\r\n") == 400)
        #expect(status("GET  / HTTP/1.1\r\n") == 400)
        #expect(status("get / HTTP/1.1\r\n") == 400)
        #expect(status("GET / HTTP/2.0\r\n") == 505)
        #expect(status("GET / HTTQ/1.1\r\n") == 400)
        #expect(status("GET /\n") == 400)
        #expect(status("GET / HTTP/1.1\r\nHost: h\r\n") == nil)   // a good line waits for the rest
        #expect(status("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n") == nil)
    }

    /// Bytes that cannot start a method are refused before any line end: a TLS ClientHello sent
    /// to a plain port (it holds no LF for a long while), binary, or a method longer than any.
    @Test func nonHTTPBytesAreRefusedBeforeALineEnd() {
        var p = HTTPRequestParser()
        p.feed([0x16, 0x03, 0x01, 0x00, 0xA5, 0x01, 0x00])
        do { _ = try p.next(); Issue.record("a TLS record was accepted") } catch {
            #expect(error.status == 400 && error.message.contains("TLS handshake"))
        }
        #expect(status("\u{0}\u{1}") == 400)
        #expect(status("GE{") == 400)
        #expect(status(String(repeating: "A", count: 33)) == 400)
        #expect(status("POS") == nil && status("GET") == nil && status(String(repeating: "A", count: 32)) == nil)   // may still become a method
    }

    /// A chunked body with bare LF line ends is refused when the LF arrives, not held until the
    /// body timeout while the parser waits for a CRLF that will never come.
    @Test func bareLineEndsInChunkedFramingAreRefusedAtOnce() {
        #expect(status(post + "Transfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n") == 400)
        #expect(status(post + "Transfer-Encoding: chunked\r\n\r\n5") == nil)                 // still arriving
        #expect(status(post + "Transfer-Encoding: chunked\r\n\r\n5\r") == nil)               // CR, LF may follow
        #expect(status(post + "Transfer-Encoding: chunked\r\n\r\n5\rX") == 400)              // bare CR
        #expect(status(post + "Transfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\n") == 400)     // in the trailers
        #expect(status(post + "Transfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n\n") == 400)
    }

    /// Bare CRs and LFs in the request line or the header section are refused when they arrive:
    /// the CRLFCRLF such a client waits on is never sent, and the connection would be held to
    /// the header timeout.
    @Test func bareLineEndsInTheHeadAreRefusedAtOnce() {
        #expect(status("GET /healthz HTTP/1.1\rHost: x\r\r") == 400)            // CR-only line ends
        #expect(status("GET /healthz HTTP/1.1\r") == nil)                        // LF may follow
        #expect(status("GET / HTTP/1.1\r\nHost: x\nAccept: */*\n") == 400)      // bare LF in a header line
        #expect(status("GET / HTTP/1.1\r\nHost: x\rAccept: */*") == 400)         // bare CR in a header line
        #expect(status("GET / HTTP/1.1\r\nHost: x\r\n\n") == 400)                // LF terminator
        #expect(status("GET / HTTP/1.1\r\nHost: x\r\n\r") == nil)                // CRLFCR: the LF may follow
        #expect(status("GET / HTTP/1.1\r\nHost: x\r\n") == nil)
        #expect(accepted("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
    }

    /// RFC 9112 §3.2: a Host that is not a host name or address (with an optional port) is a 400.
    @Test func hostMustBeAHostAndPort() {
        for good in ["example.com", "example.com:8080", "127.0.0.1:41002", "[::1]:80", "xn--bcher-kva.example", "a_b.internal", ""] {
            #expect(accepted("GET / HTTP/1.1\r\nHost: \(good)\r\n\r\n"), "\(good)")
        }
        for bad in ["a b", "evil.com/path", "user@evil.com", "h?x", "h#x", "\"h\"", "h\\x", "b\u{fc}cher.example"] {
            #expect(status("GET / HTTP/1.1\r\nHost: \(bad)\r\n\r\n") == 400, "\(bad)")
        }
    }

    @Test func headerCountAndTrailerSizeAreBounded() {
        let many = (0..<101).map { "X-\($0): 1\r\n" }.joined()
        #expect(status("GET / HTTP/1.1\r\nHost: h\r\n" + many + "\r\n") == 431)
        let trailers = String(repeating: "X-T: \(String(repeating: "t", count: 100))\r\n", count: 200)
        #expect(status(post + "Transfer-Encoding: chunked\r\n\r\n0\r\n" + trailers + "\r\n") == 431)
    }

    /// Found by the http-request fuzz target: a head whose request line had a bad version (505)
    /// and whose later line had a bare LF (400) was judged 400 when it arrived whole and 505 when
    /// it arrived in two pieces. The request line is now always judged first.
    @Test func theVerdictDoesNotDependOnHowTheBytesArrive() {
        let head = Array("POST / HTTP/0.1\r\nHost: h\r\nTransfer-Enc\u{05}\n\r\n\r\n".utf8)
        func verdict(_ pieces: [[UInt8]]) -> Int? {
            var p = HTTPRequestParser()
            do {
                for piece in pieces {
                    p.feed(piece)
                    while case .request = try p.next() {}
                }
                return nil
            } catch { return error.status }
        }
        let whole = verdict([head])
        #expect(whole == 505)
        for cut in 0...head.count {
            #expect(verdict([Array(head[..<cut]), Array(head[cut...])]) == whole, "cut at \(cut)")
        }
    }

    @Test func decimalSaturates() {
        #expect(HTTPRequestParser.decimal("0".utf8) == 0)
        #expect(HTTPRequestParser.decimal("9223372036854775807".utf8) == Int.max)
        #expect(HTTPRequestParser.decimal("9223372036854775808".utf8) == Int.max)
        #expect(HTTPRequestParser.decimal("1".utf8 + [0]) == nil)
    }
}
