import Foundation
import Testing
import KTTestSupport

/// Strict and batched audit on a real disk that fills up during the test (a tmpfs mounted by
/// the test; skipped with a message when it cannot mount one).
@Suite(.serialized) struct GatewayAuditDurabilityTests {
    func startGateway(on disk: ScratchFilesystem, durability: String) async throws -> (ChildProcess, Int, ChildProcess, String) {
        let (mock, mport) = try await ChildProcess.mockUpstream()
        let state = disk.path + "/state"
        let config = try writePolicyConfig(upstream: mport, chain: "dlp-filter, audit-logger",
                                           policy: "  dlp-filter: { blocked_terms: [confidential], action: block }\n  audit-logger: { durability: \(durability) }\n")
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", config, "--state-dir", state, "--log-level", "warn"])
        return (gw, port, mock, state)
    }

    /// Sends one request with a client id; returns the status and the body.
    func send(_ port: Int, id: String, _ body: String) async -> (Int, String) {
        let r = await RawClient.post(port: port, path: "/v1/chat/completions", json: body, headers: ["x-request-id": id])
        return (r?.status ?? -1, r?.text ?? "")
    }

    func idsOnDisk(_ state: String) throws -> Set<String> {
        var ids = Set<String>()
        for file in try FileManager.default.contentsOfDirectory(atPath: state + "/audit") {
            let text = try String(contentsOfFile: state + "/audit/" + file, encoding: .utf8)
            for m in text.matches(of: /"client_request_id":"([a-z]+-[0-9]+)"/) { ids.insert(String(m.1)) }
        }
        return ids
    }

    @Test func strictAuditOnAFillingDiskAnswersNothingItDidNotStoreAndRecoversByItself() async throws {
        let disk: ScratchFilesystem
        switch ScratchFilesystem.mount(bytes: 4 << 20) {
        case .success(let d): disk = d
        case .failure(let why): print("skipped: \(why)"); return
        }
        defer { disk.unmount() }
        let (gw, port, mock, state) = try await startGateway(on: disk, durability: "strict")
        var acknowledged = Set<String>()
        func round(_ prefix: String, _ n: Int) async -> [Int] {
            var statuses: [Int] = []
            for i in 0..<n {
                // Every fifth prompt is blocked by DLP (409): a block needs its record as much as a 200.
                let (status, _) = await send(port, id: "\(prefix)-\(i)", chat(i % 5 == 0 ? "this is confidential" : "hello \(i)"))
                if status == 200 || status == 409 { acknowledged.insert("\(prefix)-\(i)") }
                statuses.append(status)
            }
            return statuses
        }
        let before = await round("before", 20)
        #expect(Set(before) == [200, 409], "\(before)")

        disk.fill()
        // Records may still fit in the segment's last page; from the first failure on, the disk
        // is full and every answer is 503.
        let during = await round("during", 30)
        let firstFailure = try #require(during.firstIndex(of: 503), "\(during)")
        #expect(Set(during[firstFailure...]) == [503], "while the disk is full every answer is 503: \(during)")
        let (_, body) = await send(port, id: "probe-1", chat("hello"))
        #expect(body.contains("audit_unavailable") && body.contains("No space left on device"), "\(body)")
        let health = await RawClient.get(port: port, path: "/health")?.text ?? ""
        #expect(health.contains(#""status":"degraded""#) && health.contains("No space left on device"), "\(health)")
        #expect(await RawClient.get(port: port, path: "/readyz")?.status == 503)
        // A stream started meanwhile ends with the audit error, never [DONE].
        let stream = await RawClient.post(port: port, path: "/v1/chat/completions", json: chat("hello", stream: true))?.text ?? ""
        #expect(!stream.contains("[DONE]") && stream.contains("audit_unavailable"), "\(stream)")

        disk.release()
        #expect(await poll("the gateway is ready again") { await RawClient.get(port: port, path: "/readyz")?.status == 200 })
        #expect(Set(await round("after", 20)) == [200, 409])
        let streamed = await RawClient.post(port: port, path: "/v1/chat/completions", json: chat("hello", stream: true))?.text ?? ""
        #expect(streamed.contains("[DONE]"))
        let metrics = await RawClient.get(port: port, path: "/metrics")?.text ?? ""
        #expect(metrics.contains("kt_audit_healthy 1") && metrics.contains("kt_audit_rejected_requests_total "), "\(metrics.suffix(600))")

        await gw.stop()
        await mock.stop()
        let onDisk = try idsOnDisk(state)
        #expect(acknowledged.isSubset(of: onDisk), "answered without a record: \(acknowledged.subtracting(onDisk).sorted().prefix(5))")
        #expect(onDisk.filter { $0.hasPrefix("during") }.count == firstFailure)
        let (code, out) = await runKTToEnd(["audit", "verify", state, "--json"])
        // At least one outage record (a rollback can free a page, so a full disk may recover
        // briefly and fail again: two episodes).
        #expect(code == 0 && out.contains(/"outages": [1-9]/), "\(out)")
    }

    @Test func batchedAuditOnAFullDiskShowsTheFailureAndTheLossInMetrics() async throws {
        let disk: ScratchFilesystem
        switch ScratchFilesystem.mount(bytes: 4 << 20) {
        case .success(let d): disk = d
        case .failure(let why): print("skipped: \(why)"); return
        }
        defer { disk.unmount() }
        let (gw, port, mock, state) = try await startGateway(on: disk, durability: "batched")
        for i in 0..<5 { _ = await send(port, id: "before-\(i)", chat("hello")) }
        disk.fill()
        // Batched mode keeps serving: the records are what is lost, and that is counted.
        for i in 0..<20 { #expect(await send(port, id: "during-\(i)", chat("hello \(i)")).0 == 200) }
        var metrics = ""
        #expect(await poll("the failure is in /metrics") {
            metrics = await RawClient.get(port: port, path: "/metrics")?.text ?? ""
            return metrics.contains("kt_audit_healthy 0") && !metrics.contains(#"kt_audit_records_total{outcome="failed"} 0"#)
        }, "\(metrics.suffix(800))")
        #expect(await RawClient.get(port: port, path: "/readyz")?.status == 200, "batched mode stays ready")
        let health = await RawClient.get(port: port, path: "/health")?.text ?? ""
        #expect(health.contains(#""status":"degraded""#) && health.contains(#""records_failed""#))
        disk.release()
        #expect(await poll("the log recovers") { (await RawClient.get(port: port, path: "/metrics")?.text ?? "").contains("kt_audit_healthy 1") })
        await gw.stop()
        await mock.stop()
        let (code, out) = await runKTToEnd(["audit", "verify", state, "--json"])
        #expect(code == 0, "\(out)")
    }
}
