import Testing
import KTModel
@testable import KTGateway

/// The gateway keeps its heartbeat traffic per config the requests ran under.
@Suite struct ManagedTelemetryTests {
    @Test func trafficIsKeptPerConfigAndSplitForTheHeartbeat() {
        let t = ManagedTelemetry()
        t.enable()
        let a = String(repeating: "a", count: 64), b = String(repeating: "b", count: 64)
        for _ in 0..<3 { t.record(status: 409, verdict: "block", latencyMs: 1, overheadMs: 1, configSHA: a, event: .null) }
        for _ in 0..<5 { t.record(status: 200, verdict: "allow", latencyMs: 1, overheadMs: 1, configSHA: b, event: .null) }
        let taken = t.takeTraffic()
        #expect(taken[a]?.blocked == 3 && taken[b]?.requests == 5)
        let (running, earlier) = ManagedTelemetry.split(taken, running: b)
        #expect(running.requests == 5 && running.blocked == 0)
        #expect(earlier == [HeartbeatMessage.ConfigTraffic(sha: a, traffic: taken[a]!)])
        // A failed heartbeat gives it back, per config.
        t.giveBack(taken)
        #expect(t.takeTraffic()[a]?.requests == 3)
        // More configs than a heartbeat carries fold into an earlier one, never the running one.
        var many: [String: TrafficSample] = [b: taken[b]!]
        for i in 0..<12 { many[String(repeating: String(i % 10), count: 63) + "\(i)"] = taken[a]! }
        let (r2, e2) = ManagedTelemetry.split(many, running: b)
        #expect(r2.requests == 5 && e2.count == HeartbeatMessage.maxEarlierConfigs && e2.map(\.traffic.requests).reduce(0, +) == 36)
    }
}
