import KTModel

/// Explicit absolute limits from `--success-threshold`
/// (`block_rate<5%,error_rate<2%,p99<500ms,overhead_p99<5ms`), parsed strictly. The
/// `RolloutJudge` judges them (and, without them, the relative comparison with a control).
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
}
