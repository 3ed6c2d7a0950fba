import Foundation
import Testing
import KTTestSupport

/// Memory a client can make the gateway hold, measured on a real gateway process (VmRSS).
@Suite(.serialized) struct GatewayMemoryBoundTests {
    static let limit = 150 << 20

    /// `/healthz` with a generous read timeout: the suite runs other heavy tests beside these.
    static func healthz(port: Int) async -> Int? {
        await onThread {
            guard let c = try? RawClient(port: port, timeoutSeconds: 20) else { return nil }
            c.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            return c.readResponse()?.status
        }
    }

    func mockConfig(reply: String? = nil, latencyMs: Int = 0) throws -> String {
        let mock = reply.map { #"{ latency_ms: \#(latencyMs), response: "\#($0)" }"# } ?? "{ latency_ms: \(latencyMs) }"
        let yaml = """
            pack: { name: memory, version: 1.0.0 }
            providers:
              targets:
                - { id: mock, provider: mock, model: gpt-test, mock: \(mock) }
            policies: { chain: [] }
            """
        let path = (try Fixtures.tempDir() as NSString).appendingPathComponent("config.yaml")
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func fourHundredMegabytesPipelinedBehindASlowRequest() async throws {
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", try mockConfig(latencyMs: 10_000), "--log-level", "warn"])
        defer { gw.signal(SIGKILL) }
        let pid = gw.process.processIdentifier
        let before = residentBytes(pid: pid)
        let request = "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: \(chatBody.utf8.count)\r\n\r\n\(chatBody)"
        let sent: Int = await onThread {
            guard let c = try? RawClient(port: port, timeoutSeconds: 2, sendTimeoutSeconds: 2) else { return -1 }
            c.send(request)
            // 400 MB of further requests; the send gives up once the gateway has stopped reading.
            let chunk = Array(String(repeating: request, count: max(1, (1 << 20) / request.utf8.count)).utf8)
            var total = 0
            for _ in 0..<400 {
                let n = c.send(chunk)
                total += n
                if n < chunk.count { break }
            }
            return total
        }
        let after = residentBytes(pid: pid)
        #expect(sent > 0)
        #expect(sent < 64 << 20, "the gateway took \(sent) bytes of pipelined input")
        #expect(after - before < Self.limit, "RSS grew by \((after - before) >> 20) MB")
    }

    @Test func twentyClientsThatNeverReadTwoHundredAnswers() async throws {
        let reply = String(repeating: "lorem ipsum ", count: 20_000)   // about 240 KB per answer
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", try mockConfig(reply: reply), "--log-level", "warn"])
        defer { gw.signal(SIGKILL) }
        let pid = gw.process.processIdentifier
        let before = residentBytes(pid: pid)
        // Streamed answers: each one is written as fast as the mock produces it.
        let request = "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: \(streamBody.utf8.count)\r\n\r\n\(streamBody)"
        let pipeline = String(repeating: request, count: 200)
        let clients: [RawClient] = await onThread { (0..<20).compactMap { _ in try? RawClient(port: port, sendTimeoutSeconds: 2) } }
        await onThread { for c in clients { c.send(pipeline) } }
        // Unbounded, each stream (240 KB of text, about 2 MB of SSE) would be queued whole; sample for 3 s.
        var peak = before
        let deadline = ContinuousClock.now + .seconds(3)
        while ContinuousClock.now < deadline {
            peak = max(peak, residentBytes(pid: pid))
            _ = await RawClient.get(port: port, path: "/healthz")
        }
        #expect(peak - before < Self.limit, "RSS grew by \((peak - before) >> 20) MB")
        // Still serving (a generous timeout: the suite runs other heavy tests beside this one).
        let alive = await Self.healthz(port: port)
        #expect(alive == 200)
        for c in clients { c.close() }
    }

    /// 400 clients each send all but the last bytes of a body at the 1 MB limit and stall: each
    /// is within the limit, their sum (400 MB) is not. The gateway refuses the stalest with 503.
    @Test func fourHundredStalledMegabyteBodies() async throws {
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", try mockConfig(), "--log-level", "warn"])
        defer { gw.signal(SIGKILL) }
        let pid = gw.process.processIdentifier
        let before = residentBytes(pid: pid)
        let size = 1_000_000
        let head = Array("POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: \(size)\r\n\r\n".utf8)
        let partial = head + Array(#"{"model":"gpt-test","messages":[{"role":"user","content":""#.utf8) + [UInt8](repeating: 97, count: size - 100)
        let clients: [RawClient] = await onThread {
            (0..<400).compactMap { _ in
                guard let c = try? RawClient(port: port, timeoutSeconds: 5, sendTimeoutSeconds: 5) else { return nil }
                c.send(partial)
                return c
            }
        }
        #expect(clients.count == 400)
        // Sample while the gateway reads what was sent (it is all in its socket buffers by now).
        var peak = before
        let deadline = ContinuousClock.now + .seconds(2)
        while ContinuousClock.now < deadline {
            peak = max(peak, residentBytes(pid: pid))
            _ = await RawClient.get(port: port, path: "/healthz")
        }
        #expect(peak - before < Self.limit, "RSS grew by \((peak - before) >> 20) MB")
        let refused: Int = await onThread { clients.prefix(50).filter { $0.readResponse()?.status == 503 }.count }
        #expect(refused > 0, "the stalest partial requests should have been refused")
        let metrics = await RawClient.get(port: port, path: "/metrics")?.text ?? ""
        let shedLine = metrics.split(separator: "\n").first { $0.hasPrefix("kt_http_partial_requests_shed_total ") }
        #expect((shedLine.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0) >= Double(refused), "\(shedLine ?? "no shed counter")")
        let alive = await Self.healthz(port: port)
        #expect(alive == 200)
        for c in clients { c.close() }
    }

    @Test func sixThousandIdleConnectionsDoNotLockANewClientOut() async throws {
        #expect(raiseDescriptorLimit() > 6_500, "this machine's descriptor limit is too low for the test")
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", try mockConfig(), "--log-level", "warn"])
        defer { gw.signal(SIGKILL) }
        let idle: [RawClient] = await onThread { (0..<6_000).compactMap { _ in try? RawClient(port: port, timeoutSeconds: 2) } }
        #expect(idle.count >= 5_900)
        let started = ContinuousClock.now
        let status = await Self.healthz(port: port)
        #expect(status == 200)
        #expect(ContinuousClock.now - started < .seconds(2), "a new client waited \(ContinuousClock.now - started)")
        for c in idle { c.close() }
    }
}
