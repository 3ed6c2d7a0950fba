import Foundation
import Testing
import KTModel
import KTTestSupport

/// What an unauthenticated client, a gateway token holder or an operator can send the control
/// plane that must be refused with a 4xx while it keeps serving (a real control plane process).
@Suite struct HostileInputTests {
    @Test func overflowingNumbersAreRefusedAndTheControlPlaneKeepsServing() async throws {
        let h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }

        // Before routing or auth: a chunk size near Int.max.
        let chunked: RawClient.Response? = await onThread {
            let c = try! RawClient(port: h.port)
            c.send("POST /v1/gateways/register HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nA\r\n7fffffffffffffff\r\n")
            return c.readResponse()
        }
        #expect(chunked?.status == 413)
        #expect(await h.send("GET", "/healthz", token: nil).0 == 200)

        // A gateway token holder: counters and histogram buckets near Int.max.
        let gw = try await h.createToken(role: "gateway", gatewayID: "gw-h")
        #expect(await h.send("POST", "/v1/gateways/register", token: gw, body: #"{"id":"gw-h","version":"0.1.0"}"#).0 == 200)
        let hb = "/v1/gateways/gw-h/heartbeat"
        let huge = await h.send("POST", hb, token: gw, body: #"{"traffic":{"requests":9223372036854775807}}"#)
        #expect(huge.0 == 400)
        #expect(huge.1.contains("traffic.requests must be an integer from 0 to"))
        let bucket = await h.send("POST", hb, token: gw,
                                body: #"{"traffic":{"requests":1,"latency":{"buckets":[[3,9223372036854775807],[4,9223372036854775807]],"sum_ms":1}}}"#)
        #expect(bucket.0 == 400)
        #expect(bucket.1.contains("bucket count"))
        #expect(await h.send("POST", hb, token: gw, body: #"{"traffic":{"requests":1,"blocked":2}}"#).0 == 400)
        #expect(await h.send("POST", hb, token: gw, body: #"{"traffic":{"requests":1},"unix_ms":-9223372036854775807}"#).0 == 400)
        #expect(await h.send("POST", hb, token: gw, body: #"{"traffic":{"requests":1},"events_dropped":1e300}"#).0 == 400)
        #expect(await h.send("POST", "/v1/gateways/gw-h/events", token: gw, body: #"{"events":[],"dropped":9223372036854775807}"#).0 == 400)
        // The largest allowed counters, twice: the window sums them without trapping.
        let max = TrafficSample.maxCount
        for _ in 0..<2 {
            let body = #"{"traffic":{"requests":\#(max),"blocked":\#(max),"latency":{"buckets":[[10,\#(max)]],"sum_ms":1}}}"#
            #expect(await h.send("POST", hb, token: gw, body: body).0 == 200)
        }
        #expect(await h.send("GET", "/v1/gateways/gw-h", token: h.admin).0 == 200)
        #expect(await h.send("GET", "/v1/health", token: h.admin).0 == 200)

        // An operator: rollout numbers out of range are a 422 naming the field and the range.
        for (field, value) in [("batch_size", "1e300"), ("min_requests", "1e300"), ("ack_timeout_seconds", "1e300"),
                               ("pause_between_seconds", "-1"), ("health_window_seconds", "1e300"), ("batch_size", "2.5"),
                               ("false_rollback_rate", "0"), ("false_rollback_rate", "1e300"), ("block_rate_margin", "-0.1"),
                               ("error_rate_ratio", "0.5"), ("latency_ratio", "1e300"), ("latency_floor_ms", "-1")] {
            let r = await h.send("POST", "/v1/rollouts", token: h.admin,
                               body: #"{"content":"x","gateways":["gw-h"],"\#(field)":\#(value)}"#)
            #expect(r.0 == 422, "\(field): \(value) → \(r.0) \(r.1)")
            #expect(r.1.contains("\(field) must be"), "\(r.1)")
        }
        // The control cohort: a known mode, and ids that are ids.
        for (body, wanted) in [(#""control":"everyone""#, "control must be"), (#""control":"group","control_gateways":["ok","bad id\n"]"#, "control_gateways[1]"),
                               (#""control":"group""#, "needs control_gateways")] {
            let r = await h.send("POST", "/v1/rollouts", token: h.admin, body: #"{"content":"x","gateways":["gw-h"],\#(body)}"#)
            #expect(r.0 == 400 && r.1.contains(wanted), "\(body) → \(r.0) \(r.1)")
        }
        #expect(await h.send("GET", "/healthz", token: nil).0 == 200)
    }

    @Test func cliNumbersOutOfRangeAreUsageErrors() async throws {
        let env = ["KEEPTRUSTS_API_URL": "http://127.0.0.1:9", "KEEPTRUSTS_API_TOKEN": "x"]
        let file = Fixtures.path("fleet/good.yaml")
        for args in [["--batch-size", "99999999999999999999"], ["--batch-size", "+5"], ["--min-requests", "-1"], ["--health-window", "1e300"]] {
            let r = try await onThread { Result { try ChildProcess.runToEnd(["config", "push", "--file", file, "--gateway", "g", "--confirm"] + args, environment: env) } }.get()
            #expect(r.status == 2, "\(args): exit \(r.status) \(r.stderr)")
            #expect(r.stderr.contains(args[0]), "\(r.stderr)")
        }
        for args in [["--event-retention-mb", "0"], ["--event-retention-mb", "99999999999999999999"], ["--event-retention", "1e6"]] {
            let r = try await onThread { Result { try ChildProcess.runToEnd(["control-plane", "run", "--data", try Fixtures.tempDir()] + args) } }.get()
            #expect(r.status == 2, "\(args): exit \(r.status) \(r.stderr)")
            #expect(r.stderr.contains(args[0]), "\(r.stderr)")
        }
    }
}
