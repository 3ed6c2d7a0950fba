import Foundation
import Testing
import KTModel
import KTTestSupport

/// Every endpoint needs a token; roles limit what it may do; token values never leak.
@Suite struct SecurityTests {
    @Test func rolesAndTokenSecrecy() async throws {
        let h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        let viewer = try await h.createToken(role: "viewer")
        let gwX = try await h.createToken(role: "gateway", gatewayID: "gw-x")
        let op = try await h.createToken(role: "operator")

        // No token, a wrong token: 401.
        #expect(await h.send("GET", "/v1/gateways", token: nil).0 == 401)
        #expect(await h.send("GET", "/v1/gateways", token: "kta_not-a-real-token").0 == 401)
        #expect(await h.send("GET", "/v1/events", token: nil).0 == 401)
        #expect(await h.send("GET", "/v1/health", token: nil).0 == 401)
        #expect(await h.send("POST", "/v1/gateways/register", token: nil, body: "{}").0 == 401)

        // Viewer reads but cannot push, drive rollouts or manage tokens; the 403 names the permission.
        #expect(await h.send("GET", "/v1/gateways", token: viewer).0 == 200)
        let push = await h.send("POST", "/v1/rollouts", token: viewer, body: "{}")
        #expect(push.0 == 403)
        #expect(push.1.contains("config:push"))
        let mint = await h.send("POST", "/v1/tokens", token: viewer, body: #"{"role":"admin"}"#)
        #expect(mint.0 == 403)
        #expect(mint.1.contains("tokens:manage"))
        #expect(await h.send("POST", "/v1/tokens", token: op, body: #"{"role":"admin"}"#).0 == 403)

        // A gateway token acts only as its own gateway and cannot read the fleet.
        let fleet = await h.send("GET", "/v1/gateways", token: gwX)
        #expect(fleet.0 == 403)
        #expect(fleet.1.contains("fleet:read"))
        #expect(await h.send("GET", "/v1/events", token: gwX).0 == 403)
        #expect(await h.send("POST", "/v1/gateways/register", token: gwX, body: #"{"id":"gw-x","version":"0.1.0"}"#).0 == 200)
        #expect(await h.send("POST", "/v1/gateways/register", token: gwX, body: #"{"id":"gw-y"}"#).0 == 403)
        let other = await h.send("POST", "/v1/gateways/gw-y/heartbeat", token: gwX, body: #"{"traffic":{"requests":1}}"#)
        #expect(other.0 == 403)
        #expect(other.1.contains("bound to gateway 'gw-x'"))
        #expect(await h.send("POST", "/v1/gateways/gw-x/heartbeat", token: gwX, body: #"{"traffic":{"requests":1}}"#).0 == 200)
        #expect(await h.send("GET", "/v1/gateways/gw-y/config?wait=0s", token: gwX).0 == 403)
        #expect(await h.send("POST", "/v1/gateways/gw-y/events", token: gwX, body: #"{"events":[]}"#).0 == 403)

        // Malformed bodies get a clear 400, never a crash.
        let bad = await h.send("POST", "/v1/gateways/gw-x/heartbeat", token: gwX, body: "{not json")
        #expect(bad.0 == 400)
        #expect(bad.1.contains("not valid JSON"))
        #expect(await h.send("POST", "/v1/gateways/gw-x/heartbeat", token: gwX, body: #"{"traffic":{"requests":-1}}"#).0 == 400)
        #expect(await h.send("POST", "/v1/gateways/gw-x/events", token: gwX, body: #"{"events":[{"verdict":"maybe"}]}"#).0 == 400)
        #expect(await h.send("GET", "/healthz", token: nil).0 == 200)

        // Revoked tokens stop working at once.
        let list = try await h.json(["control-plane", "token", "list"])
        let viewerID = try #require(list["tokens"]?.arrayValue?.first { $0["role"]?.stringValue == "viewer" }?["id"]?.stringValue)
        #expect(try await h.kt(["control-plane", "token", "revoke", viewerID]).status == 0)
        #expect(await h.send("GET", "/v1/gateways", token: viewer).0 == 401)

        // Token values never appear after creation: not in listings, logs or the database file.
        let listing = try await h.kt(["control-plane", "token", "list", "--json"]).stdout + (try await h.kt(["control-plane", "token", "list"]).stdout)
        let db = try Data(contentsOf: URL(fileURLWithPath: h.dir + "/cp/kt.db")) + ((try? Data(contentsOf: URL(fileURLWithPath: h.dir + "/cp/kt.db-wal"))) ?? Data())
        let dbText = String(decoding: db, as: UTF8.self)
        let logs = h.cp.output.filter { !$0.contains("Admin token") && !$0.contains("export KEEPTRUSTS_API_URL") && !$0.hasPrefix("  kta_") }.joined(separator: "\n")
        for secret in [viewer, gwX, op, h.admin] {
            #expect(!listing.contains(secret))
            #expect(!dbText.contains(secret))
            #expect(!logs.contains(secret))
        }
        let fileMode = try FileManager.default.attributesOfItem(atPath: h.dir + "/cp/admin-token")[.posixPermissions] as? Int
        #expect(fileMode == 0o600)
    }

    /// Events are the gateways' own JSON (a field may come from a client's request); whatever
    /// they hold, the text forms of `events tail` and `gateway show` print escapes, never the
    /// control sequences themselves (a title change, a cursor move, a hidden or reordered row).
    @Test func gatewaySuppliedTextCannotDriveTheOperatorsTerminal() async throws {
        let h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        let gwX = try await h.createToken(role: "gateway", gatewayID: "gw-x")
        #expect(await h.send("POST", "/v1/gateways/register", token: gwX, body: #"{"id":"gw-x","version":"0.1.0"}"#).0 == 200)
        let hostile = #"{"events":[{"verdict":"block","status":409,"time":"2026-12-01T10:00:00.000Z","id":"req_\u001b[2J","#
            + #""reason_code":"x\u001b]0;owned\u0007\u009b31m\u202egnp.exe\nfake row","latency_ms":1}]}"#
        #expect(await h.send("POST", "/v1/gateways/gw-x/events", token: gwX, body: hostile).0 == 200)
        let tail = try await FleetHarness.eventually("the event stored") { () throws -> String? in
            let t = try await h.kt(["events", "tail", "--gateway", "gw-x", "--no-follow"]).stdout
            return t.contains("req_") ? t : .none
        }
        let show = try await h.kt(["gateway", "show", "gw-x"]).stdout
        for text in [tail, show] {
            #expect(!text.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x9B || $0.value == 0x202E }, "\(text)")
            #expect(text.contains(#"req_\x1b[2J"#) && text.contains(#"x\x1b]0;owned\x07\x9b31m\u202egnp.exe\nfake row"#), "\(text)")
            #expect(!text.split(separator: "\n").contains { $0.hasPrefix("fake row") })
        }
        // --json keeps the event as received (its serializer escapes the C0 controls).
        let json = try await h.kt(["events", "tail", "--gateway", "gw-x", "--no-follow", "--json"]).stdout
        #expect(json.contains(#"\u001b]0;owned"#) && !json.unicodeScalars.contains { $0.value == 0x1B })
    }

    /// A gateway token holder cannot fill the store, the listing or a live subscriber's buffer
    /// with huge events: each one is cut to its decision before it is stored.
    @Test func aGatewayTokenCannotStoreHugeEvents() async throws {
        let h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        let gwX = try await h.createToken(role: "gateway", gatewayID: "gw-x")
        #expect(await h.send("POST", "/v1/gateways/register", token: gwX, body: #"{"id":"gw-x","version":"0.1.0"}"#).0 == 200)
        let padding = String(repeating: "p", count: 1 << 20)
        let body = #"{"events":[{"verdict":"allow","status":200,"id":"req_big","content":{"prompt":["\#(padding)"],"response":"ok"},"junk":"\#(padding)"}]}"#
        #expect(await h.send("POST", "/v1/gateways/gw-x/events", token: gwX, body: body).0 == 200)
        let (status, text) = await h.send("GET", "/v1/events?gateway=gw-x", token: h.admin)
        #expect(status == 200)
        #expect(text.utf8.count < 70_000, "\(text.utf8.count) bytes listed")
        let stored = try #require(try JSONValue.parse(text)["events"]?.arrayValue?.first)
        #expect(stored["id"]?.stringValue == "req_big" && stored["truncated"]?.boolValue == true && stored["junk"] == nil)
        #expect(await h.send("GET", "/healthz", token: nil).0 == 200)
    }

    @Test func cliErrorsWhenUnconfiguredOrUnreachable() async throws {
        let unset = try await ChildProcess.runToEnd(["gateway", "list"], environment: ["KEEPTRUSTS_API_URL": "", "KEEPTRUSTS_API_TOKEN": ""])
        #expect(unset.status == 2)
        #expect(unset.stderr.contains("KEEPTRUSTS_API_URL is not set"))
        let noToken = try await ChildProcess.runToEnd(["gateway", "list"], environment: ["KEEPTRUSTS_API_URL": "http://127.0.0.1:9", "KEEPTRUSTS_API_TOKEN": ""])
        #expect(noToken.stderr.contains("KEEPTRUSTS_API_TOKEN is not set"))
        let down = try await ChildProcess.runToEnd(["gateway", "health"], environment: ["KEEPTRUSTS_API_URL": "http://127.0.0.1:9", "KEEPTRUSTS_API_TOKEN": "x"])
        #expect(down.status == 1)
        #expect(down.stderr.contains("cannot reach the control plane at http://127.0.0.1:9"))
    }
}
