import Foundation
import KTTestSupport
import Testing
@testable import KTHTTP

/// Clients written by an attacker, against a real server on 127.0.0.1.
@Suite(.serialized) struct HostileClientTests {
    /// Polls (bounded, 5 s) until the server holds more than `bound` bytes of output for clients.
    func outputQueued(_ s: TestServer, over bound: Int) async -> Int {
        var queued = 0
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            queued = await s.server.bufferedBytes().totalOutput
            if queued > bound { break }
            await Task.yield()
        }
        return queued
    }

    @Test func overflowingChunkSizeIsRefusedAndTheServerKeepsServing() async throws {
        let s = try await TestServer.start()
        let (hostile, after): (RawClient.Response?, Int?) = await onThread {
            let c = try! RawClient(port: s.port)
            c.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nA\r\n7fffffffffffffff\r\n")
            let r = c.readResponse()
            return (r, RawClient.get(port: s.port, path: "/hello")?.status)
        }
        #expect(hostile?.status == 413)
        #expect(hostile?.headers["x-request-id"]?.hasPrefix("req_") == true)
        #expect(after == 200)
        await s.server.shutdown()
    }

    /// A refused request whose body is still arriving: the server answers 413 and closes without
    /// a reset (which can destroy an answer the client has not read yet), reading and dropping
    /// what the client still sends for a moment (a lingering close).
    @Test func aRefusedBodyGetsItsAnswerAndACleanCloseNotAReset() async throws {
        let s = try await TestServer.start()
        let (r, ending, sentAfter): (RawClient.Response?, RawClient.Ending, Int) = await onThread {
            let c = try! RawClient(port: s.port, timeoutSeconds: 10)
            // The head and the first 256 KiB of a body far over the limit, in one go: the server
            // refuses on the head with most of these bytes unread in its receive queue.
            c.send(Array("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n".utf8) + [UInt8](repeating: 65, count: 256 * 1024))
            let r = c.readResponse()
            // The client goes on sending for a moment, as curl does until it reads the answer.
            let sentAfter = c.send([UInt8](repeating: 66, count: 64 * 1024))
            c.shutdownWrite()
            return (r, c.ending(), sentAfter)
        }
        #expect(r?.status == 413)
        #expect(r?.headers["connection"] == "close")
        #expect(sentAfter == 64 * 1024, "the server should still read (and drop) input after its answer")
        #expect(ending == .closed, "the connection should end with a FIN, not a reset")
        await s.server.shutdown()
    }

    /// Each connection is bounded by the size limit; their sum is bounded too. Ten clients that
    /// send 900 KB of a 1 MB body and stall would hold 9 MB; with a 4 MiB budget the stalest are
    /// refused with 503, and a client that sends a whole body is still served.
    @Test func partialBodiesTogetherStayWithinTheServersBudget() async throws {
        let budget = 4 << 20
        let s = try await TestServer.start { $0.maxHeldRequestBytes = budget; $0.bodyTimeout = .seconds(60) }
        let stalled: [RawClient] = await onThread {
            (0..<10).compactMap { _ -> RawClient? in
                guard let c = try? RawClient(port: s.port, timeoutSeconds: 10) else { return nil }
                c.send(Array("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n".utf8) + [UInt8](repeating: 65, count: 900_000))
                return c
            }
        }
        #expect(stalled.count == 10)
        // Poll (bounded) until the server has read what was sent and shed what does not fit.
        var held = Int.max, shed = 0
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            held = await s.server.bufferedBytes().heldRequests
            shed = s.server.shedRequests
            if held <= budget, shed >= 6 { break }
            await Task.yield()
        }
        #expect(held <= budget, "the server holds \(held) bytes of partial requests")
        #expect(shed >= 6)
        // The first clients waited longest for their next byte: they are the ones refused.
        let first = await onThread { stalled[0].readResponse() }
        #expect(first?.status == 503)
        #expect(first?.headers["x-request-id"]?.hasPrefix("req_") == true)
        let body = String(repeating: "b", count: 500_000)
        let honest = await RawClient.request(port: s.port, method: "POST", path: "/echo", body: body)
        #expect(honest?.status == 200)
        #expect(honest?.body.count == body.utf8.count)
        for c in stalled { c.close() }
        await s.server.shutdown()
    }

    @Test func bareRequestLineIsAnsweredAtOnceNotAtTheHeaderTimeout() async throws {
        let s = try await TestServer.start { $0.headerTimeout = .seconds(30) }
        let r: RawClient.Response? = await onThread {
            let c = try! RawClient(port: s.port, timeoutSeconds: 5)
            c.send("GET /\r\n")
            return c.readResponse()
        }
        #expect(r?.status == 400)
        await s.server.shutdown()
    }

    /// A real TLS client (`openssl s_client`) on a plain-HTTP port gets its answer and the close
    /// at once, not at the header timeout.
    @Test func aTLSHandshakeOnAPlainPortIsRefusedAtOnce() async throws {
        let s = try await TestServer.start { $0.headerTimeout = .seconds(30) }
        let started = ContinuousClock.now
        let r = try await ChildProcess.system(["sh", "-c", "openssl s_client -connect 127.0.0.1:\(s.port) -servername localhost </dev/null 2>&1; true"])
        #expect(ContinuousClock.now - started < .seconds(10), "the handshake should fail at once, not after the 30 s header timeout")
        // OpenSSL reads the plain "HTTP/1.1 400" answer as a TLS record of an unknown version.
        #expect(r.stdout.contains("wrong version number"), "\(r.stdout)")
        let after = await onThread { RawClient.get(port: s.port, path: "/hello")?.status }
        #expect(after == 200)
        await s.server.shutdown()
    }

    @Test func aSilentConnectionIsCutAtTheHeaderTimeout() async throws {
        let s = try await TestServer.start { $0.headerTimeout = .milliseconds(300); $0.idleTimeout = .seconds(60) }
        let closedEarly: Bool = await onThread {
            let c = try! RawClient(port: s.port, timeoutSeconds: 5)
            let started = ContinuousClock.now
            _ = c.readUntilClosed()
            return ContinuousClock.now - started < .seconds(4)
        }
        #expect(closedEarly)
        await s.server.shutdown()
    }

    @Test func pipelinedBytesBehindASlowRequestAreNotBufferedWithoutBound() async throws {
        let s = try await TestServer.start()
        let c = try RawClient(port: s.port)
        c.send("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(await s.next("started") != nil)
        // 32 MB of pipelined requests behind it, from a thread (the send blocks once the server
        // stops reading and the socket buffers fill; closing the client ends it).
        let chunk = String(repeating: "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", count: 2000)
        let senderDone = DispatchSemaphore(value: 0)
        let sender = Thread {
            for _ in 0..<500 { c.send(chunk) }
            senderDone.signal()
        }
        sender.start()
        // Poll (bounded) until the server has read what it will read; it must stay under the bound.
        var largest = 0
        let deadline = ContinuousClock.now + .seconds(3)
        while ContinuousClock.now < deadline {
            largest = max(largest, await s.server.bufferedBytes().largestInput)
            if largest >= 64 * 1024 { break }
            await Task.yield()
        }
        for _ in 0..<50 { largest = max(largest, await s.server.bufferedBytes().largestInput); await Task.yield() }
        #expect(largest >= 64 * 1024, "the server read the pipelined bytes up to its bound")
        #expect(largest <= 64 * 1024 + 65_536, "buffered \(largest) bytes of pipelined input")
        // Wake the blocked sender, then close: the unread answer makes the close a reset, which
        // the server sees although it is not reading (a FIN would wait behind the unread bytes).
        c.shutdownBoth()
        await onThread { senderDone.wait() }
        c.close()
        #expect(await s.next("cancelled") != nil)
        await s.server.shutdown()
    }

    @Test func aClientThatNeverReadsHoldsBackItsPipelinedRequests() async throws {
        let s = try await TestServer.start()
        let c = try RawClient(port: s.port)
        // 200 pipelined requests for 64 KiB answers, never read.
        c.send(String(repeating: "GET /big HTTP/1.1\r\nHost: t\r\n\r\n", count: 200))
        var queued = await outputQueued(s, over: HTTPResponseWriter.highWatermark)
        for _ in 0..<50 { queued = max(queued, await s.server.bufferedBytes().totalOutput); await Task.yield() }
        #expect(queued > HTTPResponseWriter.highWatermark, "the socket filled")
        // At most one answer over the high watermark waits; without the bound it would be ~12 MB.
        #expect(queued <= HTTPResponseWriter.highWatermark + 2 * 65_536, "queued \(queued) bytes for a client that reads nothing")
        c.close()
        await s.server.shutdown()
    }

    @Test func aStreamToAClientThatNeverReadsSuspendsItsProducer() async throws {
        let produced = ProducedCounter()
        let s = try await TestServer.start(produced: produced)
        let c = try RawClient(port: s.port)
        c.send("GET /flood HTTP/1.1\r\nHost: t\r\n\r\n")
        // Once the socket is full, output queues up in the server and the producer parks.
        let queued = await outputQueued(s, over: HTTPResponseWriter.lowWatermark)
        #expect(queued > HTTPResponseWriter.lowWatermark, "the socket filled")
        for _ in 0..<100 { await Task.yield() }
        // Without backpressure the producer would have queued all 128 MB by now.
        #expect(produced.bytes < 64 << 20, "produced \(produced.bytes) bytes for a client that reads nothing")
        #expect(await s.server.bufferedBytes().totalOutput <= HTTPResponseWriter.highWatermark + 2 * 65_536)
        c.close()
        #expect(await s.next("flood ended") != nil)
        #expect(produced.bytes < 64 << 20)
        await s.server.shutdown()
    }
}
