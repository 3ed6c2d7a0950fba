import KTHTTP

/// `--tls-cert` / `--tls-key` (and their environment variables) of the servers.
enum TLSFlags {
    static func server(_ args: ParsedArguments, _ env: [String: String], command: String,
                       clientCA: String? = nil) throws(UsageError) -> TLSServerContext.Files? {
        let cert = args.value("tls-cert") ?? env["KEEPTRUSTS_TLS_CERT"].flatMap { $0.isEmpty ? nil : $0 }
        let key = args.value("tls-key") ?? env["KEEPTRUSTS_TLS_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        switch (cert, key) {
        case (nil, nil):
            if clientCA != nil { throw UsageError("--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS first)", command: command) }
            return nil
        case (let c?, let k?):
            return TLSServerContext.Files(certificate: c, key: k, clientCA: clientCA)
        case (nil, _):
            throw UsageError("--tls-key needs --tls-cert (KEEPTRUSTS_TLS_CERT) too", command: command)
        case (_, nil):
            throw UsageError("--tls-cert needs --tls-key (KEEPTRUSTS_TLS_KEY) too", command: command)
        }
    }

    static let serverOptions = [
        OptionSpec("tls-cert", value: "FILE", "serve HTTPS with this PEM certificate chain (KEEPTRUSTS_TLS_CERT); SIGHUP reloads it"),
        OptionSpec("tls-key", value: "FILE", "the certificate's PEM private key (KEEPTRUSTS_TLS_KEY)"),
    ]
}
