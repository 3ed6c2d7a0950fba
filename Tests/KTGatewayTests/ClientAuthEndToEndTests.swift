import Foundation
import Testing
import KTConfig
import KTTestSupport

/// `client_auth` through a real gateway: 401 without a valid key, both key sources work, the key
/// id (never the key) is recorded, the upstream never sees the client's key, reload swaps keys.
@Suite(.serialized) struct ClientAuthEndToEndTests {
    let keyA = "kt-client-" + UUID().uuidString   // listed by its SHA-256
    let keyB = "kt-client-" + UUID().uuidString   // resolved from the environment

    func config(upstream: Int, keys: String) throws -> String {
        let yaml = """
            pack: { name: keys, version: 1.0.0 }
            providers:
              targets:
                - { id: primary, provider: openai-compatible, model: gpt-test, base_url: "http://127.0.0.1:\(upstream)", secret_key_ref: { env: KT_UPSTREAM_KEY } }
            policies: { chain: [audit-logger] }
            policy:
              audit-logger: { durability: strict }
            user_rate_limit: { max_requests: 3, window_seconds: 60, key_by: client_key }
            client_auth:
              keys:
            \(keys)
            """
        let path = (try Fixtures.tempDir() as NSString).appendingPathComponent("config.yaml")
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func clientKeysGateTheOpenAISurfaceAndNeverLeak() async throws {
        let (mock, mport) = try await ChildProcess.mockUpstream()
        let keys = "    - { id: team-a, sha256: \"\(SHA256.hex(keyA))\" }\n    - { id: team-b, key_ref: { env: TEAM_B_KEY } }"
        let path = try config(upstream: mport, keys: keys)
        let state = try Fixtures.tempDir()
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", path, "--state-dir", state, "--admin-token", "adm-tok"],
                                                        environment: ["TEAM_B_KEY": keyB, "KT_UPSTREAM_KEY": "upstream-secret"])
        defer { Task { await gw.stop(); await mock.stop() } }

        let none = await RawClient.post(port: port, path: "/v1/chat/completions", json: chatBody)
        #expect(none?.status == 401)
        #expect(none?.text.contains("\"invalid_api_key\"") == true)
        #expect(none?.headers["x-should-retry"] == "false")
        let wrong = await RawClient.post(port: port, path: "/v1/chat/completions", json: chatBody, headers: ["Authorization": "Bearer nope"])
        #expect(wrong?.status == 401)
        #expect(await RawClient.get(port: port, path: "/v1/models")?.status == 401)
        // Probes stay open.
        #expect(await RawClient.get(port: port, path: "/healthz")?.status == 200)

        let a = await RawClient.post(port: port, path: "/v1/chat/completions", json: chatBody, headers: ["Authorization": "Bearer \(keyA)"])
        #expect(a?.status == 200)
        let b = await RawClient.post(port: port, path: "/v1/chat/completions", json: chatBody, headers: ["x-api-key": keyB])
        #expect(b?.status == 200)
        // The upstream gets the target's credentials (none here), never the client's key.
        let stats = await mockStats(mport)
        #expect(stats["last_authorization"] as? String == "Bearer upstream-secret")

        // key_by: client_key counts per key: team-a's limit is its own.
        for _ in 0..<2 { _ = await RawClient.post(port: port, path: "/v1/chat/completions", json: chatBody, headers: ["Authorization": "Bearer \(keyA)"]) }
        #expect(await RawClient.post(port: port, path: "/v1/chat/completions", json: chatBody, headers: ["Authorization": "Bearer \(keyA)"])?.status == 429)
        #expect(await RawClient.post(port: port, path: "/v1/chat/completions", json: chatBody, headers: ["x-api-key": keyB])?.status == 200)

        // The key id is in the audit record and the event.
        let audit = try auditText(state)
        #expect(audit.contains("\"client_key\":\"team-a\""))
        #expect(audit.contains("\"client_key\":\"team-b\""))
        let admin = ["Authorization": "Bearer adm-tok"]
        let events = await RawClient.get(port: port, path: "/keeptrusts/events", headers: admin)?.text ?? ""
        #expect(events.contains("\"client_key\":\"team-b\""))
        let configText = await RawClient.get(port: port, path: "/keeptrusts/config", headers: admin)?.text ?? ""
        let metrics = await RawClient.get(port: port, path: "/metrics")?.text ?? ""
        #expect(metrics.contains(#"kt_client_auth_failures_total{reason="missing"} 2"#))
        #expect(metrics.contains(#"kt_client_auth_failures_total{reason="unknown"} 1"#))
        // The key values appear nowhere the gateway writes or serves.
        for (name, text) in [("audit log", audit), ("events", events), ("config", configText), ("metrics", metrics),
                             ("log", gw.output.joined(separator: "\n"))] {
            #expect(!text.contains(keyA) && !text.contains(keyB), "a client key leaked into the \(name)")
        }
        #expect(gw.output.contains { $0.contains("\"client_key\":\"team-a\"") }, "the request log line names the key id")
    }

    @Test func aReloadSwapsTheKeysAtomically() async throws {
        let (mock, mport) = try await ChildProcess.mockUpstream()
        let path = try config(upstream: mport, keys: "    - { id: team-a, sha256: \"\(SHA256.hex(keyA))\" }")
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", path, "--state-dir", try Fixtures.tempDir()],
                                                        environment: ["KT_UPSTREAM_KEY": "upstream-secret"])
        defer { Task { await gw.stop(); await mock.stop() } }
        let withA = ["Authorization": "Bearer \(keyA)"], withB = ["Authorization": "Bearer \(keyB)"]
        #expect(await RawClient.post(port: port, path: "/v1/chat/completions", json: chatBody, headers: withA)?.status == 200)
        #expect(await RawClient.post(port: port, path: "/v1/chat/completions", json: chatBody, headers: withB)?.status == 401)
        try replace(path, with: try config(upstream: mport, keys: "    - { id: team-b, sha256: \"\(SHA256.hex(keyB))\" }"))
        #expect(await RawClient.post(port: port, path: "/keeptrusts/config/reload", json: "")?.status == 200)
        #expect(await RawClient.post(port: port, path: "/v1/chat/completions", json: chatBody, headers: withA)?.status == 401)
        #expect(await RawClient.post(port: port, path: "/v1/chat/completions", json: chatBody, headers: withB)?.status == 200)
        // A config whose key_ref cannot be resolved never replaces the running keys.
        try replace(path, with: try config(upstream: mport, keys: "    - { id: team-c, key_ref: { env: KT_TEST_UNSET_KEY } }"))
        let rejected = await RawClient.post(port: port, path: "/keeptrusts/config/reload", json: "")
        #expect(rejected?.status == 422)
        #expect(rejected?.text.contains("KT_TEST_UNSET_KEY") == true)
        #expect(await RawClient.post(port: port, path: "/v1/chat/completions", json: chatBody, headers: withB)?.status == 200)
    }

    func replace(_ path: String, with other: String) throws {
        try String(contentsOfFile: other, encoding: .utf8).write(toFile: path, atomically: true, encoding: .utf8)
    }

    func auditText(_ state: String) throws -> String {
        let dir = state + "/audit"
        return try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
            .map { try String(contentsOfFile: dir + "/" + $0, encoding: .utf8) }.joined()
    }
}
