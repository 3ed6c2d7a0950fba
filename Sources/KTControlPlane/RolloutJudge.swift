import Foundation
import KTModel

/// Judges one look at a rollout's health: the canary cohort (gateways on the new config)
/// against a control cohort measured over the same window (gateways not updated yet), or, when
/// there is none, against the canary gateways' own pre-push baseline. Pure: no I/O, no clock.
///
/// Each metric has a test that fits it (docs/rollout-analysis.md):
/// - block rate and error rate: a one-sided test of a rate increase (Fisher's exact test at
///   small counts, else a continuity-corrected z-test); a metric fails only when the increase is
///   significant at this look's level *and* larger than its practical margin;
/// - latency p99 and overhead p99: the share of requests above the control's p99 grown by the
///   margin (+50 % and +10 ms), counted only in buckets wholly above it (the buckets' width
///   can only make the test more conservative), compared with the control's share the same way;
/// - explicit `--success-threshold` limits: absolute, failing when the confidence bound is past
///   the limit, passing when the other bound is within it, inconclusive in between.
///
/// The level of each look comes from splitting `falseRollbackRate` over the batches and the
/// tested metrics (Bonferroni), and within a batch giving the window's end 80 % of it and the
/// other looks (early checks, pause checks, re-checks) 0.2 α · 6/(π²k²) for the k-th, a series
/// that sums to 0.2 α however many looks there are. So the probability that a rollout of a change that
/// changes nothing is rolled back is at most `falseRollbackRate`, however often it is looked at.
public struct RolloutJudge: Sendable, Equatable {
    public struct Settings: Sendable, Equatable {
        /// The probability, at most, that a rollout of a change that changes nothing fails.
        public var falseRollbackRate = 0.01
        /// Block rate: fail only above this increase (a fraction: 0.05 is 5 points).
        public var blockRateMargin = 0.05
        /// Error rate: fail only above this increase *and* this ratio to the control.
        public var errorRateMargin = 0.01
        public var errorRateRatio = 2.0
        /// Latency and overhead p99: fail only above the control's p99 × ratio *and* + floor.
        public var latencyRatio = 1.5
        public var latencyFloorMs = 10.0
        /// Below this many canary requests in the window the judge does not pass.
        public var minRequests = 20
        /// Explicit absolute limits (`--success-threshold`); when set they replace the relative tests.
        public var thresholds: [HealthGate.Threshold] = []

        public init() {}

        public var json: JSONValue {
            .object([("false_rollback_rate", .double(falseRollbackRate)), ("block_rate_margin", .double(blockRateMargin)),
                     ("error_rate_margin", .double(errorRateMargin)), ("error_rate_ratio", .double(errorRateRatio)),
                     ("latency_ratio", .double(latencyRatio)), ("latency_floor_ms", .double(latencyFloorMs)),
                     ("min_requests", .int(minRequests)), ("success_threshold", thresholds.isEmpty ? .null : .string(thresholds.map(\.text).joined(separator: ",")))])
        }

        /// Reads what `json` wrote (a stored rollout); missing fields keep their defaults.
        public init(json j: JSONValue?) {
            self.init()
            guard let j else { return }
            falseRollbackRate = j["false_rollback_rate"]?.doubleValue ?? falseRollbackRate
            blockRateMargin = j["block_rate_margin"]?.doubleValue ?? blockRateMargin
            errorRateMargin = j["error_rate_margin"]?.doubleValue ?? errorRateMargin
            errorRateRatio = j["error_rate_ratio"]?.doubleValue ?? errorRateRatio
            latencyRatio = j["latency_ratio"]?.doubleValue ?? latencyRatio
            latencyFloorMs = j["latency_floor_ms"]?.doubleValue ?? latencyFloorMs
            minRequests = j["min_requests"]?.intValue ?? minRequests
            if let t = j["success_threshold"]?.stringValue, let gate = try? HealthGate.parse(t) { thresholds = gate.thresholds }
        }
    }

    /// Gateways and their merged traffic over the judged interval.
    public struct Cohort: Sendable, Equatable {
        public var gateways: [String]
        public var sample: TrafficSample
        public init(gateways: [String], sample: TrafficSample) {
            self.gateways = gateways
            self.sample = sample
        }
        public var json: JSONValue { .object([("gateways", .array(gateways.map { .string($0) })), ("sample", sample.json)]) }
        public init?(json j: JSONValue?) {
            guard let j, let s = j["sample"], let sample = try? TrafficSample(json: s) else { return nil }
            self.init(gateways: (j["gateways"]?.arrayValue ?? []).compactMap(\.stringValue), sample: sample)
        }
    }

    /// Where this look sits: batch `batch` of `batches`; `final` is the window's end (half the
    /// batch's level), else the `index`-th other look of this batch (1-based). `decides`: the
    /// look may pass (the window's end, or a re-check of an inconclusive window); others only fail.
    public struct Look: Sendable, Equatable {
        public var batch: Int
        public var batches: Int
        public var final: Bool
        public var index: Int
        public var decides: Bool
        public init(batch: Int, batches: Int, final: Bool, index: Int, decides: Bool? = nil) {
            self.batch = batch
            self.batches = batches
            self.final = final
            self.index = index
            self.decides = decides ?? final
        }
        public var json: JSONValue {
            .object([("batch", .int(batch + 1)), ("batches", .int(batches)), ("final", .bool(final)), ("index", .int(index)), ("decides", .bool(decides))])
        }
        public init?(json j: JSONValue?) {
            guard let j, let b = j["batch"]?.intValue, let n = j["batches"]?.intValue else { return nil }
            self.init(batch: b - 1, batches: n, final: j["final"]?.boolValue ?? true, index: j["index"]?.intValue ?? 1, decides: j["decides"]?.boolValue)
        }
    }

    public enum Outcome: String, Sendable { case pass, fail, inconclusive }

    /// One metric: both values, the effect with its 95 % interval, the test, and what it says.
    /// Rates: the values are rates and the effect their difference. Latencies: the values are the
    /// p99s and the effect the difference in the shares of requests above the tested limit.
    public struct Comparison: Sendable, Equatable {
        public var metric: String
        public var canary: Double?
        public var control: Double?
        public var effect: Double?
        public var low: Double?
        public var high: Double?
        public var nCanary: Int
        public var nControl: Int
        public var test: String
        public var pValue: Double?
        /// The level this look needed (p below it is significant).
        public var alpha: Double
        public var outcome: Outcome
        public var text: String

        public var json: JSONValue {
            func num(_ d: Double?) -> JSONValue { d.map { .double(($0 * 1e6).rounded() / 1e6) } ?? .null }
            return .object([("metric", .string(metric)), ("canary", num(canary)), ("control", num(control)), ("effect", num(effect)),
                            ("ci95_low", num(low)), ("ci95_high", num(high)), ("n_canary", .int(nCanary)), ("n_control", .int(nControl)),
                            ("test", .string(test)), ("p_value", pValue.map { .double($0) } ?? .null), ("alpha", .double(alpha)),
                            ("outcome", .string(outcome.rawValue)), ("text", .string(text))])
        }
    }

    public struct Verdict: Sendable, Equatable {
        public var outcome: Outcome
        public var comparisons: [Comparison]
        /// "control cohort gw-b, gw-c (same window)" or "own pre-push baseline (…)".
        public var against: String
        public var usedBaseline: Bool
        /// For an inconclusive verdict: what is missing to decide.
        public var missing: String?
        /// The comparison that decided it, in words (the first failing metric, or all).
        public var text: String
    }

    public var settings: Settings
    public init(settings: Settings) { self.settings = settings }

    /// The metrics tested in relative mode (each takes a share of the level).
    static let relativeMetrics = ["block_rate", "error_rate", "p99", "overhead_p99"]

    var testedMetricCount: Int { settings.thresholds.isEmpty ? Self.relativeMetrics.count : settings.thresholds.count }

    /// The share of a batch's level spent at the window's end; the rest is spread over the other
    /// looks (most of the power is at the end, where the data is).
    static let finalShare = 0.8

    /// The significance level of one look of one metric.
    public func alpha(_ look: Look) -> Double {
        let perMetric = settings.falseRollbackRate / Double(max(1, look.batches)) / Double(max(1, testedMetricCount))
        if look.final { return perMetric * Self.finalShare }
        let k = Double(max(1, look.index))
        return perMetric * (1 - Self.finalShare) * 6 / (Double.pi * Double.pi * k * k)
    }

    /// Baseline counts weigh half: the pre-push window is another time (traffic drifts), so it
    /// is worth less than a concurrent control of the same size; this widens the interval.
    static func halved(_ s: TrafficSample) -> (requests: Int, blocked: Int, errors: Int) {
        ((s.requests + 1) / 2, (s.blocked + 1) / 2, (s.serverErrors + 1) / 2)
    }

    /// Judges one look. `control` is the concurrent control cohort (may be empty); `baseline` the
    /// canary gateways' own pre-push windows, used when the control has too little traffic.
    /// `describe: false` skips the words (simulations judge millions of looks).
    public func judge(canary: Cohort, control: Cohort?, baseline: Cohort?, look: Look, describe: Bool = true) -> Verdict {
        let a = alpha(look)
        let useBaseline = (control?.sample.requests ?? 0) < max(1, settings.minRequests)
        let reference = useBaseline ? baseline : control
        let against: String
        if !useBaseline, let c = control {
            against = "control cohort \(c.gateways.joined(separator: ", ")) (same window)"
        } else if let b = baseline, b.sample.requests > 0 {
            against = "own pre-push baseline (\(b.gateways.joined(separator: ", "))\((control?.gateways.isEmpty ?? true) ? "; no gateway left as control" : "; the control cohort had too little traffic"), counted at half weight)"
        } else {
            against = "no control and no baseline traffic"
        }
        var comparisons: [Comparison] = []
        let c = canary.sample
        let r = reference?.sample ?? TrafficSample()
        let (rn, rb, re) = useBaseline ? Self.halved(r) : (r.requests, r.blocked, r.serverErrors)
        if settings.thresholds.isEmpty {
            comparisons.append(rate("block_rate", "block rate", x1: c.blocked, n1: c.requests, x2: rb, n2: rn, alpha: a, describe: describe,
                                    fails: { effect, p1, _ in effect > settings.blockRateMargin },
                                    marginText: String(format: "+%g points", settings.blockRateMargin * 100)))
            comparisons.append(rate("error_rate", "error rate", x1: c.serverErrors, n1: c.requests, x2: re, n2: rn, alpha: a, describe: describe,
                                    fails: { effect, p1, p2 in effect > settings.errorRateMargin && p1 >= settings.errorRateRatio * p2 },
                                    marginText: String(format: "+%g points and ×%g", settings.errorRateMargin * 100, settings.errorRateRatio)))
            comparisons.append(latency("p99", "p99", c.latency, r.latency, alpha: a, halve: useBaseline, describe: describe))
            comparisons.append(latency("overhead_p99", "overhead p99", c.overhead, r.overhead, alpha: a, halve: useBaseline, describe: describe))
        } else {
            for t in settings.thresholds { comparisons.append(absolute(t, c, reference: r, alpha: a)) }
        }
        let failing = comparisons.filter { $0.outcome == .fail }
        if !failing.isEmpty {
            return Verdict(outcome: .fail, comparisons: comparisons, against: against, usedBaseline: useBaseline, missing: nil,
                           text: failing.map(\.text).joined(separator: "; "))
        }
        if c.requests < settings.minRequests {
            let need = settings.minRequests - c.requests
            let power = requiredRequests(control: rn > 0 ? Double(rb) / Double(rn) : 0.05, margin: settings.blockRateMargin, alpha: alpha(Look(batch: look.batch, batches: look.batches, final: true, index: 1)))
            let missing = "needs \(need) more request\(need == 1 ? "" : "s") on \(canary.gateways.joined(separator: ", ")) (\(c.requests) of \(settings.minRequests)); ≈ \(power) in all to detect a +\(Int((settings.blockRateMargin * 100).rounded()))-point block-rate change reliably"
            return Verdict(outcome: .inconclusive, comparisons: comparisons, against: against, usedBaseline: useBaseline, missing: missing, text: missing)
        }
        if let undecided = comparisons.first(where: { $0.outcome == .inconclusive }) {
            return Verdict(outcome: .inconclusive, comparisons: comparisons, against: against, usedBaseline: useBaseline, missing: undecided.text, text: undecided.text)
        }
        if !look.decides {
            // Passing waits for the window's end; an early look only fails.
            return Verdict(outcome: .inconclusive, comparisons: comparisons, against: against, usedBaseline: useBaseline,
                           missing: "the window has not ended", text: comparisons.map(\.text).joined(separator: "; "))
        }
        return Verdict(outcome: .pass, comparisons: comparisons, against: against, usedBaseline: useBaseline, missing: nil,
                       text: comparisons.map(\.text).joined(separator: "; "))
    }

    /// Canary requests for 80 % power against a `margin` increase over `control` at `alpha`.
    func requiredRequests(control p: Double, margin: Double, alpha: Double) -> Int {
        let p0 = min(max(p, 0.001), 0.9), p1 = min(p0 + margin, 0.999)
        let z = Statistics.normalQuantile(1 - alpha) + Statistics.normalQuantile(0.8)
        return Int((z * z * (p0 * (1 - p0) + p1 * (1 - p1)) / (margin * margin)).rounded(.up))
    }

    static func pct(_ v: Double) -> String { String(format: "%.1f %%", v * 100) }
    static func points(_ v: Double) -> String { String(format: "%+.1f", v * 100) }

    private func rate(_ metric: String, _ name: String, x1: Int, n1: Int, x2: Int, n2: Int, alpha: Double, describe: Bool,
                      fails: (Double, Double, Double) -> Bool, marginText: String) -> Comparison {
        guard n1 > 0 else {
            return Comparison(metric: metric, canary: nil, control: nil, effect: nil, low: nil, high: nil, nCanary: 0, nControl: n2, test: "none",
                              pValue: nil, alpha: alpha, outcome: .pass, text: "\(name): no canary requests (min_requests decides whether that is enough)")
        }
        let p1 = Double(x1) / Double(n1)
        guard n2 > 0 else {
            return Comparison(metric: metric, canary: p1, control: nil, effect: nil, low: nil, high: nil, nCanary: n1, nControl: 0, test: "none",
                              pValue: nil, alpha: alpha, outcome: .pass, text: "\(name) \(Self.pct(p1)) (no reference traffic to compare with)")
        }
        let p2 = Double(x2) / Double(n2)
        let (p, test) = Statistics.oneSidedRateIncrease(x1: x1, n1: n1, x2: x2, n2: n2)
        let effect = p1 - p2
        let significant = p < alpha
        let outcome: Outcome = significant && fails(effect, p1, p2) ? .fail : .pass
        guard describe else {
            return Comparison(metric: metric, canary: p1, control: p2, effect: effect, low: nil, high: nil, nCanary: n1, nControl: n2, test: test,
                              pValue: p, alpha: alpha, outcome: outcome, text: "")
        }
        let (lo, hi) = Statistics.differenceInterval(x1: x1, n1: n1, x2: x2, n2: n2, z: 1.959964)
        let why: String
        switch (outcome, significant) {
        case (.fail, _): why = "fail"
        case (_, true): why = "pass: significant but within the margin (\(marginText))"
        default: why = "pass"
        }
        let text = "\(name) \(Self.pct(p1)) vs \(Self.pct(p2)) (\(Self.points(effect)) points, 95 % CI \(Self.points(lo)) to \(Self.points(hi)), n=\(n1) vs \(n2), \(test) p=\(Self.pText(p))): \(why)"
        return Comparison(metric: metric, canary: p1, control: p2, effect: effect, low: lo, high: hi, nCanary: n1, nControl: n2, test: test,
                          pValue: p, alpha: alpha, outcome: outcome, text: text)
    }

    static func pText(_ p: Double) -> String { p < 1e-4 ? String(format: "%.0e", p) : String(format: "%.4f", p) }

    /// Requests in buckets wholly above `ms` (their lower bound is at least `ms`).
    static func countAbove(_ h: LatencyHistogram, _ ms: Double) -> Int {
        var sum = 0
        for (i, c) in h.counts where (i == 0 ? 0 : LatencyHistogram.upperBoundMs(i - 1)) >= ms { sum = sum.saturatingAdd(c) }
        return sum
    }

    /// Requests in buckets that may hold values above `ms` (their upper bound is above it).
    static func countPossiblyAbove(_ h: LatencyHistogram, _ ms: Double) -> Int {
        var sum = 0
        for (i, c) in h.counts where LatencyHistogram.upperBoundMs(i) > ms { sum = sum.saturatingAdd(c) }
        return sum
    }

    private func latency(_ metric: String, _ name: String, _ canary: LatencyHistogram, _ control: LatencyHistogram, alpha: Double, halve: Bool,
                         describe: Bool) -> Comparison {
        let n1 = canary.total, n2 = halve ? (control.total + 1) / 2 : control.total
        guard let q1 = canary.percentile(0.99) else {
            return Comparison(metric: metric, canary: nil, control: nil, effect: nil, low: nil, high: nil, nCanary: 0, nControl: n2, test: "none",
                              pValue: nil, alpha: alpha, outcome: .pass, text: "\(name): no canary latencies yet")
        }
        guard let q2 = control.percentile(0.99) else {
            return Comparison(metric: metric, canary: q1, control: nil, effect: nil, low: nil, high: nil, nCanary: n1, nControl: 0, test: "none",
                              pValue: nil, alpha: alpha, outcome: .pass, text: String(format: "%@ %.1f ms (no reference latencies)", name, q1))
        }
        let limit = max(q2 * settings.latencyRatio, q2 + settings.latencyFloorMs)
        let a = Self.countAbove(canary, limit)
        let bRaw = Self.countAbove(control, limit)
        let b = halve ? (bRaw + 1) / 2 : bRaw
        let (p, _) = Statistics.oneSidedRateIncrease(x1: a, n1: n1, x2: b, n2: n2)
        let share = Double(a) / Double(max(1, n1))
        let outcome: Outcome = p < alpha && share > 0.01 ? .fail : .pass
        guard describe else {
            return Comparison(metric: metric, canary: q1, control: q2, effect: nil, low: nil, high: nil, nCanary: n1, nControl: n2,
                              test: "exceedance", pValue: p, alpha: alpha, outcome: outcome, text: "")
        }
        let text = String(format: "%@ %.1f ms vs %.1f ms (%.1f%% of canary requests above %.1f ms, the control's p99 +%g%% and +%g ms, vs %.1f%%; n=%d vs %d, exceedance p=%@): %@",
                          name, q1, q2, share * 100, limit, (settings.latencyRatio - 1) * 100, settings.latencyFloorMs,
                          Double(b) / Double(max(1, n2)) * 100, n1, n2, Self.pText(p), outcome == .fail ? "fail" : "pass")
        // The interval is of the difference in shares above the limit (the quantity tested).
        let (lo, hi) = Statistics.differenceInterval(x1: a, n1: n1, x2: b, n2: n2, z: 1.959964)
        return Comparison(metric: metric, canary: q1, control: q2, effect: share - Double(b) / Double(max(1, n2)), low: lo, high: hi, nCanary: n1, nControl: n2,
                          test: "exceedance of \(String(format: "%.1f", limit)) ms", pValue: p, alpha: alpha, outcome: outcome, text: text)
    }

    /// An explicit limit: fail when the canary is past it with confidence (at this look's level),
    /// pass when it is within it with 95 % confidence, inconclusive in between.
    private func absolute(_ t: HealthGate.Threshold, _ c: TrafficSample, reference r: TrafficSample, alpha: Double) -> Comparison {
        let upperLimit = t.op == .lt || t.op == .le
        let zFail = Statistics.normalQuantile(1 - alpha), zPass = 1.644854
        let n = c.requests
        switch t.metric {
        case .blockRate, .errorRate:
            let x = t.metric == .blockRate ? c.blocked : c.serverErrors
            let xr = t.metric == .blockRate ? r.blocked : r.serverErrors
            guard n > 0 else {
                return Comparison(metric: t.metric.rawValue, canary: nil, control: nil, effect: nil, low: nil, high: nil, nCanary: 0, nControl: r.requests,
                                  test: "wilson", pValue: nil, alpha: alpha, outcome: .inconclusive, text: "\(t.metric.rawValue): no canary requests yet")
            }
            let v = Double(x) / Double(n)
            let (failLow, failHigh) = Statistics.wilson(x, n, z: zFail)
            let (passLow, passHigh) = Statistics.wilson(x, n, z: zPass)
            let outcome: Outcome
            if upperLimit { outcome = failLow > t.value ? .fail : (passHigh <= t.value ? .pass : .inconclusive) }
            else { outcome = failHigh < t.value ? .fail : (passLow >= t.value ? .pass : .inconclusive) }
            let need = outcome == .inconclusive ? "; more traffic decides it" : ""
            let text = "\(t.metric.rawValue) \(Self.pct(v)) against the limit \(t.text) (90 % interval \(Self.pct(passLow)) to \(Self.pct(passHigh)), n=\(n)): \(outcome.rawValue)\(need)"
            return Comparison(metric: t.metric.rawValue, canary: v, control: r.requests > 0 ? Double(xr) / Double(r.requests) : nil, effect: nil,
                              low: passLow, high: passHigh, nCanary: n, nControl: r.requests, test: "wilson vs limit", pValue: nil, alpha: alpha,
                              outcome: outcome, text: text)
        case .p50, .p95, .p99, .overheadP99:
            let h = t.metric == .overheadP99 ? c.overhead : c.latency
            let q = t.metric == .p50 ? 0.5 : (t.metric == .p95 ? 0.95 : 0.99)
            let tail = 1 - q
            let total = h.total
            guard total > 0 else {
                return Comparison(metric: t.metric.rawValue, canary: nil, control: nil, effect: nil, low: nil, high: nil, nCanary: 0, nControl: 0,
                                  test: "quantile", pValue: nil, alpha: alpha, outcome: .inconclusive, text: "\(t.metric.rawValue): no canary latencies yet")
            }
            // Surely above the limit (fail evidence) and possibly above it (what a pass must bound).
            let sure = Self.countAbove(h, t.value), maybe = Self.countPossiblyAbove(h, t.value)
            let (failLow, _) = Statistics.wilson(sure, total, z: zFail)
            let (_, passHigh) = Statistics.wilson(maybe, total, z: zPass)
            let outcome: Outcome = upperLimit ? (failLow > tail ? .fail : (passHigh <= tail ? .pass : .inconclusive)) : .pass
            let value = h.percentile(q) ?? 0
            let text = String(format: "%@ %.1f ms against the limit %@ (%d of %d requests above it, %.1f%% may be; a p%g allows %g%%): %@",
                              t.metric.rawValue, value, t.text, sure, total, Double(maybe) / Double(total) * 100, q * 100, tail * 100,
                              outcome.rawValue + (outcome == .inconclusive ? "; more traffic decides it" : ""))
            return Comparison(metric: t.metric.rawValue, canary: value, control: (t.metric == .overheadP99 ? r.overhead : r.latency).percentile(q),
                              effect: nil, low: nil, high: nil, nCanary: total, nControl: r.requests, test: "quantile vs limit", pValue: nil,
                              alpha: alpha, outcome: outcome, text: text)
        }
    }
}

extension RolloutJudge.Verdict {
    /// What the rollout log and `--json` keep: the verdict, each comparison, and the cohorts'
    /// samples (so `kt rollout analyze` can judge them again with other settings).
    public func json(canary: RolloutJudge.Cohort, control: RolloutJudge.Cohort?, baseline: RolloutJudge.Cohort?, look: RolloutJudge.Look) -> JSONValue {
        .object([("outcome", .string(outcome.rawValue)), ("against", .string(against)), ("used_baseline", .bool(usedBaseline)),
                 ("text", .string(text)), ("missing", .optional(missing)), ("look", look.json),
                 ("metrics", .array(comparisons.map(\.json))),
                 ("canary", canary.json), ("control", control?.json ?? .null), ("baseline", baseline?.json ?? .null)])
    }
}
