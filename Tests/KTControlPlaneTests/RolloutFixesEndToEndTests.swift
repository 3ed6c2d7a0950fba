import Foundation
import Testing
import KTModel
import KTTestSupport

/// Rollout bugs found while making storage strict, each against real gateways.
@Suite(.serialized) struct RolloutFixesEndToEndTests {
    func status(_ h: FleetHarness, _ id: String) async throws -> JSONValue { try await h.json(["rollout", "status", id]) }

    func waitFor(_ h: FleetHarness, _ id: String, _ wanted: Set<String>, timeout: Duration = .seconds(20)) async throws -> JSONValue {
        try await FleetHarness.eventually("rollout \(id) in \(wanted.sorted())", timeout: timeout) { () throws -> JSONValue? in
            let s = try await status(h, id)
            return wanted.contains(s["status"]?.stringValue ?? "") ? s : .none
        }
    }

    func gatewayConfig(_ h: FleetHarness, _ id: String) async throws -> JSONValue {
        try await h.json(["gateway", "show", id])["config"] ?? .null
    }

    @Test func resumeAfterANackPushesAgainAndTheGatewayRetries() async throws {
        let h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        let (gw, _) = try await h.gateway("gw-a", heartbeat: "300ms")
        defer { gw.signal(SIGKILL) }
        // A config whose secret file does not exist yet: the gateway rejects it (NACK).
        let keyFile = h.dir + "/provider-key"
        let config = h.dir + "/needs-key.yaml"
        try """
            pack: { name: fleet-demo, version: 2.0.0 }
            providers:
              targets:
                - { id: remote, provider: openai-compatible, model: gpt-5.4-mini, base_url: "http://127.0.0.1:9/v1", secret_key_ref: { file: "\(keyFile)" } }
            policies: { chain: [] }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let started = try await h.json(["config", "push", "--file", config, "--gateway", "gw-a", "--source", "fleet", "--confirm", "--detach",
                                         "--health-window", "0s", "--min-requests", "0"])
        let id = try #require(started["id"]?.stringValue)
        let failed = try await waitFor(h, id, ["failed"])
        #expect(failed["reason"]?.stringValue?.contains("NACK") == true, "\(failed.serialized())")

        // The operator fixes the cause and resumes: the config is offered again and applied.
        try "sk-test-key".write(toFile: keyFile, atomically: true, encoding: .utf8)
        #expect(try await h.kt(["rollout", "resume", id]).status == 0)
        let done = try await waitFor(h, id, ["succeeded", "failed"])
        #expect(done["status"]?.stringValue == "succeeded", "resume failed on the stale NACK: \(done.serialized())")
        let state = try await gatewayConfig(h, "gw-a")
        #expect(state["applied_sha"]?.stringValue == started["sha"]?.stringValue)
        #expect(state["last_nack"] == .null)
    }

    @Test func aPushOverlappingAnActiveRolloutIsRefusedNamingIt() async throws {
        let h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        let (a, _) = try await h.gateway("gw-a", heartbeat: "300ms")
        let (b, _) = try await h.gateway("gw-b", heartbeat: "300ms")
        defer { for p in [a, b] { p.signal(SIGKILL) } }
        _ = try await FleetHarness.eventually("two gateways") { () throws -> Bool? in
            try await h.json(["gateway", "list"])["gateways"]?.arrayValue?.count == 2 ? true : nil
        }
        let before = try await gatewayConfig(h, "gw-b")["applied_sha"]
        // gw-a is held by a rollout that waits for traffic that never comes.
        let held = try await h.json(["config", "push", "--file", Fixtures.path("fleet/good.yaml"), "--gateway", "gw-a", "--source", "fleet",
                                     "--confirm", "--detach", "--health-window", "200ms", "--min-requests", "1000"])
        let heldID = try #require(held["id"]?.stringValue)
        _ = try await waitFor(h, heldID, ["paused"])
        let overlap = try await h.kt(["config", "push", "--file", Fixtures.path("fleet/too-strict.yaml"), "--gateway", "gw-*", "--source", "fleet",
                                      "--confirm", "--health-window", "0s", "--min-requests", "0"])
        #expect(overlap.status != 0)
        #expect(overlap.stderr.contains(heldID) && overlap.stderr.contains("gw-a"), "\(overlap.stderr)")
        // Nothing was pushed to the gateway that did not overlap either.
        #expect(try await gatewayConfig(h, "gw-b")["applied_sha"] == before)
        #expect(try await gatewayConfig(h, "gw-b")["desired_sha"] == .null)
    }

    @Test func anAckMustNameTheFullSha() async throws {
        let h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        let token = try await h.createToken(role: "gateway", gatewayID: "gw-x")
        let (registered, _) = await h.send("POST", "/v1/gateways/register", token: token, body: #"{"id":"gw-x","name":"gw-x"}"#)
        #expect(registered == 200)
        for short in ["a", "0123456789ab"] {
            let (status, body) = await h.send("POST", "/v1/gateways/gw-x/config/ack", token: token, body: #"{"version":"v","sha":"\#(short)","status":"applied"}"#)
            #expect(status == 400 && body.contains("full sha"), "\(short): \(status) \(body)")
        }
    }

    @Test func rollbackRestoresTheConfigSourceAnAdoptMoved() async throws {
        let h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        let (gw, _) = try await h.gateway("gw-a", heartbeat: "300ms")
        defer { gw.signal(SIGKILL) }
        let first = try await h.kt(["config", "push", "--file", Fixtures.path("fleet/good.yaml"), "--gateway", "gw-a", "--source", "team-a",
                                    "--confirm", "--health-window", "0s", "--min-requests", "0"])
        #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
        #expect(try await gatewayConfig(h, "gw-a")["source"]?.stringValue == "team-a")
        let goodSHA = try await gatewayConfig(h, "gw-a")["applied_sha"]
        let adopted = try await h.json(["config", "push", "--file", Fixtures.path("fleet/too-strict.yaml"), "--gateway", "gw-a", "--source", "team-b",
                                        "--adopt", "--confirm", "--detach", "--health-window", "0s", "--min-requests", "0"])
        let id = try #require(adopted["id"]?.stringValue)
        _ = try await waitFor(h, id, ["succeeded"])
        #expect(try await gatewayConfig(h, "gw-a")["source"]?.stringValue == "team-b")
        // The CLI follows the rollback to its end and exits 0 when it rolled back.
        let rollback = try await h.kt(["rollout", "rollback", id])
        #expect(rollback.status == 0, "\(rollback.stdout)\(rollback.stderr)")
        #expect(!rollback.stdout.contains("is waiting"))
        _ = try await waitFor(h, id, ["rolled_back"])
        let back = try await gatewayConfig(h, "gw-a")
        #expect(back["applied_sha"] == goodSHA)
        #expect(back["source"]?.stringValue == "team-a", "rollback left the gateway on the adopted source: \(back.serialized())")
    }

    /// Right after a control-plane restart every gateway looks offline (its last heartbeat is
    /// from before); a resumed rollout that pushes then waits for it to reconnect instead of
    /// failing the batch as "offline".
    @Test func aPushRightAfterARestartWaitsForTheGatewayToReconnect() async throws {
        var h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        let (a, _) = try await h.gateway("gw-a", heartbeat: "300ms")
        let (b, _) = try await h.gateway("gw-b", heartbeat: "300ms")
        defer { for p in [a, b] { p.signal(SIGCONT); p.signal(SIGKILL) } }
        _ = try await FleetHarness.eventually("two gateways") { () throws -> Bool? in
            try await h.json(["gateway", "list"])["gateways"]?.arrayValue?.count == 2 ? true : nil
        }
        let started = try await h.json(["config", "push", "--file", Fixtures.path("fleet/good.yaml"), "--gateway", "gw-*", "--source", "fleet",
                                         "--confirm", "--detach", "--strategy", "rolling", "--batch-size", "1", "--health-window", "0s",
                                         "--pause-between", "2s", "--min-requests", "0"])
        let id = try #require(started["id"]?.stringValue)
        _ = try await FleetHarness.eventually("the pause after batch 1") { () throws -> Bool? in
            try await h.json(["rollout", "status", id])["status"]?.stringValue == "pausing" ? true : nil
        }
        // The control plane dies during the pause; gw-b is frozen while it comes back.
        h.cp.signal(SIGKILL)
        _ = await h.cp.waitForExit()
        b.signal(SIGSTOP)
        let (cp2, port2, _) = try await ChildProcess.controlPlane(dataDir: h.dir + "/cp", port: h.port)
        h.cp = cp2
        h.port = port2
        // Batch 2 starts while gw-b is still frozen; then gw-b wakes up and reconnects.
        _ = try await FleetHarness.eventually("batch 2 pushing", timeout: .seconds(20)) { () throws -> Bool? in
            let log = try await h.json(["rollout", "status", id])["log"]?.arrayValue ?? []
            return log.contains { $0["text"]?.stringValue?.hasPrefix("batch 2/2") == true } ? true : nil
        }
        b.signal(SIGCONT)
        let done = try await FleetHarness.eventually("the rollout ends", timeout: .seconds(30)) { () throws -> JSONValue? in
            let s = try await h.json(["rollout", "status", id])
            return ["succeeded", "failed", "rolled_back"].contains(s["status"]?.stringValue ?? "") ? s : .none
        }
        #expect(done["status"]?.stringValue == "succeeded", "\(done["reason"] ?? .null)")
    }
}
