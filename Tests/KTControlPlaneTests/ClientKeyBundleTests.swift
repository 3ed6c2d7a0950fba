import Foundation
import Testing
import KTModel
import KTTestSupport

/// A managed gateway with client keys (`client_auth`): the support bundle, the fleet's events and
/// the gateway's own log never hold a key value.
@Suite(.serialized) struct ClientKeyBundleTests {
    @Test func clientKeysAppearInNoBundleEventOrLog() async throws {
        let h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        let key = "kt-bundle-key-" + UUID().uuidString
        let config = h.dir + "/keys.yaml"
        try """
            pack: { name: keys, version: 1.0.0 }
            providers:
              targets: [{ id: m, provider: mock, model: gpt-5.4-mini }]
            policies: { chain: [audit-logger] }
            policy: { audit-logger: { include_content: true } }
            client_auth:
              keys:
                - { id: team-env, key_ref: { env: KT_BUNDLE_CLIENT_KEY } }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let (gw, port) = try await h.gateway("gw-keys", heartbeat: "500ms", extraEnv: ["KT_BUNDLE_CLIENT_KEY": key], config: config)
        defer { gw.signal(SIGKILL) }
        try await DoctorEndToEndTests.waitOnline(h, ["gw-keys"])
        let ok = await RawClient.post(port: port, path: "/v1/chat/completions", json: #"{"model":"gpt-5.4-mini","messages":[{"role":"user","content":"hi"}]}"#,
                                      headers: ["Authorization": "Bearer \(key)"])
        #expect(ok?.status == 200)
        _ = try await FleetHarness.eventually("the event reached the control plane") { () throws -> Bool? in
            try await h.kt(["events", "tail", "--gateway", "gw-keys", "--no-follow", "--json"]).stdout.contains("team-env") ? true : nil
        }
        let output = h.dir + "/keys.tar.gz"
        let r = try await h.kt(["doctor", "--bundle", "--output", output])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        let tar = try await ChildProcess.system(["gzip", "-dc", output]).stdout
        #expect(tar.contains("effective-config.json") && tar.contains("KT_BUNDLE_CLIENT_KEY"), "the bundle names where the key comes from")
        #expect(!tar.contains(key), "a client key leaked into the support bundle")
        let events = try await h.kt(["events", "tail", "--gateway", "gw-keys", "--no-follow", "--json"]).stdout
        #expect(!events.contains(key))
        #expect(!gw.output.joined().contains(key))
    }
}
