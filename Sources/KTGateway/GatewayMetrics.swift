import Foundation
import Synchronization
import KTPolicy

/// Counters and histograms for `/metrics` (Prometheus text exposition 0.0.4).
public final class GatewayMetrics: Sendable {
    /// Latency bucket upper bounds in seconds.
    public static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

    struct Histogram {
        var counts = [Int](repeating: 0, count: GatewayMetrics.buckets.count)
        var sum = 0.0
        var count = 0
        mutating func observe(_ seconds: Double) {
            if let i = GatewayMetrics.buckets.firstIndex(where: { seconds <= $0 }) { counts[i] += 1 }
            sum += seconds
            count += 1
        }
    }

    struct RequestKey: Hashable { var route: String; var status: Int; var target: String }
    struct ErrorKey: Hashable { var target: String; var kind: String }

    struct State {
        var requests: [RequestKey: Int] = [:]
        var latency: [String: Histogram] = [:]
        var overhead = Histogram()
        var upstreamLatency: [String: Histogram] = [:]
        var upstreamErrors: [ErrorKey: Int] = [:]
        var fallbacks = 0
        var processed = 0
        var reloads: [String: Int] = [:]
    }

    private let state = Mutex(State())
    private let inFlight = Atomic<Int>(0)

    public init() {}

    public func beginRequest() -> Int { inFlight.wrappingAdd(1, ordering: .relaxed).newValue }
    public func endRequest() { inFlight.wrappingSubtract(1, ordering: .relaxed) }
    public var inFlightCount: Int { inFlight.load(ordering: .relaxed) }

    public func recordRequest(route: String, status: Int, target: String?, seconds: Double, overheadSeconds: Double?) {
        state.withLock { s in
            s.requests[RequestKey(route: route, status: status, target: target ?? ""), default: 0] += 1
            s.latency[route, default: Histogram()].observe(seconds)
            if let o = overheadSeconds { s.overhead.observe(o) }
            s.processed += 1
        }
    }

    public func recordUpstream(target: String, seconds: Double) {
        state.withLock { $0.upstreamLatency[target, default: Histogram()].observe(seconds) }
    }

    public func recordUpstreamError(target: String, kind: String) {
        state.withLock { $0.upstreamErrors[ErrorKey(target: target, kind: kind), default: 0] += 1 }
    }

    public func recordFallback() { state.withLock { $0.fallbacks += 1 } }
    public func recordReload(ok: Bool) { state.withLock { $0.reloads[ok ? "ok" : "rejected", default: 0] += 1 } }

    public var requestsProcessed: Int { state.withLock { $0.processed } }

    /// Prometheus text; `breakers` are current breaker gauge values by target.
    public func render(breakers: [(String, Int)], configInfo: (version: String, sha: String)?, audit: AuditLog.Health? = nil) -> String {
        let s = state.withLock { $0 }
        var out = ""
        func esc(_ v: String) -> String {
            v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
        }
        func fmt(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d) }
        func histogram(_ name: String, _ labels: String, _ h: Histogram) {
            var cumulative = 0
            let sep = labels.isEmpty ? "" : ","
            for (i, bound) in GatewayMetrics.buckets.enumerated() {
                cumulative += h.counts[i]
                out += "\(name)_bucket{\(labels)\(sep)le=\"\(fmt(bound))\"} \(cumulative)\n"
            }
            out += "\(name)_bucket{\(labels)\(sep)le=\"+Inf\"} \(h.count)\n"
            out += "\(name)_sum\(labels.isEmpty ? "" : "{\(labels)}") \(s.processed >= 0 ? String(h.sum) : "0")\n"
            out += "\(name)_count\(labels.isEmpty ? "" : "{\(labels)}") \(h.count)\n"
        }
        out += "# HELP kt_requests_total Requests answered, by route, status and provider target.\n# TYPE kt_requests_total counter\n"
        for (k, v) in s.requests.sorted(by: { ($0.key.route, $0.key.status, $0.key.target) < ($1.key.route, $1.key.status, $1.key.target) }) {
            out += "kt_requests_total{route=\"\(esc(k.route))\",status=\"\(k.status)\",target=\"\(esc(k.target))\"} \(v)\n"
        }
        out += "# HELP kt_request_duration_seconds Time to answer a request, by route.\n# TYPE kt_request_duration_seconds histogram\n"
        for (route, h) in s.latency.sorted(by: { $0.key < $1.key }) { histogram("kt_request_duration_seconds", "route=\"\(esc(route))\"", h) }
        out += "# HELP kt_overhead_seconds Time the gateway itself added, excluding the upstream.\n# TYPE kt_overhead_seconds histogram\n"
        histogram("kt_overhead_seconds", "", s.overhead)
        out += "# HELP kt_upstream_duration_seconds Upstream time per attempt, by target.\n# TYPE kt_upstream_duration_seconds histogram\n"
        for (t, h) in s.upstreamLatency.sorted(by: { $0.key < $1.key }) { histogram("kt_upstream_duration_seconds", "target=\"\(esc(t))\"", h) }
        out += "# HELP kt_upstream_errors_total Failed upstream attempts, by target and class.\n# TYPE kt_upstream_errors_total counter\n"
        for (k, v) in s.upstreamErrors.sorted(by: { ($0.key.target, $0.key.kind) < ($1.key.target, $1.key.kind) }) {
            out += "kt_upstream_errors_total{target=\"\(esc(k.target))\",class=\"\(k.kind)\"} \(v)\n"
        }
        out += "# HELP kt_fallbacks_total Requests moved to a later target after a failure.\n# TYPE kt_fallbacks_total counter\nkt_fallbacks_total \(s.fallbacks)\n"
        out += "# HELP kt_circuit_breaker_state Breaker state per target: 0 closed, 1 open, 2 half-open.\n# TYPE kt_circuit_breaker_state gauge\n"
        for (t, v) in breakers { out += "kt_circuit_breaker_state{target=\"\(esc(t))\"} \(v)\n" }
        out += "# HELP kt_requests_in_flight Requests being handled now.\n# TYPE kt_requests_in_flight gauge\nkt_requests_in_flight \(inFlightCount)\n"
        out += "# HELP kt_config_reloads_total Config reloads, by result.\n# TYPE kt_config_reloads_total counter\n"
        for (k, v) in s.reloads.sorted(by: { $0.key < $1.key }) { out += "kt_config_reloads_total{result=\"\(k)\"} \(v)\n" }
        if let a = audit {
            out += "# HELP kt_audit_healthy 1 while the audit log stores records, 0 while writes fail.\n# TYPE kt_audit_healthy gauge\nkt_audit_healthy \(a.ok ? 1 : 0)\n"
            out += "# HELP kt_audit_records_total Audit records by outcome: written (durable), failed (a write or fsync failed), dropped (the writer's queue was full).\n# TYPE kt_audit_records_total counter\n"
            out += "kt_audit_records_total{outcome=\"written\"} \(a.recordsWritten)\nkt_audit_records_total{outcome=\"failed\"} \(a.recordsFailed)\nkt_audit_records_total{outcome=\"dropped\"} \(a.recordsDropped)\n"
            out += "# HELP kt_audit_write_errors_total Failed audit writes and fsyncs.\n# TYPE kt_audit_write_errors_total counter\nkt_audit_write_errors_total \(a.writeErrors)\n"
            out += "# HELP kt_audit_rejected_requests_total Requests refused because strict audit could not store records.\n# TYPE kt_audit_rejected_requests_total counter\nkt_audit_rejected_requests_total \(a.requestsRejected)\n"
        }
        if let c = configInfo {
            out += "# HELP kt_config_info The running config.\n# TYPE kt_config_info gauge\nkt_config_info{version=\"\(esc(c.version))\",sha=\"\(c.sha)\"} 1\n"
        }
        return out
    }
}
