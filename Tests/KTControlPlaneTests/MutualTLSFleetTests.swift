import Foundation
import Testing
import KTModel
import KTTestSupport

/// A control plane that requires client certificates (`--tls-client-ca`) and binds gateway
/// tokens to them (`--tls-bind-identity`), with managed gateways and the CLI over mutual TLS.
@Suite(.serialized) struct MutualTLSFleetTests {
    @Test func gatewaysRegisterHeartbeatAndApplyPushesOverMutualTLSAndNothingElseGetsIn() async throws {
        guard let pki = try await TestPKI.make() else { return }
        let cli = try await pki.client("operator-cli")
        let h = try await FleetHarness.start(
            extraArgs: ["--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--tls-client-ca", pki.caCert, "--tls-bind-identity"],
            clientEnv: ["KEEPTRUSTS_CA_FILE": pki.caCert, "KEEPTRUSTS_TLS_CLIENT_CERT": cli.cert, "KEEPTRUSTS_TLS_CLIENT_KEY": cli.key])
        defer { h.cp.signal(SIGKILL) }
        #expect(h.cp.output.contains { $0.contains("\"mutual_tls\":true") })

        // A managed gateway with its own certificate: registers, heartbeats, applies a push.
        let gw1 = try await pki.client("gw-1")
        let (g1, _) = try await h.gateway("gw-1", heartbeat: "300ms", extraEnv: ["KEEPTRUSTS_TLS_CLIENT_CERT": gw1.cert, "KEEPTRUSTS_TLS_CLIENT_KEY": gw1.key])
        defer { g1.signal(SIGKILL) }
        _ = try await FleetHarness.eventually("gw-1 online over mutual TLS") { () throws -> Bool? in
            try await h.json(["gateway", "list"]).gateway("gw-1")?["status"]?.stringValue == "online" ? true : nil
        }
        let push = try await h.kt(["config", "push", "--file", Fixtures.path("fleet/good.yaml"), "--gateway", "gw-1", "--source", "mtls",
                                   "--confirm", "--strategy", "all-at-once", "--health-window", "1s", "--min-requests", "0"])
        #expect(push.status == 0, "\(push.stdout)\(push.stderr)")
        let shown = try await h.json(["gateway", "show", "gw-1"])
        #expect(shown["config"]?["applied_sha"]?.stringValue == shown["config"]?["desired_sha"]?.stringValue)
        #expect(shown["config"]?["applied_sha"]?.stringValue?.count == 64)

        // Without a client certificate the handshake itself is refused; the gateway says what to set.
        let (g2, _) = try await h.gateway("gw-2", heartbeat: "300ms", extraEnv: ["KEEPTRUSTS_TLS_CLIENT_CERT": "", "KEEPTRUSTS_TLS_CLIENT_KEY": ""])
        defer { g2.signal(SIGKILL) }
        #expect(await g2.waitForLine(containing: "requires a client certificate; set KEEPTRUSTS_TLS_CLIENT_CERT") != nil, "\(g2.output.suffix(3))")
        // gw-1's certificate with gw-3's token: the token is bound to a certificate naming gw-3.
        let (g3, _) = try await h.gateway("gw-3", heartbeat: "300ms", extraEnv: ["KEEPTRUSTS_TLS_CLIENT_CERT": gw1.cert, "KEEPTRUSTS_TLS_CLIENT_KEY": gw1.key])
        defer { g3.signal(SIGKILL) }
        #expect(await g3.waitForLine(containing: "but the client certificate names gw-1;") != nil, "\(g3.output.suffix(3))")
        let ids = try await h.json(["gateway", "list"])["gateways"]?.arrayValue?.compactMap { $0["id"]?.stringValue }
        #expect(ids == ["gw-1"])

        // The CLI with the wrong CA exits 1 and names the certificate problem and what to set.
        let wrong = h.env.merging(["KEEPTRUSTS_CA_FILE": pki.otherCACert]) { $1 }
        let listed = try await onThread { Result { try ChildProcess.runToEnd(["gateway", "list"], environment: wrong) } }.get()
        #expect(listed.status == 1)
        #expect(listed.stderr.contains("127.0.0.1") && listed.stderr.contains("KEEPTRUSTS_CA_FILE"), "\(listed.stderr)")
        #expect(!listed.stderr.contains("Is the control plane running"))
        // Plain curl without a certificate gets no answer; with one, /metrics needs a token as ever.
        #expect(try await pki.curl("https://127.0.0.1:\(h.port)/healthz").status == 0)
        let metrics = try await pki.curl("https://127.0.0.1:\(h.port)/metrics", ["--cert", cli.cert, "--key", cli.key, "-H", "Authorization: Bearer \(h.admin)"])
        #expect(metrics.status == 200 && metrics.body.contains(#"kt_tls_handshake_failures_total{reason="client_certificate"}"#))
    }
}
