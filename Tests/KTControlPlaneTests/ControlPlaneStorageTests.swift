import Foundation
import Synchronization
import Testing
import KTModel
import KTTestSupport
@testable import KTControlPlane

/// The control plane stores before it answers: versioned gateway rows, file modes, and a data
/// disk that fills up under a running rollout.
@Suite(.serialized) struct ControlPlaneStorageTests {
    /// An action a test runs once inside the persistence's lost-update window.
    final class OnceHook: Sendable {
        let action = Mutex<(@Sendable () async -> Void)?>(nil)
        func run() async {
            if let a = action.withLock({ $0.take() }) { await a() }
        }
    }

    /// A heartbeat flush that took its batch before a config change was saved must not write
    /// its older copy of the record over the change (it did: after a restart, desired reverted).
    @Test func aHeartbeatFlushNeverOverwritesANewerConfigState() async throws {
        let path = try Fixtures.tempDir() + "/kt.db"
        let store = try ControlPlaneStore(path: path)
        let hook = OnceHook()
        let persistence = GatewayPersistence(store: store, logger: { _ in }, afterFlushTake: { await hook.run() })
        let g = ManagedGateway(id: "gw-1", registeredAt: 0, persistence: persistence, now: { Date().timeIntervalSince1970 })
        _ = try await g.register(RegistrationRequest(name: "gw-1", labels: [], running: ConfigRef(version: "v1", sha: String(repeating: "a", count: 64)), source: "local"))
        await g.heartbeat(HeartbeatMessage(status: "healthy"), running: nil)   // queued: a record with no desired config
        let desired = ConfigRef(version: "fleet-v2", sha: String(repeating: "b", count: 64))
        hook.action.withLock { $0 = { try? await g.setDesired(desired, source: "fleet") } }
        await persistence.flush()
        let row = try #require(try store.loadGateways().first)
        #expect(ConfigRef(json: row.record["config"]?["desired"]) == desired, "the flush overwrote the config change: \(row.record["config"]!.serialized())")
        // And the samples of the flush are still stored.
        #expect(row.samples.count == 1)
        store.close()
    }

    @Test func databaseFilesAndTheAdminTokenAreOwnerOnly() async throws {
        let h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        _ = try await h.createToken(role: "viewer")   // a write, so the WAL exists
        for name in ["kt.db", "kt.db-wal", "kt.db-shm", "admin-token"] {
            let attrs = try FileManager.default.attributesOfItem(atPath: h.dir + "/cp/" + name)
            #expect((attrs[.posixPermissions] as? Int) == 0o600, "\(name): \(String((attrs[.posixPermissions] as? Int) ?? 0, radix: 8))")
        }
    }

    @Test func aFullDataDiskIsA503TheRolloutStopsAndARestartContinuesFromTheStoredState() async throws {
        let disk: ScratchFilesystem
        switch ScratchFilesystem.mount(bytes: 16 << 20) {
        case .success(let d): disk = d
        case .failure(let why): print("skipped: \(why)"); return
        }
        defer { disk.unmount() }
        let data = disk.path + "/cp"
        let (cp, port, admin) = try await ChildProcess.controlPlane(dataDir: data)
        var h = FleetHarness(dir: try Fixtures.tempDir(), cp: cp, port: port, admin: admin)
        defer { h.cp.signal(SIGKILL) }
        let (gw, _) = try await h.gateway("gw-a", heartbeat: "1s")
        defer { gw.signal(SIGKILL) }
        _ = try await FleetHarness.eventually("gw-a registered") { () throws -> Bool? in
            try await h.json(["gateway", "list"])["gateways"]?.arrayValue?.count == 1 ? true : nil
        }
        let config = Fixtures.path("fleet/good.yaml")
        let started = try await h.json(["config", "push", "--file", config, "--gateway", "gw-a", "--source", "fleet", "--confirm", "--detach",
                                         "--health-window", "10s", "--min-requests", "0"])
        let id = try #require(started["id"]?.stringValue)
        _ = try await FleetHarness.eventually("the health window") { () throws -> Bool? in
            try await h.json(["rollout", "status", id])["status"]?.stringValue == "judging" ? true : nil
        }
        disk.fill()

        // Every write is refused with what could not be stored; the CLI exits non-zero and says so.
        let token = try await h.kt(["control-plane", "token", "create", "--role", "viewer"])
        #expect(token.status != 0 && token.stderr.contains("could not store"), "\(token.stdout)\(token.stderr)")
        let (readyStatus, readyBody) = await h.send("GET", "/readyz", token: nil)
        #expect(readyStatus == 503 && readyBody.contains("storage_failed"), "\(readyBody)")
        // The window ends, but its verdict cannot be stored: the rollout stops, never "succeeded".
        let stopped = try await FleetHarness.eventually("the rollout stops", timeout: .seconds(20)) { () throws -> JSONValue? in
            let s = try await h.json(["rollout", "status", id])
            return s["status"]?.stringValue == "succeeded" || s["status"]?.stringValue == "failed" ? s : .none
        }
        #expect(stopped["status"]?.stringValue == "failed" && stopped["reason"]?.stringValue?.contains("cannot store") == true, "\(stopped.serialized())")

        // Killed while the disk is full; the database holds the last state it could store.
        h.cp.signal(SIGKILL)
        _ = await h.cp.waitForExit()
        disk.release()
        let stored = try ControlPlaneStore(path: data + "/kt.db")
        let storedStatus = try #require(try stored.loadRollouts().first { $0.record["id"]?.stringValue == id }?.record["status"]?.stringValue)
        stored.close()
        #expect(["pushing", "judging"].contains(storedStatus), "stored: \(storedStatus)")
        let (cp2, port2, _) = try await ChildProcess.controlPlane(dataDir: data, port: port)
        h.cp = cp2
        h.port = port2
        #expect(await h.send("GET", "/readyz", token: nil).0 == 200)
        let after = try await h.json(["rollout", "status", id])
        #expect(after["status"]?.stringValue != "failed", "after the restart it continues from \(storedStatus): \(after.serialized())")
        var last = JSONValue.null
        let deadline = ContinuousClock.now + .seconds(40)
        while ContinuousClock.now < deadline {
            last = try await h.json(["rollout", "status", id])
            if last["status"]?.stringValue == "succeeded" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let finished = last
        #expect(finished["status"]?.stringValue == "succeeded",
                "after the restart: \(finished["status"] ?? .null) \(finished["reason"] ?? .null); log: \((finished["log"]?.arrayValue ?? []).suffix(6).compactMap { $0["text"]?.stringValue })")
    }
}
