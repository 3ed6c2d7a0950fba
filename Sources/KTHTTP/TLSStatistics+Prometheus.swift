import KTModel

extension PrometheusText {
    /// The TLS series of a listener: handshakes, resumptions, failures by reason (all reasons
    /// always present, so a rate() over a reason that has not happened yet is 0, not absent).
    public mutating func tls(_ s: TLSStatistics) {
        counter("kt_tls_handshakes_total", "TLS handshakes completed.", Double(s.handshakes))
        counter("kt_tls_resumed_total", "TLS handshakes that resumed an earlier session (tickets or session cache).", Double(s.resumed))
        counter("kt_tls_handshake_failures_total", "TLS handshakes that failed, by reason: plain_http (an HTTP request on the TLS port), protocol (no shared version or cipher), client_certificate (missing or untrusted), eof, timeout (not finished within the header timeout), other.",
                TLSStatistics.failureReasons.map { ([("reason", $0)], Double(s.failures[$0] ?? 0)) })
    }
}

extension PrometheusText {
    /// Requests a server refused because partial requests together passed its budget.
    public mutating func partialRequestsShed(_ n: Int) {
        counter("kt_http_partial_requests_shed_total",
                "Requests answered 503 while still arriving, because partly received requests together held more bytes than the server's budget.",
                Double(n))
    }
}
