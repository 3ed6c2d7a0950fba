import Foundation
import KTModel

/// Seeded simulation of rolling rollouts judged by `RolloutJudge`, look by look, as the
/// coordinator judges them: the calibration (A/A: a change that changes nothing) and the power
/// (A/B) tables of docs/rollout-analysis.md come from it, and the test suite checks them.
public enum RolloutJudgeSimulation {
    public struct Scenario: Sendable {
        public var gateways = 10
        public var batchSize = 1
        /// Requests each gateway serves in one health window.
        public var requestsPerWindow = 100
        /// Looks per window (heartbeats); the last is the window's end.
        public var looksPerWindow = 5
        public var blockRate = 0.05
        public var errorRate = 0.01
        public var medianLatencyMs = 200.0
        /// The change on updated gateways: block-rate points added, error rate and latency multiplied.
        public var blockRateIncrease = 0.0
        public var errorRateFactor = 1.0
        public var latencyFactor = 1.0
        public var settings = RolloutJudge.Settings()
        public init() {}
    }

    public struct Result: Sendable {
        public var rollouts = 0
        /// Rollouts that failed (a rollback with `--rollback-on-error`).
        public var failed = 0
        /// Failures decided in the first batch.
        public var failedInFirstBatch = 0
        /// Of failed rollouts: the mean number of batches updated when it failed.
        public var meanBatchesAtFailure = 0.0
        public var failureRate: Double { rollouts == 0 ? 0 : Double(failed) / Double(rollouts) }
        public init() {}
    }

    /// Bucket indices of a log-normal latency (median, σ = 0.6), by quantile: a table lookup per request.
    static func latencyTable(median: Double, factor: Double) -> [Int] {
        (0..<1024).map { i in
            let z = Statistics.normalQuantile((Double(i) + 0.5) / 1024)
            return LatencyHistogram.index(forMs: median * factor * exp(0.6 * z))
        }
    }

    /// Counts as the simulation accumulates them (arrays, not the sparse histogram: this is the
    /// inner loop), turned into a `TrafficSample` when judged.
    struct Counts {
        var requests = 0, blocked = 0, errors = 0
        var latency = [Int](repeating: 0, count: LatencyHistogram.bucketCount)
        var overhead = [Int](repeating: 0, count: LatencyHistogram.bucketCount)

        /// `requests` more requests of one gateway. The inner loop of every simulation: optimized
        /// even in debug builds (the test suite runs thousands of rollouts).
        @_optimize(speed)
        mutating func add(_ requests: Int, block: Double, error: Double, latencyTable: [Int], overheadTable: [Int], _ g: inout SplitMix64) {
            self.requests += requests
            for _ in 0..<requests {
                let u = g.unit()
                if u < block { blocked += 1 } else if u < block + error { errors += 1 }
                let r = g.next()
                latency[latencyTable[Int(r & 1023)]] += 1
                overhead[overheadTable[Int((r >> 10) & 1023)]] += 1
            }
        }

        var sample: TrafficSample {
            var s = TrafficSample()
            s.requests = requests
            s.blocked = blocked
            if errors > 0 { s.errors["upstream"] = errors }
            for (i, c) in latency.enumerated() where c > 0 { s.latency.add(bucket: i, count: c) }
            for (i, c) in overhead.enumerated() where c > 0 { s.overhead.add(bucket: i, count: c) }
            return s
        }
    }

    public static func run(_ sc: Scenario, rollouts: Int, seed: UInt64) -> Result {
        var g = SplitMix64(seed: seed)
        let judge = RolloutJudge(settings: sc.settings)
        let baseLatency = latencyTable(median: sc.medianLatencyMs, factor: 1)
        let newLatency = latencyTable(median: sc.medianLatencyMs, factor: sc.latencyFactor)
        let overhead = latencyTable(median: 0.3, factor: 1)
        let batches = stride(from: 0, to: sc.gateways, by: sc.batchSize).map { Array($0..<min(sc.gateways, $0 + sc.batchSize)) }
        let newBlock = min(1, sc.blockRate + sc.blockRateIncrease), newError = min(1 - newBlock, sc.errorRate * sc.errorRateFactor)
        let perLook = max(1, sc.requestsPerWindow / sc.looksPerWindow)
        var result = Result()
        var batchesAtFailure = 0
        for _ in 0..<rollouts {
            result.rollouts += 1
            var updated: [Int] = []
            rollout: for (b, batch) in batches.enumerated() {
                updated += batch
                let control = (0..<sc.gateways).filter { !updated.contains($0) }
                // The updated gateways' pre-push baselines (five windows' worth: the coordinator's
                // 5-minute baseline is longer than a window); the judge reads them only when no
                // control is left, so they are drawn only then.
                var baseline: RolloutJudge.Cohort?
                if control.isEmpty {
                    var c = Counts()
                    for _ in updated { c.add(perLook * sc.looksPerWindow * 5, block: sc.blockRate, error: sc.errorRate, latencyTable: baseLatency, overheadTable: overhead, &g) }
                    baseline = .init(gateways: updated.map { "gw-\($0)" }, sample: c.sample)
                }
                var canary = Counts(), controlCounts = Counts()
                for l in 1...sc.looksPerWindow {
                    for _ in updated { canary.add(perLook, block: newBlock, error: newError, latencyTable: newLatency, overheadTable: overhead, &g) }
                    for _ in control { controlCounts.add(perLook, block: sc.blockRate, error: sc.errorRate, latencyTable: baseLatency, overheadTable: overhead, &g) }
                    let final = l == sc.looksPerWindow
                    let look = RolloutJudge.Look(batch: b, batches: batches.count, final: final, index: final ? 0 : l)
                    let v = judge.judge(canary: .init(gateways: updated.map { "gw-\($0)" }, sample: canary.sample),
                                        control: .init(gateways: control.map { "gw-\($0)" }, sample: controlCounts.sample),
                                        baseline: baseline, look: look, describe: false)
                    if v.outcome == .fail {
                        result.failed += 1
                        if b == 0 { result.failedInFirstBatch += 1 }
                        batchesAtFailure += b + 1
                        break rollout
                    }
                }
            }
        }
        result.meanBatchesAtFailure = result.failed == 0 ? 0 : Double(batchesAtFailure) / Double(result.failed)
        return result
    }
}
