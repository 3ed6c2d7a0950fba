import Foundation
import Testing
import KTTestSupport

/// Policy work must not starve the rest of the gateway: liveness stays fast while large prompts
/// are scanned, and a backtracking pattern from a config cannot freeze it.
@Suite(.serialized) struct GatewayStarvationTests {
    func config(_ policies: String, mockPort: Int) throws -> String {
        let yaml = """
            pack: { name: starve, version: 1.0.0 }
            providers:
              targets:
                - { id: primary, provider: openai-compatible, model: gpt-test, base_url: "http://127.0.0.1:\(mockPort)" }
            size_limits: { max_body_bytes: 2097152 }
            \(policies)
            """
        let path = (try Fixtures.tempDir() as NSString).appendingPathComponent("config.yaml")
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The slowest `/healthz` answer, asked one after another until every task of `load` has
    /// finished (and at least `count` times).
    /// Every /healthz answer time while `load` runs (at least `count`), sorted; a failed probe counts as 999 s.
    func healthzTimes(port: Int, count: Int, whileRunning load: [Task<Int?, Never>]) async -> [Duration] {
        let done = Task { for t in load { _ = await t.value } }
        let finished = Task { await done.value; return true }
        var times: [Duration] = []
        while true {
            let t = ContinuousClock.now
            let status = await RawClient.get(port: port, path: "/healthz")?.status
            let took = ContinuousClock.now - t
            times.append(status == 200 ? took : .seconds(999))
            if times.count >= count, await isDone(finished) { break }
        }
        return times.sorted()
    }

    /// Whether `task` has finished, without waiting for it.
    func isDone(_ task: Task<Bool, Never>) async -> Bool {
        await withTaskGroup(of: Bool.self) { g in
            g.addTask { await task.value }
            g.addTask { await Task.yield(); return false }
            let first = await g.next() ?? false
            g.cancelAll()
            return first
        }
    }

    @Test func sixteenMegabytePromptsLeaveHealthzFast() async throws {
        let (mock, mport) = try await ChildProcess.mockUpstream()
        let path = try config("policies: { chain: [prompt-injection, pii-detector] }\npolicy: { prompt-injection: {}, pii-detector: { action: redact } }",
                              mockPort: mport)
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", path, "--log-level", "warn", "--policy-budget", "1s"])
        defer { Task { await gw.stop(); await mock.stop() } }
        // About 1 MB of ordinary prose with some contact details in it.
        let sentence = "Please summarise the quarterly report for the board and mail it to ana.silva@example.org by Friday. "
        let prompt = String(repeating: sentence, count: 1_000_000 / sentence.utf8.count)
        let body = chat(prompt)
        let load = (0..<16).map { _ in
            Task { () -> Int? in
                await onThread {
                    guard let c = try? RawClient(port: port, timeoutSeconds: 60) else { return nil }
                    c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
                    return c.readResponse()?.status
                }
            }
        }
        // Ask while the prompts are being scanned (the first answers need seconds of policy work).
        let times = await healthzTimes(port: port, count: 20, whileRunning: load)
        var statuses: [Int?] = []
        for t in load { statuses.append(await t.value) }
        // Before policies ran on their own executor /healthz waited behind the scans: 2.4 s at the
        // median. Alone this test sees ~50 ms; with the rest of the suite running in parallel on
        // two cores, medians up to 0.3 s and single probes up to 3.6 s (the test process and every
        // other suite's gateways share the cores). The median catches the regression; the worst
        // probe only a frozen gateway.
        let median = times[times.count / 2], worst = times.last!
        #expect(median < .seconds(1), "the median /healthz took \(median) (of \(times.count); worst \(worst))")
        #expect(worst < .seconds(10), "the slowest /healthz took \(worst)")
        // Scanned within the budget (200), or stopped at it (409: fail_mode block); never left hanging.
        #expect(statuses.allSatisfy { $0 == 200 || $0 == 409 }, "\(statuses)")
    }

    @Test func aBacktrackingConfigPatternDoesNotFreezeTheGateway() async throws {
        let (mock, mport) = try await ChildProcess.mockUpstream()
        let path = try config("policies: { chain: [dlp-filter] }\npolicy: { dlp-filter: { detect_patterns: [ { name: runs, pattern: \"(a+)+$\" } ] } }",
                              mockPort: mport)
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", path, "--log-level", "warn", "--policy-budget", "500ms"])
        defer { Task { await gw.stop(); await mock.stop() } }
        let evil = chat(String(repeating: "a", count: 30) + "b")
        let load = (0..<2).map { _ in Task { await RawClient.post(port: port, path: "/v1/chat/completions", json: evil)?.status } }
        let worst = await healthzTimes(port: port, count: 10, whileRunning: load).last!
        #expect(worst < .seconds(1), "the slowest /healthz took \(worst)")
        // fail_mode block (the default): the request whose policy ran out is refused, not forwarded.
        for t in load { #expect(await t.value == 409) }
        #expect(await RawClient.post(port: port, path: "/v1/chat/completions", json: chat("ordinary words"))?.status == 200)
    }
}
