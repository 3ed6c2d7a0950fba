import Foundation
import Testing
import KTTestSupport
@testable import KTHTTP

/// HTTPS on our own event loop, against real clients (curl, `openssl s_client`) and a private CA
/// made by the `openssl` CLI in the test.
@Suite(.serialized) struct HTTPServerTLSTests {
    func start(_ pki: TestPKI, clientCA: String? = nil, headerTimeout: Duration = .seconds(10)) async throws -> TestServer {
        let context = try TLSServerContext(.init(certificate: pki.serverCert, key: pki.serverKey, clientCA: clientCA))
        return try await TestServer.start { c in
            c.tls = context
            c.headerTimeout = headerTimeout
        }
    }


    @Test func curlGetsJSONAndStreamsOverTLS12And13() async throws {
        guard let pki = try await TestPKI.make() else { return }
        let t = try await start(pki)
        defer { Task { await t.server.shutdown() } }
        for versions in [["--tlsv1.3"], ["--tlsv1.2", "--tls-max", "1.2"]] {
            let hello = try await pki.curl("https://127.0.0.1:\(t.port)/hello", versions)
            #expect(hello.exit == 0 && hello.status == 200 && hello.body == "hello", "\(versions): \(hello.stderr)")
            let stream = try await pki.curl("https://localhost:\(t.port)/stream?n=50", versions + ["-N"])
            #expect(stream.status == 200 && stream.body.components(separatedBy: "data: ").count == 51, "\(versions): \(stream.stderr)")
        }
        // A large body crosses many TLS records and partial writes.
        let echo = try await pki.curl("https://127.0.0.1:\(t.port)/big")
        #expect(echo.body.utf8.count == 65_536)
        #expect(t.server.tlsStatistics.handshakes >= 5)
    }

    @Test func alpnIsHTTP11AndSessionsResume() async throws {
        guard let pki = try await TestPKI.make() else { return }
        let t = try await start(pki)
        defer { Task { await t.server.shutdown() } }
        let session = pki.dir + "/session.pem"
        let first = try await ChildProcess.system(["sh", "-c", "echo | openssl s_client -connect 127.0.0.1:\(t.port) -tls1_2 -alpn h2,http/1.1 -CAfile \(pki.caCert) -sess_out \(session) 2>&1"])
        #expect(first.stdout.contains("ALPN protocol: http/1.1"), "\(first.stdout.suffix(600))")
        #expect(first.stdout.contains("Verify return code: 0 (ok)"))
        let second = try await ChildProcess.system(["sh", "-c", "echo | openssl s_client -connect 127.0.0.1:\(t.port) -tls1_2 -CAfile \(pki.caCert) -sess_in \(session) 2>&1"])
        #expect(second.stdout.contains("Reused, TLSv1.2"), "\(second.stdout.suffix(600))")
        #expect(await poll("the resumption is counted") { t.server.tlsStatistics.resumed == 1 })
    }

    @Test func tls11PlainHTTPAndSilentClientsAreRefusedAndCounted() async throws {
        guard let pki = try await TestPKI.make() else { return }
        let t = try await start(pki, headerTimeout: .milliseconds(800))
        defer { Task { await t.server.shutdown() } }
        // TLS 1.1, with the client's own floor lowered so the refusal is the server's.
        let old = try await ChildProcess.system(["sh", "-c", "echo | openssl s_client -connect 127.0.0.1:\(t.port) -tls1_1 -cipher DEFAULT@SECLEVEL=0 2>&1"])
        #expect(old.stdout.contains("alert protocol version"), "\(old.stdout.suffix(400))")
        #expect(await poll("TLS 1.1 is counted as a protocol failure") { t.server.tlsStatistics.failures["protocol"] == 1 })

        // Plain HTTP on the TLS port: a clean close, no answer, no crash.
        let plain = await onThread { () -> (bytes: [UInt8], closed: Bool)? in
            guard let c = try? RawClient(port: t.port) else { return nil }
            c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            return c.readToEOF()
        }
        #expect(plain?.closed == true)
        #expect(plain.map { !String(decoding: $0.bytes, as: UTF8.self).contains("hello") } == true)
        #expect(await poll("plain HTTP is counted") { t.server.tlsStatistics.failures["plain_http"] == 1 })

        // A TCP connection that never starts the handshake is cut off by the header timeout.
        let silent = await onThread { () -> (bytes: [UInt8], closed: Bool)? in
            (try? RawClient(port: t.port, timeoutSeconds: 10))?.readToEOF()
        }
        #expect(silent?.closed == true && silent?.bytes.isEmpty == true)
        #expect(t.server.tlsStatistics.failures["timeout"] == 1)
        // And the server still serves.
        #expect(try await pki.curl("https://127.0.0.1:\(t.port)/hello").status == 200)
    }

    @Test func clientCertificatesAreRequiredAndTheirNamesReachTheHandler() async throws {
        guard let pki = try await TestPKI.make() else { return }
        let context = try TLSServerContext(.init(certificate: pki.serverCert, key: pki.serverKey, clientCA: pki.caCert))
        let server = try HTTPServer(configuration: { var c = HTTPServer.Configuration(host: "127.0.0.1", port: 0); c.tls = context; return c }()) { req, w in
            w.respond(status: 200, body: Array(req.peerCertificateNames.joined(separator: ",").utf8))
        }
        let port = try await server.start()
        defer { Task { await server.shutdown() } }
        let client = try await pki.client("gw-7")
        let ok = try await pki.curl("https://127.0.0.1:\(port)/", ["--cert", client.cert, "--key", client.key])
        #expect(ok.status == 200 && ok.body == "gw-7", "\(ok.stderr)")
        let without = try await pki.curl("https://127.0.0.1:\(port)/")
        #expect(without.status == 0 && without.exit != 0)
        #expect(await poll("the missing certificate is counted") { server.tlsStatistics.failures["client_certificate"] == 1 })
    }
}
