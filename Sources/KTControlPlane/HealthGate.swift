import KTModel

/// A rollout's health gate: explicit thresholds from `--success-threshold`
/// (`block_rate<5%,error_rate<2%,p99<500ms,overhead_p99<5ms`), or, without them, limits
/// relative to each gateway's own pre-push baseline (PRODUCT.md §7).
public struct HealthGate: Sendable, Equatable {
    public struct Threshold: Sendable, Equatable {
        public enum Metric: String, Sendable, CaseIterable { case blockRate = "block_rate", errorRate = "error_rate", p50, p95, p99, overheadP99 = "overhead_p99" }
        public enum Op: String, Sendable { case lt = "<", le = "<=", gt = ">", ge = ">=" }
        public var metric: Metric
        public var op: Op
        /// Rates as fractions (0.05), latencies in milliseconds.
        public var value: Double
        public var text: String
    }

    public var thresholds: [Threshold]
    public init(thresholds: [Threshold] = []) { self.thresholds = thresholds }

    /// The relative p99 gate also needs the growth to exceed this many milliseconds. A p99 of a
    /// few milliseconds moves by more than half between windows from scheduler jitter alone
    /// (3 ms → 5 ms is noise, not a regression); explicit `p99<…` thresholds are not affected.
    public static let p99GrowthFloorMs = 10.0

    public struct ParseError: Error, Sendable { public var message: String }

    /// Parses the `--success-threshold` grammar; the error names the bad part and what is allowed.
    public static func parse(_ text: String) throws(ParseError) -> HealthGate {
        var out: [Threshold] = []
        for raw in text.split(separator: ",") {
            let part = raw.trimmingCharacters(in: .whitespaces)
            guard let opRange = part.range(of: "<=") ?? part.range(of: ">=") ?? part.range(of: "<") ?? part.range(of: ">") else {
                throw ParseError(message: "'\(part)' has no comparison; write METRIC<VALUE, e.g. block_rate<5%")
            }
            let name = part[..<opRange.lowerBound].trimmingCharacters(in: .whitespaces)
            guard let metric = Threshold.Metric(rawValue: name) else {
                throw ParseError(message: "unknown metric '\(name)' in '\(part)'; use \(Threshold.Metric.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let op = Threshold.Op(rawValue: String(part[opRange]))!
            var valueText = part[opRange.upperBound...].trimmingCharacters(in: .whitespaces)
            let isRate = metric == .blockRate || metric == .errorRate
            var scale = 1.0
            if valueText.hasSuffix("%") { valueText.removeLast(); scale = 0.01 }
            else if valueText.hasSuffix("ms") { valueText.removeLast(2) }
            else if valueText.hasSuffix("s") { valueText.removeLast(); scale = 1000 }
            if isRate, scale != 0.01 {
                if scale == 1.0, let v = Double(valueText), v <= 1 { scale = 1 } else {
                    throw ParseError(message: "'\(part)': \(metric.rawValue) is a rate; write it in % (e.g. \(metric.rawValue)<5%)")
                }
            }
            if !isRate, scale == 0.01 { throw ParseError(message: "'\(part)': \(metric.rawValue) is a latency; use ms or s (e.g. p99<500ms)") }
            guard let v = Double(valueText), v.isFinite, v >= 0 else { throw ParseError(message: "'\(part)': '\(valueText)' is not a number") }
            if isRate, v * scale > 1 { throw ParseError(message: "'\(part)': a rate is at most 100%") }
            if !isRate, v * scale > 86_400_000 { throw ParseError(message: "'\(part)': a latency limit is at most 24 h") }
            out.append(Threshold(metric: metric, op: op, value: v * scale, text: part))
        }
        guard !out.isEmpty else { throw ParseError(message: "empty threshold expression; e.g. \"block_rate<5%,p99<500ms\"") }
        return HealthGate(thresholds: out)
    }

    public enum Verdict: Sendable, Equatable {
        case pass(String)
        case fail(String)
        case inconclusive(String)
    }

    static func value(_ m: Threshold.Metric, _ h: HealthSummary) -> Double? {
        switch m {
        case .blockRate: return h.blockRate
        case .errorRate: return h.errorRate
        case .p50: return h.p50Ms
        case .p95: return h.p95Ms
        case .p99: return h.p99Ms
        case .overheadP99: return h.overheadP99Ms
        }
    }

    static func show(_ m: Threshold.Metric, _ v: Double) -> String {
        m == .blockRate || m == .errorRate ? String(format: "%.1f%%", v * 100) : String(format: "%.0fms", v)
    }

    /// Judges one gateway's window against the gate (or its baseline when there are no thresholds).
    public func judge(_ h: HealthSummary, baseline: HealthSummary?, minRequests: Int) -> Verdict {
        guard h.requests >= minRequests else {
            return .inconclusive("\(h.requests) of \(minRequests) requests needed in the window")
        }
        let summary = String(format: "block rate %.1f%%, error rate %.1f%%, p99 %@ (%d requests)", (h.blockRate ?? 0) * 100,
                             (h.errorRate ?? 0) * 100, h.p99Ms.map { String(format: "%.0fms", $0) } ?? "—", h.requests)
        if !thresholds.isEmpty {
            for t in thresholds {
                guard let v = Self.value(t.metric, h) else { return .inconclusive("no \(t.metric.rawValue) in the window") }
                let ok: Bool
                switch t.op {
                case .lt: ok = v < t.value
                case .le: ok = v <= t.value
                case .gt: ok = v > t.value
                case .ge: ok = v >= t.value
                }
                if !ok { return .fail("\(t.metric.rawValue) \(Self.show(t.metric, v)) breaks \(t.text)") }
            }
            return .pass(summary)
        }
        // Relative to the gateway's own baseline.
        let baseBlock = baseline?.blockRate ?? 0
        if let b = h.blockRate, b > baseBlock + 0.05 {
            return .fail(String(format: "block rate %.1f%% rose more than 5 points over its baseline %.1f%%", b * 100, baseBlock * 100))
        }
        if let e = h.errorRate, e >= 0.05 { return .fail(String(format: "error rate %.1f%% is not under 5%%", e * 100)) }
        if let p = h.p99Ms, let bp = baseline?.p99Ms, baseline?.requests ?? 0 >= minRequests,
           p > bp * 1.5, p - bp > Self.p99GrowthFloorMs {
            return .fail(String(format: "p99 %.0fms grew more than 50%% (and %.0fms) over its baseline %.0fms", p, Self.p99GrowthFloorMs, bp))
        }
        return .pass(summary)
    }
}
