import Foundation
import Synchronization
import Testing
import KTModel
import KTTestSupport

/// Paced traffic like a real client mix: `perSecond` requests a second per gateway, one in
/// twenty an injection attempt (blocked by the quick-launch chain).
final class PacedTraffic: Sendable {
    private let running = Atomic<Bool>(true)

    init(ports: [Int], perSecond: Double, text: String) {
        for port in ports {
            let thread = Thread { [self] in
                var i = 0
                let period = 1 / perSecond
                var next = Date().timeIntervalSince1970
                while running.load(ordering: .relaxed) {
                    _ = FleetHarness.chat(port: port, i % 20 == 7 ? FleetHarness.injection : "\(text) \(i)")
                    i += 1
                    next += period
                    let wait = next - Date().timeIntervalSince1970
                    if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
                }
            }
            thread.start()
        }
    }

    func stop() { running.store(false, ordering: .relaxed) }
}

@Suite(.serialized) struct RolloutJudgeEndToEndTests {
    func config(_ h: FleetHarness, version: String, dlp: Bool = false) throws -> String {
        let path = h.dir + "/config-\(version)\(dlp ? "-dlp" : "").yaml"
        try """
            pack: { name: fleet-judge, version: \(version) }
            providers:
              targets:
                - { id: mock-primary, provider: mock, model: gpt-5.4-mini, mock: { latency_ms: 0, failure_rate: 0.01 } }
            policies:
              chain: [prompt-injection\(dlp ? ", dlp-filter" : "")]
            policy:
              prompt-injection: { threshold: 0.8, action: block }
            \(dlp ? "  dlp-filter: { blocked_terms: [question], action: block }" : "")
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Ordinary traffic (5 % blocked, 1 % upstream errors): pushes that change nothing all pass;
    /// a DLP term that blocks ordinary questions is rolled back in its first batch, and the verdict
    /// names the control cohort and the effect; `kt rollout analyze` reproduces it.
    @Test func noOpPushesPassAndABlockingTermRollsBackInTheFirstBatch() async throws {
        let h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        let base = try config(h, version: "1.0.0")
        var gateways: [ChildProcess] = [], ports: [Int] = []
        for id in ["gw-a", "gw-b", "gw-c"] {
            let (p, port) = try await h.gateway(id, heartbeat: "300ms", config: base)
            gateways.append(p)
            ports.append(port)
        }
        defer { for p in gateways { p.signal(SIGKILL) } }
        _ = try await FleetHarness.eventually("three gateways") { () throws -> Bool? in
            try await h.json(["gateway", "list"])["gateways"]?.arrayValue?.count == 3 ? true : nil
        }
        let traffic = PacedTraffic(ports: ports, perSecond: 6, text: "a question about the weather")
        defer { traffic.stop() }
        let push = ["--gateway", "gw-*", "--source", "fleet", "--confirm", "--strategy", "rolling", "--batch-size", "1",
                    "--pause-between", "0s", "--health-window", "3s", "--min-requests", "10", "--rollback-on-error"]
        for v in ["1.0.1", "1.0.2", "1.0.3"] {
            let r = try await h.kt(["config", "push", "--file", try config(h, version: v)] + push)
            #expect(r.status == 0, "a push that changes nothing failed:\n\(r.stdout)\(r.stderr)")
            #expect(r.stdout.contains("against control cohort") && r.stdout.contains("block rate"), "\(r.stdout)")
            // The last batch has no gateway left to compare with: it says so.
            #expect(r.stdout.contains("own pre-push baseline"), "\(r.stdout)")
        }

        let bad = try await h.kt(["config", "push", "--file", try config(h, version: "1.1.0", dlp: true), "--json", "--detach"] + push)
        let id = try #require(try JSONValue.parse(bad.stdout)["id"]?.stringValue, "\(bad.stdout)\(bad.stderr)")
        let done = try await FleetHarness.eventually("the rollback", timeout: .seconds(30)) { () throws -> JSONValue? in
            let s = try await h.json(["rollout", "status", id])
            return ["rolled_back", "succeeded", "failed"].contains(s["status"]?.stringValue ?? "") ? s : .none
        }
        #expect(done["status"]?.stringValue == "rolled_back", "\(done["reason"] ?? .null)")
        #expect(done["pushed"]?.arrayValue?.count == 1, "rolled back in its first batch: \(done["pushed"] ?? .null)")
        let verdict = try #require(done["verdicts"]?.arrayValue?.last)
        #expect(verdict["outcome"] == "fail")
        #expect(verdict["against"]?.stringValue?.contains("control cohort gw-b, gw-c") == true, "\(verdict["against"] ?? .null)")
        let block = try #require(verdict["metrics"]?.arrayValue?.first { $0["metric"] == "block_rate" })
        #expect(block["outcome"] == "fail" && (block["effect"]?.doubleValue ?? 0) > 0.5, "\(block.serialized())")
        #expect(block["text"]?.stringValue?.contains("points, 95 % CI") == true)

        // The post-mortem: the stored samples judged again, as stored and with another margin.
        let analyzed = try await h.json(["rollout", "analyze", id])
        #expect(analyzed["verdicts"]?.arrayValue?.last?["outcome"] == "fail")
        #expect(analyzed["verdicts"]?.arrayValue?.last?["stored_outcome"] == "fail")
        let lenient = try await h.json(["rollout", "analyze", id, "--block-rate-margin", "100"])
        #expect(lenient["verdicts"]?.arrayValue?.last?["metrics"]?.arrayValue?.first?["outcome"] == "pass")
    }
}
