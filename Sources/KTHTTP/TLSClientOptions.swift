/// What kt's HTTPS clients trust and present, from the environment: the system trust store plus
/// `KEEPTRUSTS_CA_FILE` (a private CA), and for mutual TLS `KEEPTRUSTS_TLS_CLIENT_CERT` /
/// `KEEPTRUSTS_TLS_CLIENT_KEY`.
public struct TLSClientOptions: Sendable, Equatable {
    public var caFile: String?
    public var certificate: String?
    public var key: String?

    public init(caFile: String? = nil, certificate: String? = nil, key: String? = nil) {
        self.caFile = caFile
        self.certificate = certificate
        self.key = key
    }

    /// `clientCertificate`: whether this client presents one (the control-plane clients do;
    /// calls to LLM providers do not).
    public static func fromEnvironment(_ env: [String: String], clientCertificate: Bool) -> TLSClientOptions {
        func value(_ name: String) -> String? { env[name].flatMap { $0.isEmpty ? nil : $0 } }
        return TLSClientOptions(caFile: value("KEEPTRUSTS_CA_FILE"),
                                certificate: clientCertificate ? value("KEEPTRUSTS_TLS_CLIENT_CERT") : nil,
                                key: clientCertificate ? value("KEEPTRUSTS_TLS_CLIENT_KEY") : nil)
    }

    /// What to do about a failed TLS connection, from the library's reason text.
    public static func advice(forReason reason: String) -> String {
        let r = reason.lowercased()
        if r.contains("alert unknown ca") || r.contains("alert bad certificate") {
            return "the server does not accept this client certificate; use one signed by the CA the server trusts (KEEPTRUSTS_TLS_CLIENT_CERT / KEEPTRUSTS_TLS_CLIENT_KEY)"
        }
        if r.contains("certificate required") || r.contains("peer did not return a certificate") {
            return "the server requires a client certificate; set KEEPTRUSTS_TLS_CLIENT_CERT and KEEPTRUSTS_TLS_CLIENT_KEY"
        }
        if r.contains("expired") || r.contains("not yet valid") {
            return "the server's certificate is outside its validity period (expired, or this machine's clock is wrong); renew the certificate"
        }
        if r.contains("subject name") || r.contains("hostname mismatch") || r.contains("host name") || r.contains("ip address mismatch") {
            return "the server's certificate does not name this host; connect by a name its subjectAltName lists, or reissue the certificate"
        }
        if r.contains("local issuer") || r.contains("self-signed") || r.contains("self signed") || r.contains("unknown ca") || r.contains("verify failed") {
            return "the server's certificate is not signed by a CA this client trusts; set KEEPTRUSTS_CA_FILE to the PEM file of the CA that signed it"
        }
        if r.contains("wrong version number") || r.contains("packet length too long") {
            return "the server does not speak TLS on this port; use http:// or the server's HTTPS port"
        }
        return "check the server's certificate and KEEPTRUSTS_CA_FILE"
    }
}
