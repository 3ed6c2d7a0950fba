import KTTestSupport
import Foundation
import Testing
import Synchronization
@testable import KTHTTP

/// Bytes a handler produced, read by the test.
final class ProducedCounter: Sendable {
    private let count = Atomic<Int>(0)
    func add(_ n: Int) { count.wrappingAdd(n, ordering: .relaxed) }
    var bytes: Int { count.load(ordering: .relaxed) }
}

/// A test server whose handler publishes what happens to it as events.
struct TestServer {
    let server: HTTPServer
    let port: Int
    let events: AsyncStream<String>

    static func start(produced: ProducedCounter = ProducedCounter(),
                      _ configure: (inout HTTPServer.Configuration) -> Void = { _ in }) async throws -> TestServer {
        var config = HTTPServer.Configuration(host: "127.0.0.1", port: 0)
        configure(&config)
        let (events, sink) = AsyncStream<String>.makeStream()
        let server = try HTTPServer(configuration: config) { req, w in
            switch req.path {
            case "/hello":
                w.respond(status: 200, headers: HTTPHeaders([("content-type", "text/plain")]), body: Array("hello".utf8))
            case "/echo":
                w.respond(status: 200, body: req.body)
            case "/stream":
                let n = Int(req.query["n"] ?? "3") ?? 3
                w.startStream(status: 200, headers: HTTPHeaders([("content-type", "text/event-stream")]))
                for i in 0..<n {
                    await w.writeChunk(Array("data: \(i)\n\n".utf8))
                    try? await Task.sleep(for: .milliseconds(5))
                }
                w.endStream()
            case "/abort":
                w.startStream(status: 200, headers: HTTPHeaders())
                await w.writeChunk(Array("partial".utf8))
                w.abortStream()
            case "/wait":
                sink.yield("started \(req.target)")
                w.startStream(status: 200, headers: HTTPHeaders())
                await w.writeChunk(Array("first".utf8))
                // Park until the client goes away; cancellation is what we observe.
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(60)) }
                sink.yield("cancelled \(req.target)")
            case "/slow":
                sink.yield("started \(req.target)")
                try? await Task.sleep(for: .milliseconds(Int(req.query["ms"] ?? "200") ?? 200))
                w.respond(status: 200, body: Array("done".utf8))
            case "/big":
                w.respond(status: 200, body: [UInt8](repeating: 0x61, count: 65_536))
            case "/flood":
                // 128 MB in 64 KiB chunks, as fast as the writer lets it.
                w.startStream(status: 200, headers: HTTPHeaders())
                let chunk = [UInt8](repeating: 0x62, count: 65_536)
                for _ in 0..<2048 {
                    if w.isClientGone { break }
                    await w.writeChunk(chunk)
                    produced.add(chunk.count)
                }
                w.endStream()
                sink.yield("flood ended")
            case "/forget":
                break
            default:
                w.respond(status: 404, body: Array("nope".utf8))
            }
        }
        let port = try await server.start()
        return TestServer(server: server, port: port, events: events)
    }

    func next(_ prefix: String) async -> String? {
        for await e in events where e.hasPrefix(prefix) { return e }
        return nil
    }
}

@Suite(.serialized) struct HTTPServerTests {
    @Test func simpleResponseAndKeepAlive() async throws {
        let s = try await TestServer.start()
        let r: [RawClient.Response?] = await onThread {
            let c = try! RawClient(port: s.port)
            c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            let a = c.readResponse()
            c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nworld")
            return [a, c.readResponse()]
        }
        #expect(r[0]?.status == 200 && r[0]?.text == "hello" && r[0]?.headers["content-length"] == "5")
        #expect(r[1]?.text == "world")
        await s.server.shutdown()
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let s = try await TestServer.start()
        let bodies: [String] = await onThread {
            let c = try! RawClient(port: s.port)
            c.send("GET /slow?ms=30 HTTP/1.1\r\nHost: t\r\n\r\nPOST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\ntwoGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            return (0..<3).compactMap { _ in c.readResponse()?.text }
        }
        #expect(bodies == ["done", "two", "hello"])
        await s.server.shutdown()
    }

    @Test func chunkedRequestBodyAnd100Continue() async throws {
        let s = try await TestServer.start()
        let r = await onThread { () -> RawClient.Response? in
            let c = try! RawClient(port: s.port)
            c.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
            c.send("4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n")
            return c.readResponse()
        }
        #expect(r?.text == "abcdef")
        await s.server.shutdown()
    }

    @Test func streamedResponseArrivesInChunksAndEndsCleanly() async throws {
        let s = try await TestServer.start()
        let r = await onThread { () -> RawClient.Response? in
            let c = try! RawClient(port: s.port)
            c.send("GET /stream?n=4 HTTP/1.1\r\nHost: t\r\n\r\n")
            return c.readResponse()
        }
        #expect(r?.headers["transfer-encoding"] == "chunked")
        #expect(r?.text == "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\n")
        #expect(r?.cleanEnd == true)
        let aborted = await onThread { () -> RawClient.Response? in
            let c = try! RawClient(port: s.port)
            c.send("GET /abort HTTP/1.1\r\nHost: t\r\n\r\n")
            return c.readResponse()
        }
        #expect(aborted?.text == "partial" && aborted?.cleanEnd == false)
        await s.server.shutdown()
    }

    /// HTTP/1.0 has no chunked coding: a stream to an HTTP/1.0 client is close-delimited, and a
    /// kept-alive HTTP/1.0 connection is told so (else the client waits for a close).
    @Test func http10ClientsGetCloseDelimitedStreamsAndAnnouncedKeepAlive() async throws {
        let s = try await TestServer.start()
        let raw = await onThread { () -> String in
            let c = try! RawClient(port: s.port)
            c.send("GET /stream?n=3 HTTP/1.0\r\n\r\n")
            return String(decoding: c.readUntilClosed(), as: UTF8.self)
        }
        let parts = raw.components(separatedBy: "\r\n\r\n")
        #expect(parts.first?.hasPrefix("HTTP/1.1 200") == true)
        #expect(parts.first?.lowercased().contains("transfer-encoding") == false, "\(raw)")
        #expect(parts.first?.lowercased().contains("connection: close") == true)
        #expect(parts.dropFirst().joined(separator: "\r\n\r\n") == "data: 0\n\ndata: 1\n\ndata: 2\n\n", "\(raw)")
        let kept: [RawClient.Response?] = await onThread {
            let c = try! RawClient(port: s.port)
            c.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            let a = c.readResponse()
            c.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            return [a, c.readResponse()]
        }
        #expect(kept[0]?.headers["connection"] == "keep-alive" && kept[1]?.text == "hello")
        // Without keep-alive an HTTP/1.0 answer closes, as before.
        let plain = await onThread { () -> RawClient.Response? in
            let c = try! RawClient(port: s.port)
            c.send("GET /hello HTTP/1.0\r\n\r\n")
            return c.readResponse()
        }
        #expect(plain?.headers["connection"] == "close" && plain?.text == "hello")
        await s.server.shutdown()
    }

    @Test func oversizeBodiesAndHeadersAreRefused() async throws {
        let s = try await TestServer.start { $0.maxBodyBytes = 100; $0.maxHeaderBytes = 1024 }
        let statuses: [Int?] = await onThread {
            let a = try! RawClient(port: s.port)
            a.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n")
            let b = try! RawClient(port: s.port)
            b.send("GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: \(String(repeating: "b", count: 2000))\r\n\r\n")
            let c = try! RawClient(port: s.port)
            c.send("{not http}\r\n\r\n")
            return [a.readResponse()?.status, b.readResponse()?.status, c.readResponse()?.status]
        }
        #expect(statuses == [413, 431, 400])
        // The limit can change at run time (config reload).
        s.server.setMaxBodyBytes(1000)
        let ok = await onThread { () -> Int? in
            let c = try! RawClient(port: s.port)
            c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 200\r\n\r\n" + String(repeating: "x", count: 200))
            return c.readResponse()?.status
        }
        #expect(ok == 200)
        await s.server.shutdown()
    }

    @Test func slowlorisIsCutOffWhileOthersAreServed() async throws {
        let s = try await TestServer.start { $0.headerTimeout = .milliseconds(300) }
        let (cut, served): (Bool, Bool) = await onThread {
            let slow = try! RawClient(port: s.port)
            slow.send("GET /hello HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n")
            // Meanwhile a normal client is served at once.
            let fast = try! RawClient(port: s.port)
            fast.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            let served = fast.readResponse()?.status == 200
            slow.send("X-B: 2\r\n")  // trickling does not extend the deadline
            let rest = String(decoding: slow.readUntilClosed(), as: UTF8.self)
            return (rest.hasPrefix("HTTP/1.1 408"), served)
        }
        #expect(cut && served)
        await s.server.shutdown()
    }

    @Test func idleKeepAliveConnectionsAreClosed() async throws {
        let s = try await TestServer.start { $0.idleTimeout = .milliseconds(200) }
        let closed: Bool = await onThread {
            let c = try! RawClient(port: s.port)
            c.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            _ = c.readResponse()
            return c.readUntilClosed().isEmpty  // EOF, well before the 30 s receive timeout
        }
        #expect(closed)
        await s.server.shutdown()
    }

    /// A second shutdown (say a signal during a drain) waits for the first instead of hanging on
    /// a loop that has already stopped.
    @Test(.timeLimit(.minutes(1))) func shutdownTwiceReturnsBothTimes() async throws {
        let s = try await TestServer.start()
        async let first: Void = s.server.shutdown(gracePeriod: .seconds(1))
        async let second: Void = s.server.shutdown(gracePeriod: .seconds(1))
        _ = await (first, second)
        await s.server.shutdown()
        #expect(await RawClient.get(port: s.port, path: "/hello") == nil, "nothing listens after shutdown")
    }

    @Test func clientDisconnectCancelsTheHandler() async throws {
        let s = try await TestServer.start()
        let client = await onThread { () -> RawClient in
            let c = try! RawClient(port: s.port)
            c.send("GET /wait?id=1 HTTP/1.1\r\nHost: t\r\n\r\n")
            _ = c.fill()  // the head and first chunk
            return c
        }
        #expect(await s.next("started") == "started /wait?id=1")
        _ = client  // keep it open until the handler runs, then drop it
        _ = await onThread { client.close() }
        #expect(await s.next("cancelled") == "cancelled /wait?id=1")
        await s.server.shutdown()
    }

    @Test func handlerThatForgetsToRespondGets500() async throws {
        let s = try await TestServer.start()
        let status = await onThread { () -> Int? in
            let c = try! RawClient(port: s.port)
            c.send("GET /forget HTTP/1.1\r\nHost: t\r\n\r\n")
            return c.readResponse()?.status
        }
        #expect(status == 500)
        await s.server.shutdown()
    }

    /// Descriptor counts are measured on an isolated gateway process in GatewayEndToEndTests;
    /// in process, other suites open descriptors concurrently, so this checks the server's own accounting.
    @Test func manyKeepAliveRequestsCloseEveryConnection() async throws {
        let s = try await TestServer.start()
        let ok: Int = await onThread {
            var ok = 0
            for _ in 0..<20 {
                let c = try! RawClient(port: s.port)
                for _ in 0..<500 {
                    c.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
                    if c.readResponse()?.status == 200 { ok += 1 }
                }
            }
            return ok
        }
        #expect(ok == 10_000)
        // Client sockets are closed; wait (bounded) for the server to see every EOF.
        let deadline = ContinuousClock.now + .seconds(5)
        while s.server.openConnections > 0, ContinuousClock.now < deadline { await Task.yield() }
        #expect(s.server.openConnections == 0)
        await s.server.shutdown()
    }

    @Test func connectionLimitAnswers503WhenNoConnectionIsIdle() async throws {
        let s = try await TestServer.start { $0.maxConnections = 1 }
        let a = try RawClient(port: s.port)
        a.send("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(await s.next("started") != nil)
        let second: RawClient.Response? = await onThread {
            let b = try! RawClient(port: s.port)
            return b.readResponse()
        }
        #expect(second?.status == 503)
        #expect(second?.headers["x-request-id"]?.hasPrefix("req_") == true)
        a.close()
        await s.server.shutdown()
    }

    @Test func atTheConnectionLimitTheOldestIdleConnectionMakesRoom() async throws {
        let s = try await TestServer.start { $0.maxConnections = 2 }
        let (served, oldestClosed): (Int?, Bool) = await onThread {
            let old = try! RawClient(port: s.port)
            old.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            _ = old.readResponse()
            let silent = try! RawClient(port: s.port)   // never sends: idle as well, but newer
            _ = silent
            let fresh = try! RawClient(port: s.port)
            fresh.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            let status = fresh.readResponse()?.status
            // EOF, not the 5 s read timeout.
            let started = ContinuousClock.now
            let rest = old.readUntilClosed()
            return (status, rest.isEmpty && ContinuousClock.now - started < .seconds(4))
        }
        #expect(served == 200)
        #expect(oldestClosed)
        await s.server.shutdown()
    }

    @Test func gracefulShutdownLetsInFlightRequestsFinish() async throws {
        let s = try await TestServer.start()
        async let response: RawClient.Response? = onThread {
            let c = try! RawClient(port: s.port)
            c.send("GET /slow?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n")
            return c.readResponse()
        }
        #expect(await s.next("started") != nil)
        await s.server.shutdown(gracePeriod: .seconds(5))
        let r = await response
        #expect(r?.status == 200 && r?.text == "done" && r?.headers["connection"] == "close")
        // And nothing listens any more.
        #expect(throws: (any Error).self) { try RawClient(port: s.port) }
    }
}
