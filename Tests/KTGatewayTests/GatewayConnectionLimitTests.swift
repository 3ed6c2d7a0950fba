import Foundation
import Testing
import KTTestSupport

/// Lock-out and starvation at the descriptor limit, with a real gateway process under `ulimit -n`.
@Suite(.serialized) struct GatewayConnectionLimitTests {
    static let config = Fixtures.path("valid/mock-quick-launch.yaml")

    /// Opens `n` connections that never send a byte.
    static func openSilent(_ n: Int, port: Int) -> [RawClient] {
        (0..<n).compactMap { _ in try? RawClient(port: port, timeoutSeconds: 2) }
    }

    @Test func pastTheDescriptorLimitTheGatewayRefusesWithoutSpinningAndRecovers() async throws {
        // --max-connections above what 200 descriptors allow: the gateway runs out of them.
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", Self.config, "--max-connections", "1000", "--log-level", "warn"],
                                                        descriptorLimit: 200)
        defer { gw.signal(SIGKILL) }
        let held = await onThread { Self.openSilent(400, port: port) }
        #expect(held.count >= 300)
        // While the descriptors are gone: keep asking for a second and measure the gateway's CPU.
        let cpuBefore = gw.cpuSeconds
        let wallStart = ContinuousClock.now
        while ContinuousClock.now - wallStart < .seconds(1) {
            // Queued behind the silent ones in the listen backlog: answered 503 or not at all (a
            // probe waits 2 s; waiting longer would see the header timeout free the descriptors).
            #expect(await RawClient.get(port: port, path: "/healthz", timeoutSeconds: 2)?.status != 200)
        }
        let wall = (ContinuousClock.now - wallStart).secondsDouble
        let share = (gw.cpuSeconds - cpuBefore) / wall
        #expect(share < 0.3, "the gateway used \(Int(share * 100)) % of a core while out of descriptors")
        #expect(await gw.waitForLine(containing: "out of file descriptors") != nil)
        for c in held { c.close() }
        // Serves again once they are gone (polled with a deadline).
        let deadline = ContinuousClock.now + .seconds(10)
        var status: Int?
        while ContinuousClock.now < deadline {
            status = await RawClient.get(port: port, path: "/healthz")?.status
            if status == 200 { break }
        }
        #expect(status == 200)
    }

    @Test func underTheDefaultCapIdleConnectionsMakeRoomForNewClients() async throws {
        // The default cap is fitted under ulimit -n 200; 400 silent connections do not lock clients out.
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", Self.config, "--log-level", "warn"], descriptorLimit: 200)
        defer { gw.signal(SIGKILL) }
        let held = await onThread { Self.openSilent(400, port: port) }
        // Timed on a thread of its own: what is measured is the gateway's answer, not how soon a
        // busy cooperative pool resumes this test.
        let (status, took): (Int?, Duration) = await onThread {
            let started = ContinuousClock.now
            let s = RawClient.get(port: port, path: "/healthz")?.status
            return (s, ContinuousClock.now - started)
        }
        #expect(status == 200)
        #expect(took < .seconds(2))
        for c in held { c.close() }
    }
}

extension Duration {
    var secondsDouble: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
