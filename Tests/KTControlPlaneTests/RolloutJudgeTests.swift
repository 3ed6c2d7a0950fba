import Foundation
import Testing
import KTModel
@testable import KTControlPlane

@Suite struct StatisticsTests {
    @Test func normalQuantileAndCDFAgreeWithTables() {
        #expect(abs(Statistics.normalQuantile(0.975) - 1.959964) < 1e-6)
        #expect(abs(Statistics.normalQuantile(0.0001) + 3.719016) < 1e-5)
        #expect(abs(Statistics.normalCDF(1.644854) - 0.95) < 1e-6)
    }

    @Test func fishersExactTestMatchesAHandComputedTail() {
        // 3 of 5 vs 0 of 5 blocked: P(X ≥ 3) for the hypergeometric(10, 3, 5) = C(5,3)C(5,0)/C(10,3) = 10/120.
        let (p, test) = Statistics.oneSidedRateIncrease(x1: 3, n1: 5, x2: 0, n2: 5)
        #expect(test == "fisher" && abs(p - 10.0 / 120.0) < 1e-12)
        // No difference is no evidence; a large one at large counts is the z-test.
        #expect(Statistics.oneSidedRateIncrease(x1: 0, n1: 50, x2: 5, n2: 50).p > 0.9)
        let z = Statistics.oneSidedRateIncrease(x1: 300, n1: 1000, x2: 100, n2: 1000)
        #expect(z.test == "z-test" && z.p < 1e-20)
    }

    @Test func wilsonAndNewcombeIntervalsCoverTheEstimate() {
        let (lo, hi) = Statistics.wilson(5, 100, z: 1.959964)
        #expect(abs(lo - 0.02154) < 1e-4 && abs(hi - 0.11175) < 1e-4)
        let (dlo, dhi) = Statistics.differenceInterval(x1: 64, n1: 86, x2: 12, n2: 240, z: 1.959964)
        #expect(dlo > 0.55 && dhi < 0.80 && dlo < 0.694 && dhi > 0.694)
    }
}

@Suite struct RolloutJudgeTests {
    func sample(_ requests: Int, blocked: Int = 0, errors: Int = 0, latencyMs: Double = 200, slow: Int = 0, slowMs: Double = 0) -> TrafficSample {
        var s = TrafficSample()
        s.requests = requests
        s.blocked = blocked
        if errors > 0 { s.errors["upstream"] = errors }
        for i in 0..<requests {
            s.latency.record(ms: i < slow ? slowMs : latencyMs * (0.8 + 0.4 * Double(i % 10) / 10))
            s.overhead.record(ms: 0.3)
        }
        return s
    }

    let look = RolloutJudge.Look(batch: 0, batches: 3, final: true, index: 0)
    func cohort(_ ids: [String], _ s: TrafficSample) -> RolloutJudge.Cohort { .init(gateways: ids, sample: s) }

    @Test func aConfigThatBlocksOrdinaryTrafficFailsWithTheComparisonInWords() {
        let judge = RolloutJudge(settings: .init())
        let v = judge.judge(canary: cohort(["gw-a"], sample(86, blocked: 64)), control: cohort(["gw-b", "gw-c"], sample(240, blocked: 12)),
                            baseline: nil, look: look)
        #expect(v.outcome == .fail)
        #expect(v.against.contains("control cohort gw-b, gw-c"))
        let block = try! #require(v.comparisons.first { $0.metric == "block_rate" })
        #expect(block.text.hasPrefix("block rate 74.4 % vs 5.0 % (+69.4 points, 95 % CI +"), "\(block.text)")
        #expect(block.text.contains("n=86 vs 240") && block.text.hasSuffix(": fail"))
        // Overwhelming evidence fails an early look too (its level is far smaller).
        let early = judge.judge(canary: cohort(["gw-a"], sample(30, blocked: 22)), control: cohort(["gw-b"], sample(60, blocked: 3)),
                                baseline: nil, look: .init(batch: 0, batches: 3, final: false, index: 1))
        #expect(early.outcome == .fail, "\(early.text)")
    }

    @Test func anIncreaseWithinTheMarginPassesEvenWhenSignificant() {
        let v = RolloutJudge(settings: .init()).judge(canary: cohort(["a"], sample(20_000, blocked: 1_400)), control: cohort(["b"], sample(20_000, blocked: 1_000)),
                                                      baseline: nil, look: look)
        #expect(v.outcome == .pass, "\(v.text)")
        #expect(v.comparisons[0].text.contains("significant but within the margin"))
        var tight = RolloutJudge.Settings()
        tight.blockRateMargin = 0.01
        #expect(RolloutJudge(settings: tight).judge(canary: cohort(["a"], sample(20_000, blocked: 1_400)), control: cohort(["b"], sample(20_000, blocked: 1_000)),
                                                    baseline: nil, look: look).outcome == .fail)
    }

    @Test func withoutAControlTheBaselineIsUsedAtHalfWeightAndSaysSo() {
        let judge = RolloutJudge(settings: .init())
        let canary = cohort(["gw-a"], sample(200, blocked: 24))
        let concurrent = judge.judge(canary: canary, control: cohort(["gw-b"], sample(200, blocked: 10)), baseline: nil, look: look)
        let shifted = judge.judge(canary: canary, control: cohort([], TrafficSample()), baseline: cohort(["gw-a"], sample(200, blocked: 10)), look: look)
        #expect(shifted.usedBaseline && shifted.against.contains("own pre-push baseline") && shifted.against.contains("no gateway left"))
        let a = concurrent.comparisons[0], b = shifted.comparisons[0]
        #expect(b.high! - b.low! > a.high! - a.low!, "the baseline's interval is wider")
        #expect(b.pValue! > a.pValue!)
    }

    @Test func tooFewRequestsIsInconclusiveAndSaysWhatIsMissing() {
        var s = RolloutJudge.Settings()
        s.minRequests = 50
        let v = RolloutJudge(settings: s).judge(canary: cohort(["gw-eu-1"], sample(12, blocked: 1)), control: cohort(["gw-b"], sample(300, blocked: 15)),
                                                baseline: nil, look: look)
        #expect(v.outcome == .inconclusive)
        #expect(v.missing?.contains("needs 38 more requests on gw-eu-1") == true, "\(v.missing ?? "")")
        #expect(v.missing?.contains("to detect a +5-point block-rate change") == true)
    }

    @Test func latencyFailsOnlyAboveBothTheRatioAndTheFloor() {
        let judge = RolloutJudge(settings: .init())
        // p99 3 ms → 8 ms: +166 %, but under +10 ms.
        let fast = judge.judge(canary: cohort(["a"], sample(2000, latencyMs: 3, slow: 100, slowMs: 8)), control: cohort(["b"], sample(2000, latencyMs: 3)),
                               baseline: nil, look: look)
        #expect(fast.comparisons.first { $0.metric == "p99" }?.outcome == .pass)
        // p99 200 ms → 600 ms on 5 % of requests: fails.
        let slow = judge.judge(canary: cohort(["a"], sample(2000, slow: 100, slowMs: 600)), control: cohort(["b"], sample(2000)), baseline: nil, look: look)
        #expect(slow.outcome == .fail && slow.comparisons.first { $0.metric == "p99" }?.outcome == .fail, "\(slow.text)")
    }

    @Test func explicitLimitsAreAbsoluteWithConfidenceBounds() throws {
        var s = RolloutJudge.Settings()
        s.thresholds = try HealthGate.parse("block_rate<10%,p99<500ms").thresholds
        let judge = RolloutJudge(settings: s)
        let fail = judge.judge(canary: cohort(["a"], sample(500, blocked: 150)), control: nil, baseline: nil, look: look)
        #expect(fail.outcome == .fail && fail.text.contains("block_rate 30.0 %"))
        let pass = judge.judge(canary: cohort(["a"], sample(500, blocked: 10)), control: nil, baseline: nil, look: look)
        #expect(pass.outcome == .pass, "\(pass.text)")
        // 9 % of 40 requests could be anything from 3 % to 22 %: inconclusive.
        let close = judge.judge(canary: cohort(["a"], sample(40, blocked: 4)), control: nil, baseline: nil, look: look)
        #expect(close.outcome == .inconclusive, "\(close.text)")
    }

    @Test func eachLooksLevelSumsToTheFalseRollbackRate() {
        let judge = RolloutJudge(settings: .init())
        var total = 0.0
        for batch in 0..<10 {
            total += judge.alpha(.init(batch: batch, batches: 10, final: true, index: 0)) * 4
            for k in 1...100_000 { total += judge.alpha(.init(batch: batch, batches: 10, final: false, index: k)) * 4 }
        }
        #expect(total <= 0.01 && total > 0.0099)
    }
}
