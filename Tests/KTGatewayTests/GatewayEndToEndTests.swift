import Foundation
import Testing
import KTTestSupport

/// Writes a passthrough config whose targets point at the given upstream base URLs.
func writeConfig(targets: [(id: String, url: String, timeoutMs: Int)], model: String = "gpt-test",
                 extra: String = "", fallback: String = "", breaker: String = "") throws -> String {
    var yaml = "pack: { name: e2e, version: 1.0.0 }\nproviders:\n  targets:\n"
    for t in targets {
        yaml += "    - { id: \(t.id), provider: openai-compatible, model: \(model), base_url: \"\(t.url)\", timeout_ms: \(t.timeoutMs) }\n"
    }
    if !fallback.isEmpty { yaml += "  fallback: \(fallback)\n" }
    if !breaker.isEmpty { yaml += "  circuit_breaker: \(breaker)\n" }
    yaml += "policies: { chain: [] }\n" + extra
    let path = (try Fixtures.tempDir() as NSString).appendingPathComponent("config.yaml")
    try yaml.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

let chatBody = #"{"model":"gpt-test","messages":[{"role":"user","content":"hello gateway"}]}"#
let streamBody = #"{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"tell me a long story about gateways"}]}"#

func mockStats(_ port: Int) async -> [String: Any] {
    let r = await onThread { RawClient.get(port: port, path: "/_mock/stats") }
    return (r.flatMap { try? JSONSerialization.jsonObject(with: Data($0.body)) as? [String: Any] }) ?? [:]
}

func setBehavior(_ port: Int, _ json: String) async {
    _ = await onThread { RawClient.post(port: port, path: "/_mock/behavior", json: json) }
}

/// SSE `data:` payloads of a streamed body.
func sseData(_ body: String) -> [String] {
    body.components(separatedBy: "\n\n").compactMap { e in
        e.hasPrefix("data: ") ? String(e.dropFirst(6)) : nil
    }
}

@Suite(.serialized) struct GatewayEndToEndTests {
    @Test func jsonAndStreamingChatPreserveTheWireFormat() async throws {
        let (mock, mport) = try await ChildProcess.mockUpstream()
        let config = try writeConfig(targets: [("primary", "http://127.0.0.1:\(mport)", 5000)])
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", config])
        defer { Task { await gw.stop(); await mock.stop() } }

        let json = await onThread { RawClient.post(port: port, path: "/v1/chat/completions", json: chatBody) }
        #expect(json?.status == 200)
        #expect(json?.headers["x-request-id"]?.hasPrefix("req_") == true)
        #expect(json?.headers["x-kt-overhead-ms"].flatMap(Double.init) != nil)
        let obj = try #require(json.flatMap { try? JSONSerialization.jsonObject(with: Data($0.body)) as? [String: Any] })
        #expect(obj["object"] as? String == "chat.completion")
        let message = ((obj["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])
        #expect(message?["content"] as? String == "Echo: hello gateway")

        // The stream through the gateway is byte-for-byte what the upstream sent, event by event.
        let direct = await onThread { RawClient.post(port: mport, path: "/v1/chat/completions", json: streamBody) }
        let proxied = await onThread { RawClient.post(port: port, path: "/v1/chat/completions", json: streamBody) }
        #expect(proxied?.headers["content-type"] == "text/event-stream")
        #expect(proxied?.headers["x-accel-buffering"] == "no")
        let d = sseData(direct?.text ?? ""), p = sseData(proxied?.text ?? "")
        #expect(p.count == d.count && p.last == "[DONE]")
        func normalized(_ s: String) -> String { s.replacingOccurrences(of: #""id":"[^"]*","#, with: "", options: .regularExpression)
            .replacingOccurrences(of: #""created":\d+,"#, with: "", options: .regularExpression) }
        #expect(p.map(normalized) == d.map(normalized))
        #expect((proxied?.chunks.count ?? 0) > 1)  // forwarded as it arrived, not buffered into one write
    }

    @Test func fallbackFrom500TimeoutAndRefusedConnection() async throws {
        let (bad, badPort) = try await ChildProcess.mockUpstream(["--status", "500"])
        let (hang, hangPort) = try await ChildProcess.mockUpstream(["--hang"])
        let (good, goodPort) = try await ChildProcess.mockUpstream(["--reply", "from the fallback"])
        defer { Task { await bad.stop(); await hang.stop(); await good.stop() } }
        // A port nothing listens on: bind, read the port, close.
        let refusedPort = try await { () async throws -> Int in
            let (p, port) = try await ChildProcess.mockUpstream()
            await p.stop()
            return port
        }()
        let cases: [(String, String, Int)] = [("500", "http://127.0.0.1:\(badPort)", 5000),
                                              ("timeout", "http://127.0.0.1:\(hangPort)", 300),
                                              ("refused", "http://127.0.0.1:\(refusedPort)", 5000)]
        for (name, url, timeout) in cases {
            let config = try writeConfig(targets: [("first", url, timeout), ("second", "http://127.0.0.1:\(goodPort)", 5000)])
            let (gw, port) = try await ChildProcess.gateway(["--policy-config", config])
            let r = await onThread { RawClient.post(port: port, path: "/v1/chat/completions", json: chatBody) }
            #expect(r?.status == 200, "\(name)")
            #expect(r?.headers["x-kt-target"] == "second", "\(name)")
            #expect(r?.text.contains("from the fallback") == true, "\(name)")
            let metrics = await onThread { RawClient.get(port: port, path: "/metrics") }
            #expect(metrics?.text.contains("kt_fallbacks_total 1") == true, "\(name)")
            await gw.stop()
        }
        // With every target failing, the client gets 502 (504 when the last one timed out).
        let config = try writeConfig(targets: [("a", "http://127.0.0.1:\(badPort)", 5000), ("b", "http://127.0.0.1:\(hangPort)", 300)])
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", config])
        let r = await onThread { RawClient.post(port: port, path: "/v1/chat/completions", json: chatBody) }
        #expect(r?.status == 504 && r?.text.contains("\"upstream_timeout\"") == true)
        await gw.stop()
    }

    @Test func breakerOpensAfterFailuresAndProbesAfterCooldown() async throws {
        let (flaky, flakyPort) = try await ChildProcess.mockUpstream(["--status", "500"])
        let (good, goodPort) = try await ChildProcess.mockUpstream()
        let config = try writeConfig(targets: [("flaky", "http://127.0.0.1:\(flakyPort)", 5000), ("good", "http://127.0.0.1:\(goodPort)", 5000)],
                                     breaker: "{ failure_threshold: 2, cooldown_seconds: 1 }")
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", config])
        defer { Task { await gw.stop(); await flaky.stop(); await good.stop() } }

        for _ in 0..<2 { _ = await onThread { RawClient.post(port: port, path: "/v1/chat/completions", json: chatBody) } }
        #expect(await mockStats(flakyPort)["requests"] as? Int == 2)
        let metrics = await onThread { RawClient.get(port: port, path: "/metrics") }
        #expect(metrics?.text.contains(#"kt_circuit_breaker_state{target="flaky"} 1"#) == true)
        // Open: requests go straight to the good target; the flaky one sees nothing.
        for _ in 0..<3 {
            let r = await onThread { RawClient.post(port: port, path: "/v1/chat/completions", json: chatBody) }
            #expect(r?.status == 200 && r?.headers["x-kt-target"] == "good")
        }
        #expect(await mockStats(flakyPort)["requests"] as? Int == 2)
        // After the cooldown one probe goes to the (now healed) target and closes the breaker.
        await setBehavior(flakyPort, "{}")
        let deadline = ContinuousClock.now + .seconds(5)
        var probed = false
        while ContinuousClock.now < deadline, !probed {
            let r = await onThread { RawClient.post(port: port, path: "/v1/chat/completions", json: chatBody) }
            probed = r?.headers["x-kt-target"] == "flaky"
            if !probed { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(probed)
        let after = await onThread { RawClient.get(port: port, path: "/metrics") }
        #expect(after?.text.contains(#"kt_circuit_breaker_state{target="flaky"} 0"#) == true)
    }

    @Test func upstreamFailureMidStreamEndsWithAnErrorEventAndNoDone() async throws {
        let (mock, mport) = try await ChildProcess.mockUpstream(["--fail-after-chunks", "3"])
        let config = try writeConfig(targets: [("primary", "http://127.0.0.1:\(mport)", 5000)])
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", config])
        defer { Task { await gw.stop(); await mock.stop() } }
        let r = await onThread { RawClient.post(port: port, path: "/v1/chat/completions", json: streamBody) }
        let events = sseData(r?.text ?? "")
        #expect(r?.status == 200)
        #expect(events.count == 4)  // three relayed chunks, then the error event
        #expect(events.last?.contains("\"upstream_stream_error\"") == true)
        #expect(!events.contains("[DONE]"))
    }

    @Test func clientDisconnectMidStreamCancelsTheUpstreamTransfer() async throws {
        let (mock, mport) = try await ChildProcess.mockUpstream(["--chunk-delay-ms", "50"])
        let config = try writeConfig(targets: [("primary", "http://127.0.0.1:\(mport)", 5000)])
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", config])
        defer { Task { await gw.stop(); await mock.stop() } }
        _ = await onThread { () -> Bool in
            let c = try! RawClient(port: port)
            c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: \(streamBody.utf8.count)\r\n\r\n\(streamBody)")
            let got = c.fill()  // the head and first event
            c.close()
            return got
        }
        let deadline = ContinuousClock.now + .seconds(5)
        var cancelled = 0
        while ContinuousClock.now < deadline, cancelled == 0 {
            cancelled = await mockStats(mport)["cancelled"] as? Int ?? 0
            if cancelled == 0 { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(cancelled == 1)
        #expect(await mockStats(mport)["completed"] as? Int == 0)
    }

    @Test func badRequestsGetTheOpenAIEnvelope() async throws {
        let config = try writeConfig(targets: [("primary", "http://127.0.0.1:9", 5000)],
                                     extra: "size_limits: { max_body_bytes: 2048 }\n")
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", config])
        defer { Task { await gw.stop() } }
        let cases: [(String, String, Int, String)] = [
            ("/v1/chat/completions", "{not json", 400, "invalid_json"),
            ("/v1/chat/completions", #"{"messages":[]}"#, 400, "missing_required_parameter"),
            ("/v1/chat/completions", #"{"model":"gpt-test","messages":"hi"}"#, 400, "missing_required_parameter"),
            ("/v1/chat/completions", #"{"model":"nope","messages":[{"role":"user","content":"x"}]}"#, 404, "model_not_found"),
            ("/v1/chat/completions", #"{"model":"gpt-test","messages":[{"role":"user","content":""#
                + String(repeating: "x", count: 4000) + "\"}]}", 413, "request_too_large"),
            ("/v1/nothing", "{}", 404, "unknown_url"),
        ]
        for (path, body, status, code) in cases {
            let r = await onThread { RawClient.post(port: port, path: path, json: body) }
            #expect(r?.status == status, "\(body.prefix(40))")
            let err = (r.flatMap { try? JSONSerialization.jsonObject(with: Data($0.body)) as? [String: Any] })?["error"] as? [String: Any]
            #expect(err?["code"] as? String == code, "\(body.prefix(40))")
            #expect(err?["type"] is String && err?["message"] is String)
        }
        let health = await onThread { RawClient.get(port: port, path: "/health") }
        #expect(health?.status == 200 && health?.text.contains("\"requests_processed\"") == true)
        // The gateway is still serving after all that.
        #expect(await onThread { RawClient.get(port: port, path: "/healthz")?.status } == 200)
    }

    @Test func slowlorisIsCutOffWhileOthersAreServed() async throws {
        let config = try writeConfig(targets: [("primary", "http://127.0.0.1:9", 5000)])
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", config, "--header-timeout", "300ms"])
        defer { Task { await gw.stop() } }
        let (cut, served): (Bool, Bool) = await onThread {
            let slow = try! RawClient(port: port)
            slow.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
            let ok = RawClient.get(port: port, path: "/healthz")?.status == 200
            let rest = String(decoding: slow.readUntilClosed(), as: UTF8.self)
            return (rest.hasPrefix("HTTP/1.1 408"), ok)
        }
        #expect(cut && served)
    }

    @Test func tenThousandKeepAliveRequestsLeakNoDescriptors() async throws {
        let config = try writeConfig(targets: [("primary", "http://127.0.0.1:9", 5000)])
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", config, "--log-level", "warn"])
        defer { Task { await gw.stop() } }
        _ = await onThread { RawClient.get(port: port, path: "/healthz") }
        // One proxied request first: libcurl's thread creates its wake-up descriptors on its
        // first poll, which under load can come after the count below.
        _ = await RawClient.post(port: port, path: "/v1/chat/completions", json: chatBody)
        let before = openFDCount(pid: gw.pid)
        let ok: Int = await onThread {
            var ok = 0
            for _ in 0..<10 {
                let c = try! RawClient(port: port)
                for _ in 0..<1000 {
                    c.send("GET /v1/models HTTP/1.1\r\nHost: t\r\n\r\n")
                    if c.readResponse()?.status == 200 { ok += 1 }
                }
            }
            return ok
        }
        #expect(ok == 10_000)
        let deadline = ContinuousClock.now + .seconds(5)
        while openFDCount(pid: gw.pid) > before, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(openFDCount(pid: gw.pid) <= before)
    }

    @Test func sigtermDrainsAnInFlightStreamBeforeExit() async throws {
        let (mock, mport) = try await ChildProcess.mockUpstream(["--chunk-delay-ms", "40"])
        defer { Task { await mock.stop() } }
        let config = try writeConfig(targets: [("primary", "http://127.0.0.1:\(mport)", 5000)])
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", config])
        async let streamed: RawClient.Response? = onThread { RawClient.post(port: port, path: "/v1/chat/completions", json: streamBody) }
        // Once the upstream has the request, ask the gateway to stop.
        let deadline = ContinuousClock.now + .seconds(5)
        while await mockStats(mport)["requests"] as? Int != 1, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        gw.signal(SIGTERM)
        let r = await streamed
        #expect(r?.cleanEnd == true)
        #expect(sseData(r?.text ?? "").last == "[DONE]")
        #expect(await gw.waitForExit() == 0)
    }

    @Test func reloadKeepsTheRunningConfigWhenTheNewOneIsInvalid() async throws {
        let config = try writeConfig(targets: [("primary", "http://127.0.0.1:9", 5000)])
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", config])
        defer { Task { await gw.stop() } }
        let before = await onThread { RawClient.get(port: port, path: "/keeptrusts/config") }
        let original = try String(contentsOfFile: config, encoding: .utf8)
        try original.replacingOccurrences(of: "name: e2e", with: "nmae: e2e").write(toFile: config, atomically: true, encoding: .utf8)
        let rejected = await onThread { RawClient.post(port: port, path: "/keeptrusts/config/reload", json: "") }
        #expect(rejected?.status == 422)
        #expect(rejected?.text.contains("\"E002\"") == true && rejected?.text.contains("\"applied\":false") == true)
        let still = await onThread { RawClient.get(port: port, path: "/keeptrusts/config") }
        #expect(still?.text == before?.text)
        try original.replacingOccurrences(of: "version: 1.0.0", with: "version: 1.1.0").write(toFile: config, atomically: true, encoding: .utf8)
        let applied = await onThread { RawClient.post(port: port, path: "/keeptrusts/config/reload", json: "") }
        #expect(applied?.status == 200 && applied?.text.contains("\"version\":\"1.1.0\"") == true)
    }

    @Test func startupRefusesBadConfigsWithLintStyleErrors() async throws {
        let p = try ChildProcess(["gateway", "run", "--listen", "127.0.0.1:0", "--policy-config", Fixtures.path("invalid/E002-unknown-key.yaml")])
        #expect(await p.waitForExit() == 2)
        #expect(p.output.contains { $0.contains("error[E002]") })
        #expect(p.output.contains { $0.contains("did you mean 'threshold'") })
        let needsKey = (try Fixtures.tempDir() as NSString).appendingPathComponent("openai.yaml")
        try """
            pack: { name: keyed, version: 1.0.0 }
            providers: { targets: [ { id: openai-primary, provider: openai, model: m, secret_key_ref: { env: KT_TEST_MISSING_KEY } } ] }
            """.write(toFile: needsKey, atomically: true, encoding: .utf8)
        let missing = try ChildProcess(["gateway", "run", "--listen", "127.0.0.1:0", "--policy-config", needsKey])
        #expect(await missing.waitForExit() == 2)
        #expect(missing.output.contains { $0.contains("KT_TEST_MISSING_KEY") && $0.contains("openai-primary") })
    }

    /// A gateway whose log reader went away keeps serving: the lost log lines are dropped
    /// (it ignores SIGPIPE), not the gateway.
    @Test func aClosedLogPipeDoesNotStopTheGateway() async throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ChildProcess.ktBinary)
        p.arguments = ["gateway", "run", "--listen", "127.0.0.1:0", "--policy-config", Fixtures.path("valid/mock-quick-launch.yaml"),
                       "--state-dir", try Fixtures.tempDir()]
        let logs = Pipe()
        p.standardError = logs
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        // Read the log up to the listening line (this thread is its only reader), then close it.
        let fd = logs.fileHandleForReading.fileDescriptor
        let port: Int? = await onThread {
            var text = ""
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { return nil }
                text += String(decoding: buffer[0..<n], as: UTF8.self)
                if let r = text.range(of: #"gateway listening.*?127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                    return Int(text[r].split(separator: ":").last ?? "")
                }
            }
        }
        try logs.fileHandleForReading.close()
        let bound = try #require(port)
        let body = #"{"model":"gpt-5.4-mini","messages":[{"role":"user","content":"hello"}]}"#
        for _ in 0..<3 {
            // Each answer writes a log line into the closed pipe.
            #expect(await RawClient.post(port: bound, path: "/v1/chat/completions", json: body)?.status == 200)
        }
        #expect(p.isRunning, "the gateway died writing to a closed log pipe")
    }

    @Test func curlAsARealOpenAIClient() async throws {
        let (mock, mport) = try await ChildProcess.mockUpstream()
        let config = try writeConfig(targets: [("primary", "http://127.0.0.1:\(mport)", 5000)])
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", config])
        defer { Task { await gw.stop(); await mock.stop() } }
        let out: String = await onThread {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            p.arguments = ["-sS", "-N", "http://127.0.0.1:\(port)/v1/chat/completions", "-H", "Authorization: Bearer sk-client",
                           "-H", "Content-Type: application/json", "-d", streamBody]
            let pipe = Pipe()
            p.standardOutput = pipe
            try? p.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        #expect(sseData(out).last == "[DONE]")
        #expect(sseData(out).dropLast().allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil })
    }
}
