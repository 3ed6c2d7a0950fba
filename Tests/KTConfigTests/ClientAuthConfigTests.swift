import Testing
import KTModel
@testable import KTConfig

/// `client_auth` and `user_rate_limit.key_by` are decoded strictly, with the path of each mistake.
@Suite struct ClientAuthConfigTests {
    let base = """
        pack: { name: keys, version: 1.0.0 }
        providers:
          targets: [{ id: m, provider: mock, model: gpt-test }]
        policies: { chain: [] }

        """
    let hash = String(repeating: "ab", count: 32)

    func errors(_ extra: String) -> [ConfigDiagnostic] {
        do { _ = try ConfigLoader().load(text: base + extra, name: "c.yaml"); return [] } catch { return error.errors }
    }

    @Test func bothKeySourcesAndTheHeaderDecode() throws {
        let c = try ConfigLoader().load(text: base + """
            client_auth:
              header: x-api-key
              keys:
                - { id: team-a, sha256: "\(hash.uppercased())" }
                - { id: team-b, key_ref: { file: /run/secrets/b } }
            user_rate_limit: { max_requests: 5, window_seconds: 60, key_by: client_key }
            """, name: "c.yaml").config
        let auth = try #require(c.clientAuth)
        #expect(auth.header == .xAPIKey)
        #expect(auth.keys == [.init(id: "team-a", source: .sha256(hash)), .init(id: "team-b", source: .ref(.file("/run/secrets/b")))])
        #expect(c.userRateLimit?.keyBy == .clientKey)
    }

    @Test(arguments: [
        ("client_auth: { keys: [{ id: a, sha256: \"not-hex\" }] }", "client_auth.keys[0].sha256", "64 hex digits"),
        ("client_auth: { keys: [{ id: a }] }", "client_auth.keys[0]", "needs sha256"),
        ("client_auth: { keys: [{ id: a, sha256: \"\(String(repeating: "ab", count: 32))\", key_ref: { env: K } }] }", "client_auth.keys[0]", "exactly one"),
        ("client_auth: { keys: [{ id: a, key_ref: { env: K } }, { id: a, key_ref: { env: L } }] }", "client_auth.keys[1].id", "used twice"),
        ("client_auth: { keys: [] }", "client_auth.keys", "at least one key"),
        ("client_auth: { header: cookie, keys: [{ id: a, key_ref: { env: K } }] }", "client_auth.header", "authorization or x-api-key"),
        ("client_auth: { keys: [{ id: a, key: plain-text }] }", "client_auth.keys[0].key", "unknown key"),
        ("user_rate_limit: { max_requests: 5, window_seconds: 60, key_by: client_key }", "user_rate_limit.key_by", "needs a client_auth block"),
        ("user_rate_limit: { max_requests: 5, window_seconds: 60, key_by: ip }", "user_rate_limit.key_by", "header or client_key"),
    ])
    func mistakesAreNamed(_ yaml: String, _ path: String, _ phrase: String) {
        let found = errors(yaml)
        #expect(found.contains { $0.path == path && $0.message.contains(phrase) }, "got \(found.map { "\($0.path): \($0.message)" })")
    }
}
