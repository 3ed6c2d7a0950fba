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

    /// The most a single heartbeat may report for one counter (a million requests a second for
    /// about twelve days); more is a broken or hostile gateway, refused with 400.
    public static let maxCount = 1 << 40

    /// Sums saturate: windows over many gateways and heartbeats never trap.
    public mutating func merge(_ o: TrafficSample) {
        requests = requests.saturatingAdd(o.requests)
        blocked = blocked.saturatingAdd(o.blocked)
        redacted = redacted.saturatingAdd(o.redacted)
        for (k, v) in o.errors { errors[k] = (errors[k] ?? 0).saturatingAdd(v) }
        latency.merge(o.latency)
        overhead.merge(o.overhead)
    }

    public var json: JSONValue {
        .object([("requests", .int(requests)), ("blocked", .int(blocked)), ("redacted", .int(redacted)),
                 ("errors", .object(errors.keys.sorted().map { ($0, .int(errors[$0]!)) })),
                 ("latency", latency.json), ("overhead", overhead.json)])
    }

    /// The error classes a gateway may report.
    public static let errorClasses: Set<String> = ["upstream", "gateway", "rate_limited", "client"]

    /// Parses the wire form strictly: counters are integers in 0...maxCount, blocked, redacted
    /// and each error class at most `requests`, only known error classes, valid histograms.
    public init(json: JSONValue) throws(BoundedFieldError) {
        let range = 0...Self.maxCount
        guard json.objectValue != nil else { throw BoundedFieldError(field: "traffic", message: "traffic must be an object") }
        guard let r = try BoundedField.integer(json["requests"], "traffic.requests", in: range) else {
            throw BoundedFieldError(field: "traffic.requests", message: "traffic.requests is required")
        }
        requests = r
        blocked = try BoundedField.integer(json["blocked"], "traffic.blocked", in: 0...requests, default: 0)!
        redacted = try BoundedField.integer(json["redacted"], "traffic.redacted", in: 0...requests, default: 0)!
        if let e = json["errors"], !e.isNull {
            guard let pairs = e.objectValue else { throw BoundedFieldError(field: "traffic.errors", message: "traffic.errors must be an object of counts") }
            for (k, v) in pairs {
                guard Self.errorClasses.contains(k) else {
                    throw BoundedFieldError(field: "traffic.errors.\(k)", message: "traffic.errors.\(k.prefix(40)) is not an error class (\(Self.errorClasses.sorted().joined(separator: ", ")))")
                }
                errors[k] = try BoundedField.integer(v, "traffic.errors.\(k)", in: 0...requests)
            }
        }
        if let l = json["latency"], !l.isNull { latency = try LatencyHistogram(json: l, field: "traffic.latency") }
        if let o = json["overhead"], !o.isNull { overhead = try LatencyHistogram(json: o, field: "traffic.overhead") }
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
