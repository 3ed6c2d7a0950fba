import Foundation
import Synchronization
import Testing
import KTModel
import KTTestSupport
@testable import KTControlPlane

/// A gateway token holder that heartbeats as fast as it can, each heartbeat carrying nine
/// configs' traffic, must not grow the control plane's memory or database without bound, and a
/// well-behaved gateway's samples must stay exactly as they were.
@Suite struct HeartbeatFloodTests {
    final class Clock: Sendable {
        let t = Mutex(Date().timeIntervalSince1970)   // the store prunes samples older than an hour of real time
        func advance(_ s: Double) { t.withLock { $0 += s } }
        var now: Double { t.withLock { $0 } }
    }

    static func sha(_ i: Int) -> String { String(repeating: String(i % 10), count: 64) }

    static func beat(requests: Int, configs: Int) -> HeartbeatMessage {
        var traffic = TrafficSample()
        for i in 0..<requests { traffic.record(status: 200, verdict: "allow", latencyMs: Double(i % 50) + 0.5, overheadMs: 0.2) }
        var b = HeartbeatMessage(status: "healthy", config: RunningConfigReport(version: "v0", sha: sha(0)), traffic: traffic)
        b.earlierTraffic = (1..<configs).map { .init(sha: sha($0), traffic: traffic) }
        return b
    }

    func gateway(_ clock: Clock) throws -> (ManagedGateway, GatewayPersistence, ControlPlaneStore) {
        let store = try ControlPlaneStore(path: try Fixtures.tempDir() + "/kt.db")
        let persistence = GatewayPersistence(store: store, logger: { _ in })
        let g = ManagedGateway(id: "gw-1", registeredAt: clock.now, persistence: persistence, now: { clock.now })
        return (g, persistence, store)
    }

    /// `count` heartbeats `spacing` seconds apart.
    func send(_ beat: HeartbeatMessage, to g: ManagedGateway, count: Int, spacing: Double, clock: Clock) async {
        for _ in 0..<count {
            await g.heartbeat(beat, running: nil)
            clock.advance(spacing)
        }
    }

    @Test func aFloodIsMergedNotStoredHeartbeatByHeartbeat() async throws {
        let clock = Clock()
        let (g, persistence, store) = try gateway(clock)
        _ = try await g.register(RegistrationRequest(name: "gw-1", labels: [], running: ConfigRef(version: "v0", sha: Self.sha(0)), source: "local"))
        let beat = Self.beat(requests: 3, configs: 9)
        // 5,000 heartbeats 1 ms apart: five seconds of a flood.
        await send(beat, to: g, count: 5_000, spacing: 0.001, clock: clock)
        let kept = await g.samples.count
        #expect(kept <= 9 * 5 * 21, "\(kept) samples kept for 5 s of heartbeats")   // ≤ one per config per 50 ms
        // Merged, not lost: every request is still counted, per config.
        let t = clock.now + 0.001
        #expect(await g.window(60, at: t).requests == 5_000 * 3 * 9)
        #expect(await g.window(60, at: t, configSHA: Self.sha(4)).requests == 5_000 * 3)
        await persistence.flush()
        let rows = try #require(try store.loadGateways().first).samples
        #expect(rows.count == 9, "one row per config and flush, got \(rows.count)")
        store.close()
    }

    @Test func theRingIsBoundedAndKeepsTheNewestSamples() async throws {
        let clock = Clock()
        let (g, _, store) = try gateway(clock)
        let beat = Self.beat(requests: 1, configs: 1)
        // Heartbeats 60 ms apart are not merged; 6,000 of them pass the bound.
        await send(beat, to: g, count: 6_000, spacing: 0.06, clock: clock)
        let kept = await g.samples.count
        #expect(kept <= ManagedGateway.maxSamples + 256)
        #expect(kept >= ManagedGateway.maxSamples)
        // The last minute is whole: 1,000 heartbeats.
        let lastMinute = await g.window(60, at: clock.now).requests
        #expect((999...1_001).contains(lastMinute), "\(lastMinute)")   // 60 s / 60 ms, give or take the window's edge
        store.close()
    }

    /// A restart reads at most as many samples per gateway as a running one keeps, the newest.
    @Test func aRestartLoadsOnlyTheNewestSamples() async throws {
        let clock = Clock()
        let (g, persistence, store) = try gateway(clock)
        _ = try await g.register(RegistrationRequest(name: "gw-1", labels: [], running: ConfigRef(version: "v0", sha: Self.sha(0)), source: "local"))
        for i in 0..<50 {
            var beat = Self.beat(requests: 1, configs: 1)
            beat.traffic.requests = i + 1   // tells the rows apart
            await g.heartbeat(beat, running: nil)
            await persistence.flush()
            clock.advance(0.2)
        }
        let rows = try #require(try store.loadGateways(samplesPerGateway: 10).first).samples
        #expect(rows.count == 10)
        #expect(rows.map { $0.1["requests"]?.intValue ?? 0 } == Array(41...50))
        store.close()
    }

    /// A gateway heartbeating at the shortest allowed interval (100 ms) keeps one sample per beat.
    @Test func aWellBehavedGatewayIsNeverMerged() async throws {
        let clock = Clock()
        let (g, _, store) = try gateway(clock)
        await send(Self.beat(requests: 2, configs: 2), to: g, count: 100, spacing: 0.1, clock: clock)
        #expect(await g.samples.count == 200)
        store.close()
    }
}
