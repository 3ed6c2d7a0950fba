import Foundation
import Synchronization
import KTModel
import KTPolicy
import KTHTTP

/// Counters and histograms for `/metrics` (Prometheus text exposition 0.0.4). Every label value
/// comes from a bounded set: served routes (or `other`), configured targets, policy kinds,
/// verdicts and the policies' reason codes.
public final class GatewayMetrics: Sendable {
    struct RequestKey: Hashable { var route: String; var status: Int; var target: String }
    struct ErrorKey: Hashable { var target: String; var kind: String }
    struct DecisionKey: Hashable { var policy: String; var verdict: String; var reason: String }

    struct State {
        var requests: [RequestKey: Int] = [:]
        var latency: [String: PrometheusHistogram] = [:]
        var overhead = PrometheusHistogram(bounds: PrometheusHistogram.overheadBuckets)
        var upstreamLatency: [String: PrometheusHistogram] = [:]
        var upstreamErrors: [ErrorKey: Int] = [:]
        var decisions: [DecisionKey: Int] = [:]
        var fallbacks = 0
        var processed = 0
        var reloads: [String: Int] = [:]
        /// Requests refused for want of a valid client key, by reason (missing, unknown).
        var clientAuthFailures: [String: Int] = [:]
    }

    /// Distinct (policy, verdict, reason) series kept; reason codes come from the policies, but a
    /// bound keeps a config with many named patterns from growing the exposition without end.
    static let maxDecisionSeries = 512

    private let state = Mutex(State())
    private let inFlight = Atomic<Int>(0)

    public init() {}

    public func beginRequest() -> Int { inFlight.wrappingAdd(1, ordering: .relaxed).newValue }
    public func endRequest() { inFlight.wrappingSubtract(1, ordering: .relaxed) }
    public var inFlightCount: Int { inFlight.load(ordering: .relaxed) }

    public func recordRequest(route: String, status: Int, target: String?, seconds: Double, overheadSeconds: Double?) {
        state.withLock { s in
            s.requests[RequestKey(route: route, status: status, target: target ?? ""), default: 0] += 1
            s.latency[route, default: PrometheusHistogram()].observe(seconds)
            if let o = overheadSeconds { s.overhead.observe(o) }
            s.processed += 1
        }
    }

    /// One policy's result in a request (or response) phase.
    public func recordDecision(policy: String, verdict: String, reason: String) {
        state.withLock { s in
            var key = DecisionKey(policy: policy, verdict: verdict, reason: reason)
            if s.decisions[key] == nil, s.decisions.count >= Self.maxDecisionSeries { key.reason = "other" }
            s.decisions[key, default: 0] += 1
        }
    }

    public func recordUpstream(target: String, seconds: Double) {
        state.withLock { $0.upstreamLatency[target, default: PrometheusHistogram()].observe(seconds) }
    }

    public func recordUpstreamError(target: String, kind: String) {
        state.withLock { $0.upstreamErrors[ErrorKey(target: target, kind: kind), default: 0] += 1 }
    }

    public func recordFallback() { state.withLock { $0.fallbacks += 1 } }
    public func recordReload(ok: Bool) { state.withLock { $0.reloads[ok ? "ok" : "rejected", default: 0] += 1 } }

    public func recordClientAuthFailure(_ reason: String) { state.withLock { $0.clientAuthFailures[reason, default: 0] += 1 } }

    public var requestsProcessed: Int { state.withLock { $0.processed } }

    /// What the managed agent reports about its event upload queue (nil in standalone mode).
    public struct EventQueue: Sendable {
        public var queued: Int
        public var dropped: Int
        public var uploaded: Int
        public init(queued: Int, dropped: Int, uploaded: Int) {
            self.queued = queued
            self.dropped = dropped
            self.uploaded = uploaded
        }
    }

    /// Prometheus text; `breakers` are current breaker gauge values by target.
    public func render(breakers: [(String, Int)], configInfo: (version: String, sha: String)?, audit: AuditLog.Health? = nil,
                       events: EventQueue? = nil, tls: TLSStatistics? = nil, shedRequests: Int = 0) -> String {
        let s = state.withLock { $0 }
        var out = PrometheusText()
        out.counter("kt_requests_total", "Requests answered, by route, status and provider target.",
                    s.requests.sorted { ($0.key.route, $0.key.status, $0.key.target) < ($1.key.route, $1.key.status, $1.key.target) }
                        .map { ([("route", $0.key.route), ("status", String($0.key.status)), ("target", $0.key.target)], Double($0.value)) })
        out.histogram("kt_request_duration_seconds", "Time to answer a request, by route.",
                      s.latency.keys.sorted().map { ([("route", $0)], s.latency[$0]!) })
        out.histogram("kt_overhead_seconds", "Time the gateway itself added to a proxied request, excluding the upstream (buckets from 50 µs).",
                      [([], s.overhead)])
        out.histogram("kt_upstream_duration_seconds", "Upstream time per attempt, by target.",
                      s.upstreamLatency.keys.sorted().map { ([("target", $0)], s.upstreamLatency[$0]!) })
        out.counter("kt_upstream_errors_total", "Failed upstream attempts, by target and class.",
                    s.upstreamErrors.sorted { ($0.key.target, $0.key.kind) < ($1.key.target, $1.key.kind) }
                        .map { ([("target", $0.key.target), ("class", $0.key.kind)], Double($0.value)) })
        out.counter("kt_policy_decisions_total", "Policy results, by policy, verdict and reason code.",
                    s.decisions.sorted { ($0.key.policy, $0.key.verdict, $0.key.reason) < ($1.key.policy, $1.key.verdict, $1.key.reason) }
                        .map { ([("policy", $0.key.policy), ("verdict", $0.key.verdict), ("reason", $0.key.reason)], Double($0.value)) })
        out.counter("kt_fallbacks_total", "Requests moved to a later target after a failure.", Double(s.fallbacks))
        out.gauge("kt_circuit_breaker_state", "Breaker state per target: 0 closed, 1 open, 2 half-open.", breakers.map { ([("target", $0.0)], Double($0.1)) })
        out.gauge("kt_requests_in_flight", "Requests being handled now.", Double(inFlightCount))
        out.counter("kt_config_reloads_total", "Config reloads, by result.", s.reloads.keys.sorted().map { ([("result", $0)], Double(s.reloads[$0]!)) })
        out.counter("kt_client_auth_failures_total", "Requests refused with 401 for a missing or unknown client key (client_auth).",
                    ["missing", "unknown"].map { ([("reason", $0)], Double(s.clientAuthFailures[$0] ?? 0)) })
        if let a = audit {
            out.gauge("kt_audit_healthy", "1 while the audit log stores records, 0 while writes fail.", a.ok ? 1 : 0)
            out.counter("kt_audit_records_total", "Audit records by outcome: written (durable), failed (a write or fsync failed), dropped (the writer's queue was full).",
                        [([("outcome", "written")], Double(a.recordsWritten)), ([("outcome", "failed")], Double(a.recordsFailed)),
                         ([("outcome", "dropped")], Double(a.recordsDropped))])
            out.counter("kt_audit_write_errors_total", "Failed audit writes and fsyncs.", Double(a.writeErrors))
            out.counter("kt_audit_rejected_requests_total", "Requests refused because strict audit could not store records.", Double(a.requestsRejected))
        }
        if let e = events {
            out.gauge("kt_events_queued", "Decision events waiting for upload to the control plane.", Double(e.queued))
            out.counter("kt_events_uploaded_total", "Decision events delivered to the control plane.", Double(e.uploaded))
            out.counter("kt_events_dropped_total", "Decision events dropped because the upload queue was full.", Double(e.dropped))
        }
        if let tls { out.tls(tls) }
        out.partialRequestsShed(shedRequests)
        if let c = configInfo {
            out.gauge("kt_config_info", "The running config (always 1).", [([("version", c.version), ("sha", c.sha)], 1)])
        }
        out.buildAndProcess(component: "gateway", version: KTVersion.current)
        return out.text
    }
}
