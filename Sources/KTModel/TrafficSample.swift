import Foundation

/// Traffic a gateway saw between two heartbeats (PRODUCT.md §6): counters and mergeable
/// latency histograms. Samples add up, so a window is the sum of the samples in it.
public struct TrafficSample: Sendable, Equatable {
    public var requests = 0
    public var blocked = 0
    public var redacted = 0
    /// Error answers by class: `upstream` (502/504), `gateway` (other 5xx), `rate_limited` (429), `client` (other 4xx except 409).
    public var errors: [String: Int] = [:]
    public var latency = LatencyHistogram()
    public var overhead = LatencyHistogram()

    public init() {}

    /// Answers with status ≥ 500 count against the error rate; 4xx are the client's doing.
    public var serverErrors: Int { (errors["upstream"] ?? 0) + (errors["gateway"] ?? 0) }

    public mutating func record(status: Int, verdict: String, latencyMs: Double, overheadMs: Double) {
        requests += 1
        if verdict == "block" { blocked += 1 } else if verdict == "redact" { redacted += 1 }
        if let cls = Self.errorClass(status: status) { errors[cls, default: 0] += 1 }
        latency.record(ms: latencyMs)
        overhead.record(ms: overheadMs)
    }

    public static func errorClass(status: Int) -> String? {
        switch status {
        case 502, 504: return "upstream"
        case 500...599: return "gateway"
        case 429: return "rate_limited"
        case 409: return nil
        case 400...499: return "client"
        default: return nil
        }
    }

    public mutating func merge(_ o: TrafficSample) {
        requests += o.requests
        blocked += o.blocked
        redacted += o.redacted
        for (k, v) in o.errors { errors[k, default: 0] += v }
        latency.merge(o.latency)
        overhead.merge(o.overhead)
    }

    public var json: JSONValue {
        .object([("requests", .int(requests)), ("blocked", .int(blocked)), ("redacted", .int(redacted)),
                 ("errors", .object(errors.keys.sorted().map { ($0, .int(errors[$0]!)) })),
                 ("latency", latency.json), ("overhead", overhead.json)])
    }

    public init?(json: JSONValue) {
        guard let r = json["requests"]?.intValue, r >= 0 else { return nil }
        requests = r
        blocked = max(0, json["blocked"]?.intValue ?? 0)
        redacted = max(0, json["redacted"]?.intValue ?? 0)
        for (k, v) in json["errors"]?.objectValue ?? [] { if let n = v.intValue, n >= 0 { errors[k] = n } }
        if let l = json["latency"] {
            guard let h = LatencyHistogram(json: l) else { return nil }
            latency = h
        }
        if let o = json["overhead"] {
            guard let h = LatencyHistogram(json: o) else { return nil }
            overhead = h
        }
    }
}

/// Health figures over a window of samples (what `kt gateway health` shows and rollouts judge).
public struct HealthSummary: Sendable, Equatable {
    public var windowSeconds: Double
    public var requests: Int
    public var blocked: Int
    public var redacted: Int
    public var serverErrors: Int
    public var p50Ms: Double?
    public var p95Ms: Double?
    public var p99Ms: Double?
    public var overheadP99Ms: Double?

    public init(window seconds: Double, sample s: TrafficSample) {
        windowSeconds = seconds
        requests = s.requests
        blocked = s.blocked
        redacted = s.redacted
        serverErrors = s.serverErrors
        p50Ms = s.latency.percentile(0.50)
        p95Ms = s.latency.percentile(0.95)
        p99Ms = s.latency.percentile(0.99)
        overheadP99Ms = s.overhead.percentile(0.99)
    }

    public var requestsPerMinute: Double { windowSeconds > 0 ? Double(requests) * 60 / windowSeconds : 0 }
    /// Fractions 0...1; nil without requests.
    public var blockRate: Double? { requests > 0 ? Double(blocked) / Double(requests) : nil }
    public var errorRate: Double? { requests > 0 ? Double(serverErrors) / Double(requests) : nil }

    public var json: JSONValue {
        func r(_ d: Double?, _ digits: Double = 1000) -> JSONValue { d.map { .double(($0 * digits).rounded() / digits) } ?? .null }
        return .object([
            ("window_seconds", .double(windowSeconds.rounded())), ("requests", .int(requests)),
            ("requests_per_minute", r(requestsPerMinute, 100)), ("blocked", .int(blocked)), ("redacted", .int(redacted)),
            ("errors", .int(serverErrors)), ("block_rate", r(blockRate, 10000)), ("error_rate", r(errorRate, 10000)),
            ("p50_ms", r(p50Ms)), ("p95_ms", r(p95Ms)), ("p99_ms", r(p99Ms)), ("overhead_p99_ms", r(overheadP99Ms)),
        ])
    }
}
