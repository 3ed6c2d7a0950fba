import Foundation
import Testing
import KTModel
@testable import KTControlPlane

/// The control plane's doctor judgements, without I/O.
@Suite struct FleetDoctorTests {
    static func state(lastSeenAgo: Double? = 1, interval: Double = 10, version: String = KTVersion.current,
                      desired: ConfigRef? = nil, applied: ConfigRef? = ConfigRef(version: "prod-v1", sha: String(repeating: "a", count: 64)),
                      nack: ConfigNack? = nil, skew: Double? = nil, dropped: Int = 0) -> FleetDoctor.GatewayState {
        FleetDoctor.GatewayState(id: "gw-1", name: "gw-1", region: "eu", version: version, lastSeenAgo: lastSeenAgo, intervalSeconds: interval,
                                 desired: desired, applied: applied, nack: nack, reportedStatus: "healthy", clockSkewSeconds: skew, eventsDropped: dropped)
    }

    static let v1 = ConfigRef(version: "prod-v1", sha: String(repeating: "a", count: 64))
    static let v2 = ConfigRef(version: "prod-v2", sha: String(repeating: "b", count: 64))

    @Test func heartbeatFreshLateOfflineAndNever() {
        #expect(FleetDoctor.heartbeat(Self.state(lastSeenAgo: 5)).status == .ok)
        #expect(FleetDoctor.heartbeat(Self.state(lastSeenAgo: 20)).status == .warn)
        let offline = FleetDoctor.heartbeat(Self.state(lastSeenAgo: 31))
        #expect(offline.status == .fail)
        #expect(offline.message.hasPrefix("offline"))
        #expect(offline.hint != nil)
        #expect(FleetDoctor.heartbeat(Self.state(lastSeenAgo: nil)).status == .fail)
        #expect(FleetDoctor.heartbeat(Self.state(lastSeenAgo: 1, dropped: 3)).status == .warn)
    }

    @Test func configDriftNackAndRollouts() {
        #expect(FleetDoctor.config(Self.state(desired: Self.v1), rollout: nil).status == .ok)
        #expect(FleetDoctor.config(Self.state(desired: nil), rollout: nil).message.contains("no config pushed"))
        let drift = FleetDoctor.config(Self.state(desired: Self.v2), rollout: nil)
        #expect(drift.status == .fail)
        #expect(drift.message.hasPrefix("drift: runs prod-v1"))
        #expect(FleetDoctor.config(Self.state(desired: Self.v2), rollout: ("ro-1", "watching")).status == .warn)
        let stuck = FleetDoctor.config(Self.state(desired: Self.v2), rollout: ("ro-1", "failed"))
        #expect(stuck.status == .fail)
        #expect(stuck.hint?.contains("kt rollout rollback ro-1") == true)
        let rejected = ConfigNack(version: "prod-v2", sha: Self.v2.sha, error: "dlp-filter: bad pattern", at: 0)
        let nacked = FleetDoctor.config(Self.state(desired: Self.v2, nack: rejected), rollout: nil)
        #expect(nacked.status == .fail)
        #expect(nacked.message.contains("dlp-filter: bad pattern"))
        // A NACK of a version no longer desired is history: reported, not failed.
        let old = FleetDoctor.config(Self.state(desired: Self.v1, nack: rejected), rollout: nil)
        #expect(old.status == .ok)
        #expect(old.message.contains("last NACK: prod-v2"))
        // Short and full shas name the same config.
        #expect(FleetDoctor.config(Self.state(desired: ConfigRef(version: "prod-v1", sha: String(Self.v1.sha.prefix(12)))), rollout: nil).status == .ok)
    }

    @Test func versionSkew() {
        #expect(FleetDoctor.version(Self.state(version: "1.4.2"), controlPlane: "1.4.2").status == .ok)
        #expect(FleetDoctor.version(Self.state(version: "1.3.9"), controlPlane: "1.4.2").status == .warn)
        #expect(FleetDoctor.version(Self.state(version: "1.4.3"), controlPlane: "1.4.2").status == .warn)
        #expect(FleetDoctor.version(Self.state(version: "0.9.0"), controlPlane: "1.4.2").status == .fail)
        #expect(FleetDoctor.version(Self.state(version: ""), controlPlane: "1.4.2").status == .warn)
    }

    @Test func clockSkewThresholdsAndSources() {
        #expect(FleetDoctor.clock(Self.state(), measured: 0.3).status == .ok)
        #expect(FleetDoctor.clock(Self.state(), measured: -5).status == .warn)
        let fast = FleetDoctor.clock(Self.state(), measured: 45)
        #expect(fast.status == .fail)
        #expect(fast.message.contains("45.0s ahead of"))
        #expect(FleetDoctor.clock(Self.state(skew: -40), measured: nil).message.contains("behind"))
        // The fresh measurement wins over the heartbeat's.
        #expect(FleetDoctor.clock(Self.state(skew: -40), measured: 0.1).status == .ok)
        #expect(FleetDoctor.clock(Self.state(skew: nil), measured: nil).status == .skip)
    }

    @Test func checkJSONRoundTripsWithStableKeys() throws {
        let c = DoctorCheck("upstream", .fail, "down", hint: "fix it", target: "primary", latencyMs: 12.345)
        #expect(c.json.objectValue?.map(\.0) == ["check", "target", "status", "message", "hint", "latency_ms"])
        #expect(c.json["latency_ms"] == .double(12.3))
        let back = try #require(DoctorCheck(json: c.json))
        #expect(back.status == .fail && back.target == "primary" && back.hint == "fix it")
        // An ok check carries no hint.
        #expect(DoctorCheck("clock", .ok, "in sync", hint: "ignored").hint == nil)
        #expect([DoctorCheck.Status.ok, .skip, .fail, .warn].max() == .fail)
    }
}
