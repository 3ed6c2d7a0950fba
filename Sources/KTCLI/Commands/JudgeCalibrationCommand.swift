import Foundation
import KTModel
import KTControlPlane

/// `kt dev judge-calibration`: the tables of docs/rollout-analysis.md. 10-gateway rolling
/// rollouts (batch size 1, five looks per window) with a change that changes nothing (A/A) and
/// with known regressions (A/B), judged at the defaults.
enum JudgeCalibrationCommand {
    struct Cell: Sendable {
        var name: String
        var requests: Int
        var block: Double
        var error: Double
        var change: @Sendable (inout RolloutJudgeSimulation.Scenario) -> Void
    }

    static func run(_ args: ParsedArguments, _ ctx: CLIContext) async -> Int32 {
        let rollouts: Int, seed: Int
        do throws(UsageError) {
            rollouts = try UsageError.integer(args.value("rollouts") ?? "2000", flag: "--rollouts", in: 10...1_000_000, command: "dev judge-calibration")
            seed = try UsageError.integer(args.value("seed") ?? "1", flag: "--seed", in: 0...Int.max, command: "dev judge-calibration")
        } catch {
            ctx.err("error: \(error.message)")
            return 2
        }
        var aa: [Cell] = []
        for n in [30, 100, 400] {
            for (b, e) in [(0.05, 0.01), (0.02, 0.02), (0.10, 0.005)] { aa.append(Cell(name: "no change", requests: n, block: b, error: e, change: { _ in })) }
        }
        var ab: [Cell] = []
        for (points, sizes) in [(0.05, [100, 400]), (0.10, [50, 100, 400]), (0.20, [30, 50, 100])] {
            for n in sizes { ab.append(Cell(name: "+\(Int(points * 100)) points block rate", requests: n, block: 0.05, error: 0.01, change: { $0.blockRateIncrease = points })) }
        }
        for n in [100, 400] { ab.append(Cell(name: "×3 error rate (1 % → 3 %)", requests: n, block: 0.05, error: 0.01, change: { $0.errorRateFactor = 3 })) }
        for n in [100, 400] { ab.append(Cell(name: "+100 % latency (p99 ×2)", requests: n, block: 0.05, error: 0.01, change: { $0.latencyFactor = 2 })) }
        @Sendable func simulate(_ c: Cell, _ i: Int) -> RolloutJudgeSimulation.Result {
            var s = RolloutJudgeSimulation.Scenario()
            s.requestsPerWindow = c.requests
            s.blockRate = c.block
            s.errorRate = c.error
            s.settings.minRequests = 10
            c.change(&s)
            return RolloutJudgeSimulation.run(s, rollouts: rollouts, seed: UInt64(seed) &* 1_000_003 &+ UInt64(i))
        }
        // Cells are independent: one task each.
        let cells = aa + ab
        let results = await withTaskGroup(of: (Int, RolloutJudgeSimulation.Result).self) { group in
            for (i, c) in cells.enumerated() { group.addTask { (i, simulate(c, i)) } }
            var out = [RolloutJudgeSimulation.Result](repeating: .init(), count: cells.count)
            for await (i, r) in group { out[i] = r }
            return out
        }
        if args.flag("json") {
            ctx.out(JSONValue.array(cells.enumerated().map { i, c in
                .object([("scenario", .string(c.name)), ("requests_per_window", .int(c.requests)), ("block_rate", .double(c.block)),
                         ("error_rate", .double(c.error)), ("rollouts", .int(results[i].rollouts)), ("failed", .int(results[i].failed)),
                         ("failed_in_first_batch", .int(results[i].failedInFirstBatch)), ("mean_batches_at_failure", .double(results[i].meanBatchesAtFailure))])
            }).serialized(pretty: true))
            return 0
        }
        func pct(_ x: Int, _ n: Int) -> String { String(format: "%.2f %%", Double(x) * 100 / Double(max(1, n))) }
        func upper(_ x: Int, _ n: Int) -> String { String(format: "%.2f %%", Statistics.wilson(x, n, z: 1.959964).high * 100) }
        var out = "## A/A: a change that changes nothing (\(rollouts) rollouts per row, seed \(seed))\n\n"
        out += "| requests per gateway-window | block rate | 5xx rate | rolled back | 95 % upper bound |\n|---|---|---|---|---|\n"
        for (i, c) in aa.enumerated() {
            out += "| \(c.requests) | \(Int(c.block * 100)) % | \(c.error * 100) % | \(pct(results[i].failed, results[i].rollouts)) | \(upper(results[i].failed, results[i].rollouts)) |\n"
        }
        out += "\n## A/B: what a regression costs before it is caught\n\n"
        out += "| change | requests per gateway-window | caught (rollout fails) | caught in the first batch | mean batches updated when caught |\n|---|---|---|---|---|\n"
        for (j, c) in ab.enumerated() {
            let r = results[aa.count + j]
            out += "| \(c.name) | \(c.requests) | \(pct(r.failed, r.rollouts)) | \(pct(r.failedInFirstBatch, r.rollouts)) | \(String(format: "%.1f", r.meanBatchesAtFailure)) |\n"
        }
        ctx.stdout.write(out)
        return 0
    }
}
