import Foundation
import Testing
import KTModel
import KTTestSupport
@testable import KTControlPlane

/// A rollout judges a config on its own requests: traffic that ran under the previous config (a
/// rolled-back one, say) but arrived in a later heartbeat is not the pushed config's. Once it
/// was: a canary of a good config failed on a rolled-back config's blocks.
@Suite struct ConfigAttributedTrafficTests {
    static let old = String(repeating: "a", count: 64), new = String(repeating: "b", count: 64)

    static func sample(requests: Int, blocked: Int) -> TrafficSample {
        var s = TrafficSample()
        for i in 0..<requests { s.record(status: i < blocked ? 409 : 200, verdict: i < blocked ? "block" : "allow", latencyMs: 2, overheadMs: 1) }
        return s
    }

    @Test func theCanaryWindowCountsOnlyThePushedConfigsTraffic() async throws {
        let store = try ControlPlaneStore(path: try Fixtures.tempDir() + "/kt.db")
        let persistence = GatewayPersistence(store: store, logger: { _ in })
        let g = ManagedGateway(id: "gw-1", registeredAt: 0, persistence: persistence, now: { Date().timeIntervalSince1970 })
        _ = try await g.register(RegistrationRequest(name: "gw-1", labels: [], running: ConfigRef(version: "v1", sha: Self.old), source: "local"))
        var beat = HeartbeatMessage(status: "healthy", config: RunningConfigReport(version: "v2", sha: Self.new),
                                    traffic: Self.sample(requests: 20, blocked: 1))
        beat.earlierTraffic = [.init(sha: Self.old, traffic: Self.sample(requests: 10, blocked: 10))]
        await g.heartbeat(beat, running: nil)
        let t = Date().timeIntervalSince1970 + 1
        let pushed = await g.window(60, at: t, configSHA: Self.new)
        #expect(pushed.requests == 20 && pushed.blocked == 1)
        // A prefix names the same config; everything else still sees all of it.
        #expect(await g.window(60, at: t, configSHA: String(Self.new.prefix(12))).requests == 20)
        let all = await g.window(60, at: t)
        #expect(all.requests == 30 && all.blocked == 11)
        // Stored with the config it ran under, and read back so after a restart.
        await persistence.flush()
        let row = try #require(try store.loadGateways().first)
        let restored = ManagedGateway(id: "gw-1", registeredAt: 0, persistence: persistence, now: { Date().timeIntervalSince1970 })
        await restored.restore(row.record, lastSeen: row.lastSeen, revision: row.revision, samples: row.samples)
        #expect(await restored.window(60, at: t, configSHA: Self.new).requests == 20)
        #expect(await restored.window(60, at: t).requests == 30)
        store.close()
    }

    @Test func earlierTrafficIsStrictOnTheWire() throws {
        var beat = HeartbeatMessage(status: "healthy", traffic: Self.sample(requests: 3, blocked: 0))
        beat.earlierTraffic = [.init(sha: Self.old, traffic: Self.sample(requests: 2, blocked: 2))]
        #expect(try HeartbeatMessage(json: beat.json) == beat)
        func error(_ body: String) -> String? {
            guard let j = try? JSONValue.parse(body) else { return "not JSON" }
            do throws(BoundedFieldError) { _ = try HeartbeatMessage(json: j); return nil } catch { return error.message }
        }
        #expect(error(#"{"earlier_traffic":[]}"#) == nil && error(#"{"earlier_traffic":null}"#) == nil)
        #expect(error(#"{"earlier_traffic":{"sha":"x"}}"#)?.contains("must be an array") == true)
        #expect(error(#"{"earlier_traffic":[{"sha":"\#(Self.old.dropLast())\u0007","traffic":{"requests":1}}]}"#) != nil)
        #expect(error(#"{"earlier_traffic":[{"sha":"\#(Self.old)","traffic":{"requests":9223372036854775807}}]}"#) != nil)
        #expect(error(#"{"earlier_traffic":[{"sha":"abc","traffic":{"requests":1}}]}"#) != nil)
        #expect(error(#"{"earlier_traffic":[{"sha":"\#(Self.old)","traffic":{"requests":-1}}]}"#) != nil)
        let nine = (0..<9).map { _ in #"{"sha":"\#(Self.old)","traffic":{"requests":1}}"# }.joined(separator: ",")
        #expect(error(#"{"earlier_traffic":[\#(nine)]}"#)?.contains("at most 8") == true)
    }
}
