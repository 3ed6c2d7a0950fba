import KTTestSupport
import Testing
@testable import KTHTTP

@Suite struct HTTPRequestParserTests {
    func requests(_ text: String, limits: HTTPRequestParser.Limits = .init()) throws -> [HTTPRequest] {
        var p = HTTPRequestParser(limits: limits)
        p.feed(Array(text.utf8))
        var out: [HTTPRequest] = []
        while case .request(let r) = try p.next() { out.append(r) }
        return out
    }

    @Test func contentLengthAndPipelining() throws {
        let rs = try requests("POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabcGET /b?x=1&y=a%20b HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(rs.map(\.target) == ["/a", "/b?x=1&y=a%20b"])
        #expect(rs[0].body == Array("abc".utf8))
        #expect(rs[1].query == ["x": "1", "y": "a b"] && rs[1].path == "/b")
    }

    @Test func chunkedBodyInPieces() throws {
        var p = HTTPRequestParser()
        let text = "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\n\r\n"
        var got: HTTPRequest?
        for byte in text.utf8 {
            p.feed([byte])
            if case .request(let r) = try p.next() { got = r }
        }
        #expect(got.map { String(decoding: $0.body, as: UTF8.self) } == "abcdefg")
    }

    @Test func keepAliveRules() throws {
        #expect(try requests("GET / HTTP/1.1\r\nHost: t\r\n\r\n")[0].keepAlive)
        #expect(try !requests("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")[0].keepAlive)
        #expect(try !requests("GET / HTTP/1.0\r\n\r\n")[0].keepAlive)
    }

    @Test func limitsAndMalformedFraming() {
        let small = HTTPRequestParser.Limits(maxHeaderBytes: 96, maxBodyBytes: 10)
        func status(_ text: String) -> Int? {
            do { _ = try requests(text, limits: small); return nil } catch { return (error as? HTTPRequestParser.Failure)?.status }
        }
        #expect(status("GET / HTTP/1.1\r\nHost: t\r\nX: \(String(repeating: "a", count: 100))\r\n\r\n") == 431)
        #expect(status("GET / HTTP/1.1\r\nHost: t\r\nX: \(String(repeating: "a", count: 100))") == 431)  // before the end arrives
        #expect(status("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n") == 413)
        #expect(status("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n") == 413)
        #expect(status("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n") == 400)
        #expect(status("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n") == 400)
        #expect(status("GARBAGE\r\n\r\n") == 400)
        #expect(status("GET / HTTP/2.0\r\n\r\n") == 505)
        #expect(status("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") == 400)
    }

    @Test func expectContinueIsFlagged() throws {
        var p = HTTPRequestParser()
        p.feed(Array("POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n".utf8))
        guard case .needMoreData = try p.next() else { Issue.record("expected needMoreData"); return }
        #expect(p.wantsContinue)
    }
}
