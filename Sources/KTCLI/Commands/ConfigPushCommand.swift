import Foundation
import KTModel
import KTConfig
import KTGateway
import KTControlPlane

/// `kt config push`: preview a config change per gateway (the default, and `--dry-run`), or
/// execute it as a rollout inside the control plane and stream its progress (`--confirm`).
enum ConfigPushCommand {
    static let run: Command.Run = { args, ctx in
        await FleetCLI.run { () throws(FleetCLI.Exit) -> Int32 in
            func usage(_ m: String) -> Int32 { ctx.err("error: \(m)\nRun 'kt config push --help' for usage."); return 2 }
            guard let file = args.value("file") else { return usage("--file is required (the config to push)") }
            let hasGateway = !args.all("gateway").isEmpty
            let hasScope = args.value("group") != nil || args.value("selector") != nil
            guard hasGateway != hasScope else { return usage("choose the targets: --gateway ID|GLOB (repeatable), or --group G and/or -l/--selector K=V") }
            if args.flag("dry-run") && args.flag("confirm") { return usage("--dry-run and --confirm exclude each other") }
            let output = args.value("output") ?? (args.flag("json") ? "json" : "text")
            guard ["text", "json", "markdown"].contains(output) else { return usage("--output must be text, json or markdown") }
            if args.value("plan") != nil && !args.flag("confirm") { return usage("--plan goes with --confirm") }
            let path = PolicyLintCommand.resolve(file, in: ctx)
            guard let data = FileManager.default.contents(atPath: path), let content = String(data: data, encoding: .utf8) else {
                ctx.err("error: cannot read \(file)")
                return 2
            }
            // Validate locally first: the error names file, line and column.
            do { _ = try ConfigLoader().load(paths: [path]) } catch let e as ConfigError {
                let report = LintReport(file: file, loaded: nil, errors: e.errors, warnings: [])
                ctx.err("error: \(file) is invalid; nothing was pushed")
                ctx.stderr.write(report.human(style: TerminalStyle(color: false)))
                return 2
            } catch {
                ctx.err("error: \((error as? KTError)?.message ?? "\(error)")")
                return 2
            }
            var patterns = args.all("gateway")
            var source = args.value("source")
            let client = try FleetCLI.client(ctx)
            if args.value("selector") != nil {
                patterns = try await FleetCLI.selectedIDs(args, ctx, client, emptyIsAnswer: false) ?? []
            } else if args.value("group") != nil {
                patterns = try FleetCLI.groupIDs(args, ctx) ?? []
            }
            if args.value("group") != nil {
                if source == nil, let g = try? GatewayGroupsLoader.load(path: args.value("groups-file").map { PolicyLintCommand.resolve($0, in: ctx) },
                                                                        environment: ctx.environment).group(named: args.value("group")!),
                   let cs = g.configSource {
                    source = sourceName(cs)
                }
            }
            let sourceName = source ?? sourceName(file)
            var body: [(String, JSONValue)] = [("source", .string(sourceName)), ("content", .string(content)),
                                               ("gateways", .array(patterns.map { .string($0) })), ("adopt", .bool(args.flag("adopt")))]
            guard args.flag("confirm") else {
                let plan = try await FleetCLI.call(ctx, client, "POST", "/v1/plans", body: .object(body))
                switch output {
                case "json": ctx.out(plan.setting("dry_run", true).serialized(pretty: true))
                case "markdown": ctx.stdout.write(markdown(plan.terminalSafe, file: file))
                default: ctx.stdout.write(text(plan.terminalSafe, file: file, dryRun: args.flag("dry-run"), args: args, arrow: ctx.arrow))
                }
                return 0
            }
            // Execute.
            do throws(UsageError) {
                if let s = args.value("strategy") {
                    guard ["all-at-once", "rolling", "canary"].contains(s) else { throw UsageError("--strategy must be all-at-once, rolling or canary", command: "") }
                    body.append(("strategy", .string(s)))
                }
                if let n = args.value("batch-size") {
                    let v = try UsageError.integer(n, flag: "--batch-size", in: 1...100_000, command: "")
                    body.append(("batch_size", .int(v)))
                }
                if let n = args.value("min-requests") {
                    let v = try UsageError.integer(n, flag: "--min-requests", in: 0...100_000_000, command: "")
                    body.append(("min_requests", .int(v)))
                }
                for (flag, key) in [("pause-between", "pause_between_seconds"), ("health-window", "health_window_seconds"),
                                    ("canary-duration", "canary_duration_seconds"), ("ack-timeout", "ack_timeout_seconds")] {
                    if let v = args.value(flag) { body.append((key, .double(try DurationText.parse(v, flag: "--\(flag)").secondsDouble))) }
                }
                if let t = args.value("success-threshold") {
                    do throws(HealthGate.ParseError) { _ = try HealthGate.parse(t) } catch { throw UsageError("--success-threshold: \(error.message)", command: "") }
                    body.append(("success_threshold", .string(t)))
                }
                body += try judgeFields(args)
                if let c = args.value("control") {
                    guard ["rollout", "group", "baseline"].contains(c) else { throw UsageError("--control must be rollout, group or baseline", command: "") }
                    body.append(("control", .string(c)))
                    if c == "group" {
                        guard let g = args.value("control-group") ?? args.value("group") else {
                            throw UsageError("--control group needs --control-group G (or --group G): the group whose other gateways are the control", command: "")
                        }
                        var groupArgs = args
                        groupArgs.values["group"] = [g]
                        let ids: [String]
                        do { ids = try FleetCLI.groupIDs(groupArgs, ctx) ?? [] } catch { throw UsageError("--control-group \(g): cannot read the groups file", command: "") }
                        body.append(("control_gateways", .array(ids.map { .string($0) })))
                    }
                }
            } catch {
                return usage(error.message)
            }
            if args.flag("rollback-on-error") { body.append(("rollback_on_error", true)) }
            if let plan = args.value("plan") { body.append(("plan_id", .string(plan))) }
            let r = try await FleetCLI.call(ctx, client, "POST", "/v1/rollouts", body: .object(body))
            let id = r["id"]?.stringValue ?? "?"
            if args.flag("json") && args.flag("detach") { ctx.out(r.serialized(pretty: true)); return 0 }
            if args.flag("detach") {
                ctx.out("Rollout \(id) started (\(r["strategy"]?.stringValue ?? "") of \(r["version"]?.stringValue ?? "")). Follow it: kt rollout status \(id) --follow")
                return 0
            }
            ctx.out(header(r.terminalSafe))
            return await RolloutCommands.follow(id, client: client, ctx: ctx, json: args.flag("json"))
        }
    }

    /// The judge's settings as flags (`config push`, `rollout analyze`).
    static let judgeOptions: [OptionSpec] = [
        OptionSpec("false-rollback-rate", value: "PCT", "chance at most that a no-op change rolls back (default 1%)"),
        OptionSpec("block-rate-margin", value: "POINTS", "fail only above this block-rate increase (default 5)"),
        OptionSpec("error-rate-margin", value: "POINTS", "and this error-rate increase (default 1)"),
        OptionSpec("error-rate-ratio", value: "X", "and this error-rate ratio (default 2)"),
        OptionSpec("latency-margin", value: "PCT", "p99 growth that fails (default 50%)"),
        OptionSpec("latency-floor", value: "DURATION", "and at least this much (default 10ms)"),
    ]

    /// The judge flags given, as rollout body fields (rates in percent, with or without `%`).
    static func judgeFields(_ args: ParsedArguments) throws(UsageError) -> [(String, JSONValue)] {
        func percent(_ flag: String, in range: ClosedRange<Double>) throws(UsageError) -> Double? {
            guard var text = args.value(flag) else { return nil }
            if text.hasSuffix("%") { text.removeLast() }
            guard let v = Double(text), v.isFinite, range.contains(v) else {
                throw UsageError("--\(flag) takes a percentage in \(range.lowerBound)…\(range.upperBound) (e.g. \(range.upperBound >= 5 ? "5" : "1%"))", command: "")
            }
            return v / 100
        }
        var out: [(String, JSONValue)] = []
        if let v = try percent("false-rollback-rate", in: 0.0001...50) { out.append(("false_rollback_rate", .double(v))) }
        if let v = try percent("block-rate-margin", in: 0...100) { out.append(("block_rate_margin", .double(v))) }
        if let v = try percent("error-rate-margin", in: 0...100) { out.append(("error_rate_margin", .double(v))) }
        if let v = try percent("latency-margin", in: 0...10_000) { out.append(("latency_ratio", .double(1 + v))) }
        if let text = args.value("error-rate-ratio") {
            guard let v = Double(text), v.isFinite, (1...1000).contains(v) else { throw UsageError("--error-rate-ratio takes a number in 1…1000 (e.g. 2)", command: "") }
            out.append(("error_rate_ratio", .double(v)))
        }
        if let text = args.value("latency-floor") {
            out.append(("latency_floor_ms", .double(try DurationText.parse(text, flag: "--latency-floor").secondsDouble * 1000)))
        }
        return out
    }

    /// `policies/production.yaml` → `production`.
    static func sourceName(_ path: String) -> String {
        let base = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        let cleaned = String(base.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "-" })
        return cleaned.isEmpty ? "default" : cleaned
    }

    static func header(_ r: JSONValue) -> String {
        let strategy = r["strategy"]?.stringValue ?? "rolling"
        let title = strategy == "canary" ? "Canary Config Update" : (strategy == "all-at-once" ? "Config Update (all at once)" : "Rolling Config Update")
        let batches = r["batches"]?.arrayValue ?? []
        let count = batches.reduce(0) { $0 + ($1.arrayValue?.count ?? 0) }
        return "\(title) — \(r["version"]?.stringValue ?? "") (\(FleetCLI.shortSHA(r["sha"]?.stringValue))) to \(count) gateway(s) in \(batches.count) batch(es)\nRollout \(r["id"]?.stringValue ?? "")"
    }

    static func text(_ plan: JSONValue, file: String, dryRun: Bool, args: ParsedArguments, arrow: String = "->") -> String {
        var out = "Config Push Preview\(dryRun ? " (dry-run)" : "")\n"
        out += "  Config:  \(plan["version"]?.stringValue ?? "") (\(FleetCLI.shortSHA(plan["sha"]?.stringValue))) from \(file)\(plan["new_version"]?.boolValue == true ? "  [new version]" : "")\n"
        out += "  Source:  \(plan["source"]?.stringValue ?? "")\n"
        out += "  Plan:    \(plan["plan_id"]?.stringValue ?? "")\n"
        let targets = plan["targets"]?.arrayValue ?? []
        out += "\nTargets (\(targets.count)):\n"
        if targets.isEmpty { out += "  none\n" }
        let w = max(10, targets.compactMap { $0["gateway"]?.stringValue?.count }.max() ?? 0)
        for t in targets {
            let cur = t["current_version"]?.stringValue.map { "\($0) (\(FleetCLI.shortSHA(t["current_sha"]?.stringValue)))" } ?? "unknown"
            let gw = t["gateway"]?.stringValue ?? ""
            out += "  \(gw.padding(toLength: w, withPad: " ", startingAt: 0))  \(cur) \(arrow) \(t["new_version"]?.stringValue ?? "") (\(FleetCLI.shortSHA(t["new_sha"]?.stringValue)))\n"
            let lines = (t["change_lines"]?.arrayValue ?? []).compactMap(\.stringValue)
            for l in lines { out += "      \(l)\n" }
            if lines.isEmpty { out += "      (no semantic change)\n" }
        }
        let skipped = plan["skipped"]?.arrayValue ?? []
        if !skipped.isEmpty {
            out += "\nSkipped (\(skipped.count)):\n"
            for s in skipped { out += "  \((s["gateway"]?.stringValue ?? "").padding(toLength: w, withPad: " ", startingAt: 0))  \(s["reason"]?.stringValue ?? "")\n" }
        }
        let unmatched = (plan["unmatched"]?.arrayValue ?? []).compactMap(\.stringValue)
        if !unmatched.isEmpty { out += "\nNo registered gateway matches: \(unmatched.joined(separator: ", "))\n" }
        let targetArgs = args.value("group").map { "--group \($0)" } ?? args.all("gateway").map { "--gateway '\($0)'" }.joined(separator: " ")
        out += "\nNothing was pushed. To roll this out: kt config push --file \(file) \(targetArgs) --confirm --plan \(plan["plan_id"]?.stringValue ?? "")\n"
        return out
    }

    static func markdown(_ plan: JSONValue, file: String) -> String {
        var out = "### Config push preview: `\(plan["version"]?.stringValue ?? "")` (`\(FleetCLI.shortSHA(plan["sha"]?.stringValue))`)\n\n"
        out += "Source `\(plan["source"]?.stringValue ?? "")` from `\(file)` · plan `\(plan["plan_id"]?.stringValue ?? "")`\n\n"
        out += "| Gateway | Current | New | Changes |\n|---|---|---|---|\n"
        for t in plan["targets"]?.arrayValue ?? [] {
            let lines = (t["change_lines"]?.arrayValue ?? []).compactMap(\.stringValue).map { "`\($0.replacingOccurrences(of: "|", with: "\\|"))`" }
            out += "| \(t["gateway"]?.stringValue ?? "") | \(t["current_version"]?.stringValue ?? "unknown") (`\(FleetCLI.shortSHA(t["current_sha"]?.stringValue))`) | \(t["new_version"]?.stringValue ?? "") (`\(FleetCLI.shortSHA(t["new_sha"]?.stringValue))`) | \(lines.isEmpty ? "no semantic change" : lines.joined(separator: "<br>")) |\n"
        }
        let skipped = plan["skipped"]?.arrayValue ?? []
        if !skipped.isEmpty {
            out += "\n**Skipped**\n\n"
            for s in skipped { out += "- `\(s["gateway"]?.stringValue ?? "")`: \(s["reason"]?.stringValue ?? "")\n" }
        }
        return out
    }
}


