import Testing
@testable import KTControlPlane
import KTModel

/// Every transition of the rollout state machine, without I/O.
@Suite struct RolloutMachineTests {
    func machine(batches: [[String]] = [["a"], ["b"], ["c"]], rollback: Bool = false, window: Double = 10, pause: Double = 5,
                 canary: Double? = nil) -> RolloutMachine {
        RolloutMachine(batches: batches, rollbackOnError: rollback, healthWindow: window, pauseBetween: pause, canaryDuration: canary)
    }

    @Test func happyPathThroughEveryBatch() {
        var m = machine()
        #expect(m.handle(.start(now: 0)) == .push(batch: 0, gateways: ["a"]))
        #expect(m.handle(.batchPushed(applied: ["a"], failed: [:], now: 1)) == .watch(batch: 0, until: 11))
        #expect(m.status == .judging)
        #expect(m.handle(.judged(.pass("ok"), now: 11)) == .pause(until: 16))
        #expect(m.handle(.checked(.pass("ok"), now: 12)) == .pause(until: 16))
        #expect(m.handle(.pauseElapsed(now: 16)) == .push(batch: 1, gateways: ["b"]))
        _ = m.handle(.batchPushed(applied: ["b"], failed: [:], now: 17))
        _ = m.handle(.judged(.pass("ok"), now: 27))
        _ = m.handle(.pauseElapsed(now: 32))
        _ = m.handle(.batchPushed(applied: ["c"], failed: [:], now: 33))
        #expect(m.handle(.judged(.pass("ok"), now: 43)) == .finished)
        #expect(m.status == .succeeded)
        #expect(m.applied == ["a", "b", "c"])
    }

    @Test func aStateThatCannotBeStoredStopsTheRolloutAndResumeContinuesWhereItStopped() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        _ = m.handle(.batchPushed(applied: ["a"], failed: [:], now: 1))
        // A single-batch rollout whose final verdict cannot be stored.
        var finished = machine(batches: [["a"]])
        _ = finished.handle(.start(now: 0))
        _ = finished.handle(.batchPushed(applied: ["a"], failed: [:], now: 1))
        #expect(finished.handle(.judged(.pass("ok"), now: 11)) == .finished)
        #expect(finished.handle(.storageFailed("disk full", now: 11)) == .wait)
        #expect(finished.status == .failed && finished.reason == "cannot store the rollout's state: disk full",
                "a success that is not stored is not reported")
        #expect(finished.handle(.resume(now: 20)) == .finished)
        #expect(finished.status == .succeeded)

        #expect(m.handle(.storageFailed("disk full", now: 2)) == .wait)
        // A second failure while stopped keeps where it stopped from.
        #expect(m.handle(.storageFailed("still full", now: 3)) == .wait)
        #expect(m.stoppedFrom == .judging)
        // Resume continues as a restart would: the window starts again.
        #expect(m.handle(.resume(now: 5)) == .watch(batch: 0, until: 15))
        #expect(m.stoppedFrom == nil && m.status == .judging)

        var rollingBack = machine(rollback: true)
        _ = rollingBack.handle(.start(now: 0))
        _ = rollingBack.handle(.batchPushed(applied: [], failed: ["a": "NACK"], now: 1))
        #expect(rollingBack.status == .rollingBack)
        _ = rollingBack.handle(.storageFailed("disk full", now: 2))
        #expect(rollingBack.handle(.resume(now: 3)) == .rollback(gateways: ["a"]), "a stopped rollback goes on rolling back")
    }

    @Test func zeroWindowAndNoPauseGoStraightOn() {
        var m = machine(window: 0, pause: 0)
        _ = m.handle(.start(now: 0))
        #expect(m.handle(.batchPushed(applied: ["a"], failed: [:], now: 0)) == .push(batch: 1, gateways: ["b"]))
    }

    @Test func nackFailsWithoutRollbackAndWaits() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        #expect(m.handle(.batchPushed(applied: [], failed: ["a": "rejected"], now: 1)) == .wait)
        #expect(m.status == .failed)
        #expect(m.reason?.contains("a: rejected") == true)
        // Resume retries the batch; rollback returns every pushed gateway.
        var retry = m
        #expect(retry.handle(.resume(now: 2)) == .push(batch: 0, gateways: ["a"]))
        #expect(m.handle(.rollback(now: 2)) == .rollback(gateways: ["a"]))
        #expect(m.handle(.rollbackFinished(restored: ["a"], failed: [:], now: 3)) == .finished)
        #expect(m.status == .rolledBack)
    }

    @Test func failedGateWithRollbackOnErrorRollsBackEveryPushedGateway() {
        var m = machine(rollback: true, pause: 0)
        _ = m.handle(.start(now: 0))
        _ = m.handle(.batchPushed(applied: ["a"], failed: [:], now: 1))
        _ = m.handle(.judged(.pass("ok"), now: 11))
        _ = m.handle(.batchPushed(applied: ["b"], failed: [:], now: 12))
        #expect(m.handle(.judged(.fail("block rate"), now: 22)) == .rollback(gateways: ["a", "b"]))
        #expect(m.status == .rollingBack)
    }

    @Test func inconclusivePausesUntilTrafficOrResume() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        _ = m.handle(.batchPushed(applied: ["a"], failed: [:], now: 1))
        #expect(m.handle(.judged(.inconclusive("3 of 20"), now: 11)) == .awaitTraffic)
        #expect(m.status == .paused)
        #expect(m.handle(.checked(.inconclusive("5 of 20"), now: 12)) == .awaitTraffic)
        var traffic = m
        #expect(traffic.handle(.checked(.pass("ok"), now: 13)) == .pause(until: 18))
        var bad = m
        #expect(bad.handle(.checked(.fail("errors"), now: 13)) == .wait)
        #expect(m.handle(.resume(now: 13)) == .pause(until: 18))
    }

    @Test func failureDuringThePauseFailsTheBatch() {
        var m = machine(rollback: true)
        _ = m.handle(.start(now: 0))
        _ = m.handle(.batchPushed(applied: ["a"], failed: [:], now: 1))
        _ = m.handle(.judged(.pass("ok"), now: 11))
        #expect(m.status == .pausing)
        #expect(m.handle(.checked(.fail("p99"), now: 12)) == .rollback(gateways: ["a"]))
    }

    @Test func abortStopsButNotDuringRollback() {
        var m = machine(rollback: true)
        _ = m.handle(.start(now: 0))
        var aborted = m
        #expect(aborted.handle(.abort(now: 1)) == .finished)
        #expect(aborted.status == .aborted)
        _ = m.handle(.batchPushed(applied: [], failed: ["a": "offline"], now: 1))
        #expect(m.status == .rollingBack)
        if case .rejected = m.handle(.abort(now: 2)) {} else { Issue.record("abort during rollback must be refused") }
        #expect(m.status == .rollingBack)
        if case .rejected = aborted.handle(.resume(now: 3)) {} else { Issue.record("resume after abort must be refused") }
    }

    @Test func canaryWatchesForItsDurationThenTheRestFollow() {
        var m = machine(batches: [["a"], ["b", "c"]], window: 5, pause: 0, canary: 60)
        _ = m.handle(.start(now: 0))
        #expect(m.handle(.batchPushed(applied: ["a"], failed: [:], now: 1)) == .watch(batch: 0, until: 61))
        #expect(m.handle(.judged(.pass("ok"), now: 61)) == .push(batch: 1, gateways: ["b", "c"]))
        #expect(m.handle(.batchPushed(applied: ["b", "c"], failed: [:], now: 62)) == .watch(batch: 1, until: 67))
    }

    @Test func resumeAfterRestartContinuesFromPersistedState() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        _ = m.handle(.batchPushed(applied: ["a"], failed: [:], now: 1))
        _ = m.handle(.judged(.pass("ok"), now: 11))
        var pausing = m
        #expect(pausing.resumeAfterRestart(now: 13) == .pause(until: 16))   // the remaining time
        _ = m.handle(.pauseElapsed(now: 16))
        var pushing = m
        #expect(pushing.resumeAfterRestart(now: 17) == .push(batch: 1, gateways: ["b"]))
        _ = m.handle(.batchPushed(applied: ["b"], failed: [:], now: 17))
        var judging = m
        #expect(judging.resumeAfterRestart(now: 20) == .watch(batch: 1, until: 30))   // the window restarts
        _ = m.handle(.rollback(now: 20))
        var rolling = m
        #expect(rolling.resumeAfterRestart(now: 21) == .rollback(gateways: ["a", "b"]))
    }
}

@Suite struct HealthGateTests {
    @Test func parsesTheGrammar() throws {
        let g = try HealthGate.parse("block_rate<5%,error_rate<=2%, p99<500ms,overhead_p99<5ms,p50<1s")
        #expect(g.thresholds.count == 5)
        #expect(g.thresholds[0].value == 0.05)
        #expect(g.thresholds[4].value == 1000)
    }

    @Test(arguments: ["", "block_rate", "latency<5ms", "p99<5%", "block_rate<5ms", "p99<fast"])
    func rejectsBadExpressions(_ text: String) {
        #expect(throws: HealthGate.ParseError.self) { try HealthGate.parse(text) }
    }
}
