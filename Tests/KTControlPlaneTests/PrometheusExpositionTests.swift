import Foundation
import Testing
import KTModel
import KTTestSupport

/// Both servers' `/metrics` after mixed traffic: `promtool check metrics` clean (when installed;
/// scripts/test installs it) and the families the spec asks for present. That a scan adds no
/// series is `GatewayExposureTests.unknownPathsDoNotGrowTheMetrics`.
@Suite(.serialized) struct PrometheusExpositionTests {
    func promtool(_ text: String) async throws -> ChildProcess.Finished? {
        guard (try? await ChildProcess.system(["sh", "-c", "command -v promtool"]))?.status == 0 else { return nil }
        let file = try Fixtures.tempDir() + "/metrics.txt"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return try await ChildProcess.system(["sh", "-c", "promtool check metrics < '\(file)' 2>&1"])
    }

    @Test func bothServersExposeCleanPrometheusTextAfterMixedTraffic() async throws {
        let h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        let (gw, port) = try await h.gateway("gw-m", heartbeat: "300ms")
        defer { gw.signal(SIGKILL) }
        _ = await FleetHarness.chat(port: port, "hello")
        _ = await FleetHarness.chat(port: port, FleetHarness.injection)
        _ = await RawClient.post(port: port, path: "/v1/chat/completions", json: "{broken")
        _ = await RawClient.get(port: port, path: "/wp-login.php")
        _ = try await h.kt(["gateway", "list"])
        _ = await h.send("GET", "/v1/gateways/nope", token: h.admin)
        _ = try await FleetHarness.eventually("a heartbeat") { () throws -> Bool? in
            (await h.send("GET", "/metrics", token: h.admin).1).contains("kt_cp_heartbeats_total 0") ? nil : true
        }
        let gatewayText = await RawClient.get(port: port, path: "/metrics")?.text ?? ""
        let cpText = await h.send("GET", "/metrics", token: h.admin).1
        // The address proves nothing (a local proxy makes every scraper loopback): no token, no metrics.
        #expect(await h.send("GET", "/metrics", token: nil).0 == 401)
        for (name, text) in [("gateway", gatewayText), ("control plane", cpText)] {
            if let check = try await promtool(text) {
                #expect(check.status == 0 && check.stdout.isEmpty, "\(name): promtool check metrics:\n\(check.stdout)")
            } else {
                print("skipped promtool: not installed (scripts/test installs Debian's prometheus package)")
            }
        }
        for family in [#"kt_policy_decisions_total{policy="prompt-injection",verdict="block""#, #"kt_overhead_seconds_bucket{le="5e-05"}"#,
                       #"kt_build_info{version=""#, "process_resident_memory_bytes ", "process_open_fds ", "kt_events_queued ",
                       "kt_events_uploaded_total ", #"kt_requests_total{route="other",status="404""#] {
            #expect(gatewayText.contains(family), "gateway /metrics lacks \(family)")
        }
        for family in ["kt_cp_request_duration_seconds_bucket{route=", "kt_cp_heartbeat_duration_seconds_bucket{le=\"0.001\"}",
                       "kt_cp_storage_healthy 1", "process_cpu_seconds_total ", #"kt_build_info{version=""#] {
            #expect(cpText.contains(family), "control-plane /metrics lacks \(family)")
        }
        #expect(!cpText.contains("_ms"), "no abbreviated units")
    }
}
