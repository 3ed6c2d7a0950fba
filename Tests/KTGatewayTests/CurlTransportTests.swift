import Foundation
import Testing
import KTTestSupport
import KTHTTP
import Synchronization
@testable import KTGateway

@Suite(.serialized) struct CurlTransportTests {
    @Test func streamsChunksAndCancelsTheTransferWhenTheConsumerIsCancelled() async throws {
        let upstream = MockUpstreamServer()
        var b = MockUpstreamServer.Behavior()
        b.chunkDelayMs = 30
        b.reply = String(repeating: "word ", count: 40)
        upstream.setBehavior(b)
        let port = try await upstream.start()
        let transport = CurlTransport()
        let body = Array(#"{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}"#.utf8)
        let (events, sink) = AsyncStream<Int>.makeStream()
        // The consumer runs in its own task, like a request handler; cancelling it is what a
        // client disconnect does.
        let consumer = Task {
            let r = try await transport.send(UpstreamRequest(url: "http://127.0.0.1:\(port)/v1/chat/completions",
                                                             headers: [("content-type", "application/json")], body: body, timeoutMs: 5000, stream: true))
            sink.yield(r.status)
            var received = 0
            for try await _ in r.body {
                received += 1
                sink.yield(received)
            }
        }
        var iterator = events.makeAsyncIterator()
        #expect(await iterator.next() == 200)
        #expect(await iterator.next() == 1)
        consumer.cancel()
        let deadline = ContinuousClock.now + .seconds(5)
        while upstream.currentStats.cancelled == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(upstream.currentStats.cancelled == 1)
        transport.shutdown()
        await upstream.shutdown()
    }

    @Test func classifiesConnectErrorsAndTimeouts() async throws {
        let transport = CurlTransport()
        await #expect { try await transport.send(UpstreamRequest(url: "http://127.0.0.1:9/x", headers: [], body: [], timeoutMs: 2000, stream: false)) }
            throws: { ($0 as? UpstreamError)?.kind == .connectError }
        let upstream = MockUpstreamServer()
        var b = MockUpstreamServer.Behavior()
        b.hang = true
        upstream.setBehavior(b)
        let port = try await upstream.start()
        await #expect { try await transport.send(UpstreamRequest(url: "http://127.0.0.1:\(port)/v1/chat/completions", headers: [],
                                                                 body: Array("{}".utf8), timeoutMs: 200, stream: false)) }
            throws: { ($0 as? UpstreamError)?.kind == .timeout }
        transport.shutdown()
        await upstream.shutdown()
    }

    /// An upstream on a real socket that answers every request with `total` bytes, as one JSON
    /// body or as a fast chunked stream; `produced` counts what its handler has written so far.
    final class BigUpstream: Sendable {
        final class Counter: Sendable {
            let value = Atomic<Int>(0)
        }
        let server: HTTPServer
        private let produced = Counter()
        var producedBytes: Int { produced.value.load(ordering: .relaxed) }

        init(total: Int, stream: Bool) throws {
            let produced = self.produced
            server = try HTTPServer(configuration: .init(host: "127.0.0.1", port: 0)) { _, w in
                let chunk = [UInt8](repeating: 0x61, count: 64 * 1024)
                if !stream {
                    w.respond(status: 200, headers: HTTPHeaders([("content-type", "application/json")]), body: [UInt8](repeating: 0x61, count: total))
                    return
                }
                w.startStream(status: 200, headers: HTTPHeaders([("content-type", "text/event-stream")]))
                var sent = 0
                while sent < total, !w.isClientGone {
                    await w.writeChunk(chunk)
                    sent += chunk.count
                    produced.value.add(chunk.count, ordering: .relaxed)
                }
                w.endStream()
            }
        }
    }

    @Test func aBodyPastMaxResponseBytesStopsTheTransfer() async throws {
        let up = try BigUpstream(total: 8 << 20, stream: false)
        let port = try await up.server.start()
        let transport = CurlTransport()
        await #expect { try await transport.send(UpstreamRequest(url: "http://127.0.0.1:\(port)/x", headers: [], body: Array("{}".utf8),
                                                                 timeoutMs: 5000, stream: false, maxResponseBytes: 1 << 20)) }
            throws: { ($0 as? UpstreamError)?.kind == .responseTooLarge }
        transport.shutdown()
        await up.server.shutdown()
    }

    @Test func aStreamPausesWhileItsConsumerFallsBehindAndResumes() async throws {
        let total = 48 << 20
        let up = try BigUpstream(total: total, stream: true)
        let port = try await up.server.start()
        let transport = CurlTransport()
        var request = UpstreamRequest(url: "http://127.0.0.1:\(port)/x", headers: [], body: Array("{}".utf8), timeoutMs: 10_000, stream: true)
        request.pausesForConsumer = true
        let r = try await transport.send(request)
        var iterator = r.body.makeAsyncIterator()
        var received = 0
        // Take chunks without passing them on: the transfer pauses about a megabyte in, and the
        // upstream's own writer stops once the sockets between are full.
        while received < 512 << 10, let chunk = try await iterator.next() { received += chunk.count }
        let deadline = ContinuousClock.now + .seconds(5)
        var last = -1
        while ContinuousClock.now < deadline {
            let (_, queued, _) = await up.server.bufferedBytes()
            if queued > HTTPResponseWriter.lowWatermark, up.producedBytes == last { break }
            last = up.producedBytes
            await Task.yield()
        }
        #expect(up.producedBytes < total / 2, "the upstream wrote \(up.producedBytes) of \(total) bytes to a paused transfer")
        // Pass everything on: the transfer resumes and the whole body arrives.
        r.consumed(received)
        while let chunk = try await iterator.next() {
            received += chunk.count
            r.consumed(chunk.count)
        }
        #expect(received == total)
        transport.shutdown()
        await up.server.shutdown()
    }
}
