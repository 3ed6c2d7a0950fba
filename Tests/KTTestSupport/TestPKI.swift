import Foundation

/// A private CA made with the `openssl` CLI for one test: a server certificate for 127.0.0.1 and
/// localhost, client certificates named after gateway ids, and a second, unrelated CA.
public struct TestPKI: Sendable {
    public let dir: String
    public var caCert: String { dir + "/ca.pem" }
    public var serverCert: String { dir + "/server.pem" }
    public var serverKey: String { dir + "/server.key" }
    /// A CA nothing here is signed by (the "wrong CA" case).
    public var otherCACert: String { dir + "/other-ca.pem" }

    public struct Failure: Error, CustomStringConvertible { public var description: String }

    /// Skips (returns nil with the reason printed) when the `openssl` CLI is missing.
    public static func make() async throws -> TestPKI? {
        guard (try? await ChildProcess.system(["openssl", "version"]))?.status == 0 else {
            print("skipped: the openssl CLI is not installed (apt-get install openssl)")
            return nil
        }
        let pki = TestPKI(dir: try Fixtures.tempDir())
        try await pki.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                               "-subj", "/CN=kt test CA", "-keyout", pki.dir + "/ca.key", "-out", pki.caCert,
                               "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        try await pki.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                               "-subj", "/CN=unrelated CA", "-keyout", pki.dir + "/other-ca.key", "-out", pki.otherCACert])
        try await pki.issue(name: "server", cn: "kt test server", san: "DNS:localhost,IP:127.0.0.1", usage: "serverAuth")
        return pki
    }

    /// A client certificate (CN and DNS SAN = `name`); returns (certificate, key).
    @discardableResult
    public func client(_ name: String) async throws -> (cert: String, key: String) {
        try await issue(name: "client-\(name)", cn: name, san: "DNS:\(name)", usage: "clientAuth")
        return (dir + "/client-\(name).pem", dir + "/client-\(name).key")
    }

    /// A fresh server certificate (another serial, same names) for reload tests.
    public func reissueServer(as name: String) async throws -> (cert: String, key: String) {
        try await issue(name: name, cn: "kt test server \(name)", san: "DNS:localhost,IP:127.0.0.1", usage: "serverAuth")
        return (dir + "/\(name).pem", dir + "/\(name).key")
    }

    func issue(name: String, cn: String, san: String, usage: String) async throws {
        let ext = dir + "/\(name).ext"
        try "subjectAltName=\(san)\nextendedKeyUsage=\(usage)\nbasicConstraints=CA:FALSE\n".write(toFile: ext, atomically: true, encoding: .utf8)
        try await openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=\(cn)",
                           "-keyout", dir + "/\(name).key", "-out", dir + "/\(name).csr"])
        try await openssl(["x509", "-req", "-in", dir + "/\(name).csr", "-CA", caCert, "-CAkey", dir + "/ca.key", "-CAcreateserial",
                           "-days", "2", "-extfile", ext, "-out", dir + "/\(name).pem"])
    }

    func openssl(_ args: [String]) async throws {
        let r = try await ChildProcess.system(["openssl"] + args)
        guard r.status == 0 else { throw Failure(description: "openssl \(args.prefix(2).joined(separator: " ")) failed: \(r.stderr)") }
    }

    /// `curl` over HTTPS trusting this CA; returns (exit status, HTTP status or 0, body, stderr).
    public func curl(_ url: String, _ extra: [String] = []) async throws -> (exit: Int32, status: Int, body: String, stderr: String) {
        let r = try await ChildProcess.system(["curl", "-sS", "--cacert", caCert, "--max-time", "20", "-w", "\n%{http_code}", url] + extra)
        var lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let code = Int(lines.popLast() ?? "") ?? 0
        return (r.status, code, lines.joined(separator: "\n"), r.stderr)
    }
}
