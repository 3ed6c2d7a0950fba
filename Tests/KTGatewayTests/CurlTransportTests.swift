import Foundation
import Testing
import KTTestSupport
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
}
