import Foundation
import Synchronization
import Testing
import KTModel
import KTTestSupport

/// Sends chat requests to the gateways until stopped (real traffic for health gates).
final class TrafficLoop: Sendable {
    private let running = Atomic<Bool>(true)

    init(ports: [Int], text: String) {
        let thread = Thread { [self] in
            var i = 0
            while running.load(ordering: .relaxed) {
                _ = FleetHarness.chat(port: ports[i % ports.count], "\(text) \(i)")
                i += 1
                usleep(5_000)
            }
        }
        thread.start()
    }

    func stop() { running.store(false, ordering: .relaxed) }
}

@Suite(.serialized) struct RolloutEndToEndTests {
    static let good = Fixtures.path("fleet/good.yaml")
    static let strict = Fixtures.path("fleet/too-strict.yaml")

    func appliedSHAs(_ h: FleetHarness) async throws -> [String: String] {
        var out: [String: String] = [:]
        for g in try await h.json(["gateway", "list"])["gateways"]?.arrayValue ?? [] {
            out[g["id"]!.stringValue!] = g["config"]?["applied_sha"]?.stringValue
        }
        return out
    }

    func writeConfig(_ h: FleetHarness, _ name: String, _ text: String) throws -> String {
        let path = h.dir + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func previewsRollingCanaryRollbackNackStaleOverlapInconclusive() async throws {
        let h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        let (a, pa) = try await h.gateway("gw-a", heartbeat: "300ms")
        let (b, pb) = try await h.gateway("gw-b", heartbeat: "300ms")
        let (c, pc) = try await h.gateway("gw-c", heartbeat: "300ms")
        defer { for p in [a, b, c] { p.signal(SIGKILL) } }
        let initial = try await FleetHarness.eventually("three gateways") { () throws -> [String: String]? in
            let s = try await appliedSHAs(h)
            return s.count == 3 && s.values.allSatisfy { $0.count == 64 } ? s : .none
        }
        let targets = ["--gateway", "gw-*", "--source", "fleet"]

        // Preview: text (dry-run), JSON and markdown, with the semantic change.
        let preview = try await h.kt(["config", "push", "--file", Self.good, "--dry-run"] + targets)
        #expect(preview.status == 0)
        #expect(preview.stdout.contains("Config Push Preview (dry-run)"))
        #expect(preview.stdout.contains("fleet-v1"))
        #expect(preview.stdout.contains("~ policy.prompt-injection.threshold: 0.8 → 0.7"))
        #expect(preview.stdout.contains("Nothing was pushed"))
        let plan = try await h.json(["config", "push", "--file", Self.good] + targets)
        #expect(plan["targets"]?.arrayValue?.count == 3)
        let planID = try #require(plan["plan_id"]?.stringValue)
        let md = try await h.kt(["config", "push", "--file", Self.good, "--output", "markdown"] + targets)
        #expect(md.stdout.contains("| Gateway | Current | New | Changes |"))
        #expect(try await appliedSHAs(h) == initial, "a preview never changes a gateway")

        // (a) Rolling push in batches of 1 with the plan: succeeds, every gateway on the new sha.
        let rolled = try await h.kt(["config", "push", "--file", Self.good, "--confirm", "--plan", planID, "--strategy", "rolling",
                               "--batch-size", "1", "--pause-between", "0s", "--health-window", "500ms", "--min-requests", "0"] + targets)
        #expect(rolled.status == 0, "\(rolled.stdout)\(rolled.stderr)")
        #expect(rolled.stdout.contains("Rolling Config Update"))
        #expect(rolled.stdout.contains("Batch 3/3"))
        #expect(rolled.stdout.contains("pushed 0.1.0 → fleet-v1"))
        let goodSHA = try #require(plan["sha"]?.stringValue)
        #expect(try await appliedSHAs(h).values.allSatisfy { $0 == goodSHA })

        // (f) The same plan again is stale, and the refusal names what changed.
        let stale = try await h.kt(["config", "push", "--file", Self.good, "--confirm", "--plan", planID] + targets)
        #expect(stale.status == 1)
        #expect(stale.stderr.contains("stale"))
        #expect(stale.stderr.contains("already at this sha"))

        // (b) A config that raises the block rate is rolled back on every updated gateway.
        let traffic = TrafficLoop(ports: [pa, pb, pc], text: "a question for the model")
        let failed = try await h.kt(["config", "push", "--file", Self.strict, "--confirm", "--strategy", "rolling", "--batch-size", "1",
                               "--pause-between", "0s", "--health-window", "1500ms", "--min-requests", "5", "--rollback-on-error"] + targets)
        traffic.stop()
        #expect(failed.status == 1)
        #expect(failed.stdout.contains("health check failed"))
        #expect(failed.stdout.contains("block rate"))
        #expect(failed.stdout.contains("gw-a: restored to fleet-v1"))
        #expect(failed.stdout.contains("rolled_back"))
        let afterRollback = try await FleetHarness.eventually("gateways back on fleet-v1") { () throws -> [String: String]? in
            let s = try await appliedSHAs(h)
            return s.values.allSatisfy { $0 == goodSHA } ? s : .none
        }
        #expect(afterRollback.count == 3)

        // (c) A config the gateways reject (NACK: its secret is missing there) fails the batch and rolls back.
        let needsSecret = try writeConfig(h, "needs-secret.yaml", """
            pack: { name: fleet-demo, version: 1.3.0 }
            providers:
              targets:
                - { id: remote, provider: openai-compatible, model: gpt-5.4-mini, base_url: "http://127.0.0.1:9/v1", secret_key_ref: { env: KT_TEST_SECRET_NOBODY_HAS } }
            policies: { chain: [] }
            """)
        let nacked = try await h.kt(["config", "push", "--file", needsSecret, "--confirm", "--strategy", "rolling", "--batch-size", "1",
                               "--health-window", "0s", "--pause-between", "0s", "--rollback-on-error"] + targets)
        #expect(nacked.status == 1)
        #expect(nacked.stdout.contains("rejected (NACK)"))
        #expect(nacked.stdout.contains("KT_TEST_SECRET_NOBODY_HAS"))
        #expect(try await appliedSHAs(h).values.allSatisfy { $0 == goodSHA })
        let shown = try await h.json(["gateway", "show", "gw-a"])
        #expect(shown["config"]?["last_nack"]?["error"]?.stringValue?.contains("KT_TEST_SECRET_NOBODY_HAS") == true)

        // (e) No traffic: the window is inconclusive and the rollout pauses (never a silent pass).
        let v2 = try writeConfig(h, "v2.yaml", try String(contentsOfFile: Self.good, encoding: .utf8).replacingOccurrences(of: "threshold: 0.7", with: "threshold: 0.75"))
        let detached = try await h.json(["config", "push", "--file", v2, "--confirm", "--detach", "--strategy", "rolling", "--batch-size", "1",
                                   "--health-window", "300ms", "--min-requests", "1000"] + targets)
        let rid = try #require(detached["id"]?.stringValue)
        let paused = try await FleetHarness.eventually("inconclusive pause") { () throws -> JSONValue? in
            let s = try await h.json(["rollout", "status", rid])
            return s["status"]?.stringValue == "paused" ? s : .none
        }
        #expect(paused["reason"]?.stringValue?.contains("inconclusive") == true)

        // (g) An overlapping push is refused, naming the active rollout.
        let overlap = try await h.kt(["config", "push", "--file", Self.strict, "--confirm"] + targets)
        #expect(overlap.status == 1)
        #expect(overlap.stderr.contains(rid))
        let list = try await h.kt(["rollout", "list"])
        #expect(list.stdout.contains(rid) && list.stdout.contains("paused"))
        #expect(try await h.kt(["rollout", "abort", rid]).status == 0)
        #expect(try await h.json(["rollout", "status", rid])["status"]?.stringValue == "aborted")

        // (d) A canary passes and the rest follow.
        let traffic2 = TrafficLoop(ports: [pa, pb, pc], text: "hello")
        let canary = try await h.kt(["config", "push", "--file", v2, "--confirm", "--strategy", "canary", "--canary-duration", "1s",
                               "--health-window", "500ms", "--min-requests", "3"] + targets)
        traffic2.stop()
        #expect(canary.status == 0, "\(canary.stdout)\(canary.stderr)")
        #expect(canary.stdout.contains("Canary Config Update"))
        #expect(canary.stdout.contains("rollout succeeded") || canary.stdout.contains("Rollout succeeded"))
        #expect(Set(try await appliedSHAs(h).values).count == 1)
        #expect(try await appliedSHAs(h)["gw-a"] != goodSHA)
    }

    @Test func controlPlaneKilledMidPauseAndMidRollbackFinishesAfterRestart() async throws {
        var h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        let (a, pa) = try await h.gateway("gw-a", heartbeat: "300ms")
        let (b, _) = try await h.gateway("gw-b", heartbeat: "300ms")
        defer { for p in [a, b] { p.signal(SIGCONT); p.signal(SIGKILL) } }
        _ = try await FleetHarness.eventually("two gateways") { () throws -> Bool? in try await appliedSHAs(h).count == 2 ? true : nil }
        let targets = ["--gateway", "gw-*", "--source", "fleet"]

        // Mid-pause: the pause continues after the restart and the rollout completes.
        let r = try await h.json(["config", "push", "--file", Self.good, "--confirm", "--detach", "--strategy", "rolling", "--batch-size", "1",
                            "--pause-between", "3s", "--health-window", "0s"] + targets)
        let id = try #require(r["id"]?.stringValue)
        _ = try await FleetHarness.eventually("pausing") { () throws -> Bool? in
            try await h.json(["rollout", "status", id])["status"]?.stringValue == "pausing" ? true : nil
        }
        h.cp.signal(SIGKILL)
        _ = await h.cp.waitForExit()
        h.cp = try await ChildProcess.controlPlane(dataDir: h.dir + "/cp", port: h.port).0
        let done = try await FleetHarness.eventually("succeeded after restart", timeout: .seconds(20)) { () throws -> JSONValue? in
            let s = try await h.json(["rollout", "status", id])
            return s["status"]?.stringValue == "succeeded" ? s : .none
        }
        let goodSHA = try #require(done["sha"]?.stringValue)
        #expect(try await appliedSHAs(h).values.allSatisfy { $0 == goodSHA })

        // Mid-rollback: both gateways apply a config that fails its gate; gw-b is then frozen so its
        // rollback ACK stalls, and the control plane dies while rolling back.
        let traffic = TrafficLoop(ports: [pa], text: "a question")
        defer { traffic.stop() }
        let r2 = try await h.json(["config", "push", "--file", Self.strict, "--confirm", "--detach", "--strategy", "all-at-once",
                             "--health-window", "2s", "--min-requests", "3", "--ack-timeout", "6s", "--rollback-on-error"] + targets)
        let id2 = try #require(r2["id"]?.stringValue)
        _ = try await FleetHarness.eventually("judging", timeout: .seconds(20)) { () throws -> Bool? in
            try await h.json(["rollout", "status", id2])["status"]?.stringValue == "judging" ? true : nil
        }
        b.signal(SIGSTOP)
        _ = try await FleetHarness.eventually("rolling back", timeout: .seconds(20)) { () throws -> Bool? in
            try await h.json(["rollout", "status", id2])["status"]?.stringValue == "rolling_back" ? true : nil
        }
        h.cp.signal(SIGKILL)
        _ = await h.cp.waitForExit()
        h.cp = try await ChildProcess.controlPlane(dataDir: h.dir + "/cp", port: h.port).0
        b.signal(SIGCONT)
        let back = try await FleetHarness.eventually("rolled back after restart", timeout: .seconds(30)) { () throws -> JSONValue? in
            let s = try await h.json(["rollout", "status", id2])
            return s["status"]?.stringValue == "rolled_back" ? s : .none
        }
        #expect(back["status"]?.stringValue == "rolled_back")
        let shas = try await FleetHarness.eventually("both on the previous sha") { () throws -> [String: String]? in
            let s = try await appliedSHAs(h)
            return s.values.allSatisfy { $0 == goodSHA } ? s : .none
        }
        #expect(shas.count == 2)
    }
}
