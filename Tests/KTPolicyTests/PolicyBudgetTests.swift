import Foundation
import Testing
import KTModel
import KTConfig
@testable import KTPolicy

/// Config regexes run against the evaluation budget; the executor keeps policy work off the pool.
@Suite struct PolicyBudgetTests {
    let evil = String(repeating: "a", count: 32) + "b"

    @Test func aBacktrackingPatternStopsAtTheBudgetAndFailModeDecides() throws {
        for (mode, expected) in [(PolicyEngine.FailMode.block, Verdict.block), (.allow, .allow)] {
            let text = "pack: { name: t, version: 1.0.0 }\nproviders: { targets: [ { id: m, provider: mock, model: x } ] }\n"
                + "policies: { chain: [dlp-filter] }\npolicy: { dlp-filter: { detect_patterns: [ { name: runs, pattern: \"(a+)+$\" } ] } }\n"
            let e = try PolicyEngine(config: ConfigLoader().load(text: text, name: "t.yaml").config, failMode: mode)
            var segments = [TextSegment(role: "user", text: evil)]
            let started = ContinuousClock.now
            let d = e.evaluate(&segments, context: .within(.milliseconds(100), phase: .request))
            #expect(ContinuousClock.now - started < .seconds(2), "the pattern ran past its budget")
            #expect(d.verdict == expected)
            #expect(d.results.first?.status == .error)
            #expect(d.results.first?.message?.contains("budget") == true)
        }
    }

    @Test func everyKindOfConfigPatternHonoursTheDeadline() throws {
        let pattern = "(a+)+$"
        let configs = [
            "policies: { chain: [safety-filter] }\npolicy: { safety-filter: { block_if: [\"/\(pattern)/\"] } }\n",
            "policies: { chain: [pii-detector] }\npolicy: { pii-detector: { detect_patterns: [\"\(pattern)\"] } }\n",
            "policies: { chain: [prompt-injection] }\npolicy: { prompt-injection: { attack_patterns: [\"\(pattern)\"] } }\n",
        ]
        for yaml in configs {
            let e = try engine(yaml)
            var segments = [TextSegment(role: "user", text: evil)]
            let started = ContinuousClock.now
            let d = e.evaluate(&segments, context: .within(.milliseconds(50), phase: .request))
            #expect(ContinuousClock.now - started < .seconds(2), "\(yaml)")
            #expect(d.results.first?.status == .error, "\(yaml)")
        }
        let rewriter = try engine("policies: { chain: [response-rewriter] }\npolicy: { response-rewriter: { rules: [ { name: r, pattern: \"\(pattern)\", replacement: x } ] } }\n")
        var segments = [TextSegment(role: "assistant", text: evil)]
        let d = rewriter.evaluate(&segments, context: .within(.milliseconds(50), phase: .response))
        #expect(d.results.first?.status == .error)
    }

    @Test func executorRunsJobsAndRefusesPastItsQueue() async throws {
        let executor = PolicyExecutor(threads: 1, queueLimit: 2)
        let gate = DispatchSemaphore(value: 0), started = DispatchSemaphore(value: 0)
        // One job holds the only thread; two more fill the queue; the fourth is refused.
        let held = Task { try await executor.run { started.signal(); gate.wait(); return 1 } }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in Thread { started.wait(); c.resume() }.start() }
        let deadline = ContinuousClock.now + .seconds(5)
        let queued = [Task { try await executor.run { 2 } }, Task { try await executor.run { 3 } }]
        while executor.queued < 2, ContinuousClock.now < deadline { await Task.yield() }
        await #expect(throws: PolicyExecutor.Overloaded.self) { try await executor.run { 4 } }
        gate.signal()
        #expect(try await held.value == 1)
        #expect(try await queued[0].value == 2)
        #expect(try await queued[1].value == 3)
    }
}
