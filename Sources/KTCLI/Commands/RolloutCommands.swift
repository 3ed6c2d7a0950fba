import Foundation
import KTModel
import KTConfig
import KTGateway
import KTControlPlane

/// `kt rollout list|status|abort|resume|rollback` and the progress printer shared with `config push`.
enum RolloutCommands {
    static let list: Command.Run = { args, ctx in
        await FleetCLI.run { () throws(FleetCLI.Exit) -> Int32 in
            let client = try FleetCLI.client(ctx)
            let r = try await FleetCLI.call(ctx, client, "GET", "/v1/rollouts")
            if args.flag("json") { ctx.out(r.serialized(pretty: true)); return 0 }
            let list = r.terminalSafe["rollouts"]?.arrayValue ?? []
            if list.isEmpty { ctx.out("No rollouts yet. Start one with kt config push --confirm."); return 0 }
            var table = TextTable(["ID", "Status", "Version", "Strategy", "Gateways", "Batch", "Created"])
            for x in list {
                let batches = x["batches"]?.arrayValue ?? []
                table.add([x["id"]?.stringValue ?? "", x["status"]?.stringValue ?? "", x["version"]?.stringValue ?? "", x["strategy"]?.stringValue ?? "",
                           "\(batches.reduce(0) { $0 + ($1.arrayValue?.count ?? 0) })", "\(x["current_batch"]?.intValue ?? 0)/\(batches.count)",
                           x["created_at"]?.stringValue ?? ""])
            }
            ctx.stdout.write(ctx.render(table))
            return 0
        }
    }

    static let status: Command.Run = { args, ctx in
        await FleetCLI.run { () throws(FleetCLI.Exit) -> Int32 in
            let client = try FleetCLI.client(ctx)
            let id = args.positionals[0]
            let received = try await FleetCLI.call(ctx, client, "GET", "/v1/rollouts/\(ControlPlaneClient.percentEncode(id))")
            if args.flag("follow") {
                ctx.out(ConfigPushCommand.header(received.terminalSafe))
                return await follow(id, client: client, ctx: ctx, json: args.flag("json"))
            }
            if args.flag("json") { ctx.out(received.serialized(pretty: true)); return 0 }
            let r = received.terminalSafe
            var out = ConfigPushCommand.header(r) + "\n"
            out += "Status: \(r["status"]?.stringValue ?? "")\(r["reason"]?.stringValue.map { " — \($0)" } ?? "")\n"
            out += "Batch \(r["current_batch"]?.intValue ?? 0)/\(r["batches"]?.arrayValue?.count ?? 0); updated: \((r["applied"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ", "))\n\n"
            var printer = ProgressPrinter(style: ctx.style, tty: ctx.stdoutIsTTY)
            for e in r["log"]?.arrayValue ?? [] { if let l = printer.line(e) { out += l + "\n" } }
            // While a window runs, its latest look (the log has only deciding ones).
            if let v = r["verdict"], v != .null, !(r["status"]?.stringValue.map { ["succeeded", "rolled_back", "aborted"].contains($0) } ?? true) {
                let look = RolloutJudge.Look(json: v["look"])
                out += "\nLatest look (batch \(look.map { "\($0.batch + 1)/\($0.batches)" } ?? "?")): \(v["outcome"]?.stringValue ?? "?") against \(v["against"]?.stringValue ?? "?")\n"
                if let missing = v["missing"]?.stringValue { out += "  \(missing)\n" }
                for m in v["metrics"]?.arrayValue ?? [] { out += "    \(m["text"]?.stringValue ?? "")\n" }
            }
            ctx.stdout.write(out)
            return 0
        }
    }

    /// `kt rollout analyze ID`: the stored verdicts judged again from their cohorts' samples,
    /// with the rollout's settings or the ones given (a post-mortem: "would a 10-point margin
    /// have rolled back?").
    static let analyze: Command.Run = { args, ctx in
        await FleetCLI.run { () throws(FleetCLI.Exit) -> Int32 in
            let client = try FleetCLI.client(ctx)
            let id = args.positionals[0]
            let r = try await FleetCLI.call(ctx, client, "GET", "/v1/rollouts/\(ControlPlaneClient.percentEncode(id))")
            var stored = r["judge"] ?? .null
            do throws(UsageError) {
                for (k, v) in try ConfigPushCommand.judgeFields(args) { stored = stored.setting(k, v) }
            } catch {
                ctx.err("error: \(error.message)")
                throw FleetCLI.Exit(code: 2)
            }
            let judge = RolloutJudge(settings: RolloutJudge.Settings(json: stored))
            var results: [JSONValue] = []
            var text = ConfigPushCommand.header(r) + "\n"
            let verdicts = r["verdicts"]?.arrayValue ?? []
            if verdicts.isEmpty { text += "\nNo stored verdicts: the rollout was not judged (no health window, or it stopped before one ended).\n" }
            for v in verdicts {
                guard let canary = RolloutJudge.Cohort(json: v["canary"]), let look = RolloutJudge.Look(json: v["look"]) else { continue }
                let control = RolloutJudge.Cohort(json: v["control"]), baseline = RolloutJudge.Cohort(json: v["baseline"])
                let again = judge.judge(canary: canary, control: control, baseline: baseline, look: look)
                let before = v["outcome"]?.stringValue ?? "?"
                results.append(again.json(canary: canary, control: control, baseline: baseline, look: look).setting("stored_outcome", .string(before)))
                let when = look.final ? "window end" : "look \(look.index)"
                let change = before == again.outcome.rawValue ? again.outcome.rawValue : "\(again.outcome.rawValue) (stored: \(before))"
                text += "\nBatch \(look.batch + 1)/\(look.batches), \(when), against \(again.against): \(change)\n"
                for c in again.comparisons { text += "  \(c.outcome == .fail ? (ctx.stdoutIsTTY ? ctx.style.cross : "FAIL") : " ") \(c.text)\n" }
            }
            if args.flag("json") {
                ctx.out(JSONValue.object([("id", .string(id)), ("settings", judge.settings.json), ("verdicts", .array(results))]).serialized(pretty: true))
            } else {
                ctx.stdout.write(text)
            }
            return 0
        }
    }

    static func operate(_ verb: String) -> Command.Run {
        { args, ctx in
            await FleetCLI.run { () throws(FleetCLI.Exit) -> Int32 in
                let client = try FleetCLI.client(ctx)
                let id = args.positionals[0]
                let path = "/v1/rollouts/\(ControlPlaneClient.percentEncode(id))"
                // The log so far: what follows the verb is new (the old "failed" entry must not
                // end the follow at once).
                let seen = try await FleetCLI.call(ctx, client, "GET", path)["log"]?.arrayValue?.count ?? 0
                let r = try await FleetCLI.call(ctx, client, "POST", path + "/\(verb)")
                if args.flag("json") { ctx.out(r.serialized(pretty: true)); return 0 }
                ctx.out("Rollout \(id): \(verb) accepted; now \(r["status"]?.stringValue ?? "?").")
                if verb == "abort" || args.flag("detach") { return 0 }
                // A rollback succeeds when the rollout ends rolled back; a gateway it could not
                // return is in the log, and the follow waits for the end rather than stopping there.
                if verb == "rollback" {
                    return await follow(id, client: client, ctx: ctx, json: false, skipThrough: seen, success: ["rolled_back"], stopAtFailure: false)
                }
                return await follow(id, client: client, ctx: ctx, json: false, skipThrough: seen)
            }
        }
    }

    /// Streams a rollout's progress until it ends (exit 0 only when it succeeded), stops at a
    /// failure that waits for an operator (exit 1), or detaches on Ctrl-C.
    /// `skipThrough`: log entries up to this sequence number were seen already.
    static func follow(_ id: String, client: ControlPlaneClient, ctx: CLIContext, json: Bool, skipThrough: Int = 0,
                       success: Set<String> = ["succeeded"], stopAtFailure: Bool = true) async -> Int32 {
        let stream: AsyncThrowingStream<(id: String?, event: String?, data: JSONValue), any Error>
        do throws(ControlPlaneClient.Failure) {
            stream = try await client.events("/v1/rollouts/\(ControlPlaneClient.percentEncode(id))/stream")
        } catch {
            FleetCLI.report(ctx, error)
            return 1
        }
        // Ctrl-C detaches: the rollout lives in the control plane, so say how to follow again and exit.
        SignalWaiter.onInterrupt {
            ctx.err("\nDetached. The rollout continues in the control plane. Follow it again: kt rollout status \(id) --follow")
            exit(1)
        }
        var printer = ProgressPrinter(style: ctx.style, tty: ctx.stdoutIsTTY)
        do {
            for try await e in stream {
                if e.event == "end" {
                    let status = e.data["status"]?.stringValue ?? "?"
                    if json { ctx.out(e.data.serialized(pretty: true)) }
                    return success.contains(status) ? 0 : 1
                }
                if let seq = e.data["seq"]?.intValue, seq <= skipThrough { continue }
                if json { ctx.out(e.data.serialized()) } else if let l = printer.line(e.data) { ctx.out(l) }
                if stopAtFailure, e.data["kind"]?.stringValue == "failed" {
                    ctx.out("The rollout is waiting: kt rollout resume \(id) (retry the batch) | kt rollout rollback \(id) | kt rollout abort \(id)")
                    return 1
                }
            }
        } catch {
            ctx.err("error: the progress stream broke: \(error); the rollout continues in the control plane. Follow again: kt rollout status \(id) --follow")
            return 1
        }
        ctx.err("error: the progress stream ended early; follow again: kt rollout status \(id) --follow")
        return 1
    }
}

/// Turns progress entries into the lines of "Rolling Config Update".
struct ProgressPrinter {
    var style: TerminalStyle
    var tty: Bool

    mutating func line(_ entry: JSONValue) -> String? {
        let e = entry.terminalSafe
        let text = e["text"]?.stringValue ?? ""
        let ok = tty ? style.check : "ok", bad = tty ? style.cross : "FAIL", back = tty ? "↩" : "<-", wait = tty ? "⏳" : "..."
        switch e["kind"]?.stringValue ?? "" {
        case "start": return nil
        case "batch": return "\n" + (tty ? style.bold("Batch " + text.dropFirst(6)) : "Batch " + text.dropFirst(6))
        case "pushed", "health": return "  \(ok) \(text)"
        case "push_failed", "health_failed", "restore_failed", "failed": return "  \(bad) \(text)"
        case "pausing", "inconclusive": return "  \(wait) \(text)"
        case "rollback", "restored": return "  \(back) \(text)"
        case "operator": return "  • \(text)"
        case "health_inconclusive": return "  \(wait) \(text)"
        case "metric":
            let mark = e["outcome"]?.stringValue == "fail" ? bad : " "
            return "    \(mark) \(text.trimmingCharacters(in: .whitespaces))"
        case "done": return "\n" + (text.contains("succeeded") ? "\(ok) " : "\(bad) ") + text.prefix(1).uppercased() + text.dropFirst()
        default: return "  \(text)"
        }
    }
}
