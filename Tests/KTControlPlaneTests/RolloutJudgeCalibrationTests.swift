import Foundation
import Testing
import KTModel
import KTTestSupport
@testable import KTControlPlane

/// The judge's error rates, by seeded simulation of 10-batch rolling rollouts looked at five
/// times per window (docs/rollout-analysis.md has the full tables from `kt dev judge-calibration`).
/// One simulation at a time, each on a low-priority thread: the suite shares two cores with
/// end-to-end tests whose child processes must keep answering.
@Suite(.serialized) struct RolloutJudgeCalibrationTests {
    func simulate(_ s: RolloutJudgeSimulation.Scenario, rollouts: Int, seed: UInt64) async -> RolloutJudgeSimulation.Result {
        await onBackgroundThread { RolloutJudgeSimulation.run(s, rollouts: rollouts, seed: seed) }
    }

    func scenario(requests: Int, block: Double, error: Double) -> RolloutJudgeSimulation.Scenario {
        var s = RolloutJudgeSimulation.Scenario()
        s.requestsPerWindow = requests
        s.blockRate = block
        s.errorRate = error
        s.settings.minRequests = 10
        return s
    }

    /// A/A: a change that changes nothing is rolled back in at most 1 % of rollouts, at every
    /// traffic level the issue names, with the ordinary block and error rates of a gateway.
    @Test(arguments: [(30, 0.05, 0.01), (100, 0.05, 0.01), (400, 0.02, 0.02), (400, 0.05, 0.01)])
    func aChangeThatChangesNothingRarelyRollsBack(_ c: (Int, Double, Double)) async {
        let r = await simulate(scenario(requests: c.0, block: c.1, error: c.2), rollouts: 400, seed: 0x5EED_0000 + UInt64(c.0))
        #expect(r.failureRate <= 0.01, "\(r.failed) of \(r.rollouts) A/A rollouts failed at \(c.0) requests per window")
    }

    @Test func aTwentyPointBlockRateIncreaseIsCaughtAtFiftyRequestsPerWindow() async {
        var s = scenario(requests: 50, block: 0.05, error: 0.01)
        s.blockRateIncrease = 0.20
        let r = await simulate(s, rollouts: 200, seed: 20)
        #expect(r.failureRate >= 0.9, "\(r.failed) of \(r.rollouts)")
    }

    @Test func aFivePointBlockRateIncreaseIsCaughtAtFourHundredRequestsPerWindow() async {
        var s = scenario(requests: 400, block: 0.05, error: 0.01)
        s.blockRateIncrease = 0.05
        let r = await simulate(s, rollouts: 100, seed: 5)
        #expect(r.failureRate >= 0.9, "\(r.failed) of \(r.rollouts), mean batches at failure \(r.meanBatchesAtFailure)")
    }
}
