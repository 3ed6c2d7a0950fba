import Foundation
import Testing
import KTTestSupport

/// Streams through a real gateway with the quick-launch chain: prose is not held back; cards are.
@Suite(.serialized) struct StreamReleaseEndToEndTests {
    func start(reply: String, behavior: String) async throws -> (gw: ChildProcess, port: Int, mock: ChildProcess) {
        let (mock, mport) = try await ChildProcess.mockUpstream()
        await setBehavior(mport, #"{"reply": "\#(reply)", "chunk_chars": 6, \#(behavior)}"#)
        let config = try writePolicyConfig(upstream: mport, chain: "prompt-injection, pii-detector, audit-logger",
                                           policy: "  prompt-injection: { threshold: 0.8, action: block }\n  pii-detector: { action: redact }\n  audit-logger: { retention_days: 30 }\n")
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", config, "--state-dir", try Fixtures.tempDir(), "--log-level", "warn"])
        return (gw, port, mock)
    }

    func curlStream(_ port: Int) throws -> ChildProcess {
        try ChildProcess(["-sS", "-N", "-H", "content-type: application/json", "-d", chat("tell me something", stream: true),
                          "http://127.0.0.1:\(port)/v1/chat/completions"], tool: "curl")
    }

    @Test func theFirstTokenArrivesWhileTheUpstreamIsStillOnItsFirstChunk() async throws {
        // The upstream sends its role chunk and its first text chunk ("Hello "), then stalls: the
        // client can only see that text if the gateway released it without waiting for more.
        let (gw, port, mock) = try await start(reply: "Hello there, this is plain prose with no digits at all.", behavior: #""stall_after_chunks": 2"#)
        defer { gw.signal(SIGKILL); mock.signal(SIGKILL) }
        let curl = try curlStream(port)
        defer { curl.signal(SIGKILL) }
        #expect(await curl.waitForLine(containing: #""content":"Hello "#, timeout: .seconds(15)) != nil, "\(curl.output.suffix(3))")
    }

    @Test func aCardSplitOverThreeChunksIsRedactedAndNeverReleasedRaw() async throws {
        let (gw, port, mock) = try await start(reply: "Your card 4111 1111 1111 1111 is on file.", behavior: #""chunk_delay_ms": 5"#)
        defer { gw.signal(SIGKILL); mock.signal(SIGKILL) }
        let curl = try curlStream(port)
        #expect(await curl.waitForExit(timeout: .seconds(20)) == 0)
        let contents = curl.output.compactMap { line -> String? in
            guard line.hasPrefix("data: {"), let o = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: Any] else { return nil }
            return ((o["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String
        }
        let text = contents.joined()
        #expect(text == "Your card [CREDIT_CARD] is on file.", "\(contents)")
        #expect(!curl.output.joined().contains("1111"))
        #expect(curl.output.contains { $0.contains("[DONE]") })
    }
}
