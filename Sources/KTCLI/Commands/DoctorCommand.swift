import Foundation
import KTModel
import KTConfig
import KTGateway
import KTPolicy
import KTControlPlane

/// `kt doctor` (PRODUCT.md §7). With `KEEPTRUSTS_API_URL` set it checks the fleet through the
/// control plane (upstream and audit checks run by each gateway); without it (or with
/// `--local`) it checks this machine: the config, the state dir, the local gateway and the
/// provider targets. Exit 0 when nothing failed, 1 when any check failed, 2 on bad usage.
enum DoctorCommand {
    static let run: Command.Run = { args, ctx in
        await FleetCLI.run { () throws(FleetCLI.Exit) -> Int32 in
            let fleetMode = !args.flag("local") && !(ctx.environment["KEEPTRUSTS_API_URL"] ?? "").isEmpty
            let scoped = args.value("group") != nil || args.value("gateway") != nil
            if args.value("group") != nil && args.value("gateway") != nil {
                return usage(ctx, "choose one of --group G or --gateway ID (neither: every gateway)")
            }
            if !fleetMode && (scoped || args.flag("bundle")) {
                if args.flag("local") { return usage(ctx, "--local checks this machine; --group, --gateway and --bundle need the control plane") }
                _ = try FleetCLI.client(ctx) // says what to set
            }
            if args.value("out-file") != nil && args.value("output") != nil { return usage(ctx, "--out-file and --output (its old spelling) are the same option; give one") }
            if outFile(args) != nil && !args.flag("bundle") { return usage(ctx, "--out-file names the bundle file; add --bundle") }
            var timeout = 10.0
            if let t = args.value("timeout") {
                do throws(UsageError) { timeout = try DurationText.parse(t, flag: "--timeout").secondsDouble } catch { return usage(ctx, error.message) }
                guard timeout >= 1, timeout <= 120 else { return usage(ctx, "--timeout must be from 1s to 2m") }
            }
            let known = fleetMode ? DoctorCheck.fleetChecks : DoctorCheck.localChecks
            var checks = known
            if let list = args.value("checks") {
                let names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                if let bad = names.first(where: { !known.contains($0) }) {
                    var m = "unknown check '\(bad)' for \(fleetMode ? "the fleet" : "local") mode; choose from \(known.joined(separator: ","))"
                    if let s = Suggestion.closest(to: bad, in: known) { m += " (did you mean '\(s)'?)" }
                    return usage(ctx, m)
                }
                guard !names.isEmpty else { return usage(ctx, "--checks needs at least one of \(known.joined(separator: ","))") }
                checks = known.filter(names.contains)
            }
            let report: JSONValue
            if fleetMode {
                report = try await fleet(args, ctx, checks: checks, timeout: timeout)
            } else {
                report = await LocalDoctor.run(args, ctx, checks: checks, timeout: timeout)
            }
            if args.flag("json") {
                ctx.out(report.serialized(pretty: true))
            } else {
                ctx.stdout.write(render(report, style: TerminalStyle(color: ctx.style.color, unicode: ctx.stdoutIsTTY)))
            }
            if args.flag("bundle") {
                return try await bundle(args, ctx, report: report, checks: checks, timeout: timeout)
            }
            return report["ok"]?.boolValue == true ? 0 : 1
        }
    }

    /// `--out-file`, or `--output`, its old spelling (a format elsewhere: `kt config push --output json`).
    static func outFile(_ args: ParsedArguments) -> String? { args.value("out-file") ?? args.value("output") }

    static func usage(_ ctx: CLIContext, _ message: String) -> Int32 {
        ctx.err("error: \(message)\nRun 'kt doctor --help' for usage.")
        return 2
    }

    static func scope(_ args: ParsedArguments, _ ctx: CLIContext, _ client: ControlPlaneClient) async throws(FleetCLI.Exit) -> [String]? {
        if let id = args.value("gateway") { return [id] }
        return try await FleetCLI.selectedIDs(args, ctx, client, emptyIsAnswer: false)
    }

    static func requestBody(_ ids: [String]?, checks: [String], timeout: Double) -> JSONValue {
        .object([("gateways", ids.map { .array($0.map { .string($0) }) } ?? .null),
                 ("checks", .array(checks.map { .string($0) })), ("timeout_seconds", .double(timeout))])
    }

    static func fleet(_ args: ParsedArguments, _ ctx: CLIContext, checks: [String], timeout: Double) async throws(FleetCLI.Exit) -> JSONValue {
        let client = try FleetCLI.client(ctx)
        let ids = try await scope(args, ctx, client)
        if ctx.stdoutIsTTY && !args.flag("json") { ctx.stderr.write("Asking gateways to run their checks (up to \(Int(timeout))s)…\n") }
        return try await FleetCLI.call(ctx, client, "POST", "/v1/doctor", body: requestBody(ids, checks: checks, timeout: timeout), timeout: timeout + 30)
    }

    /// Writes the control plane's tar.gz (with this report as its doctor.json) atomically, 0600.
    static func bundle(_ args: ParsedArguments, _ ctx: CLIContext, report: JSONValue, checks: [String], timeout: Double) async throws(FleetCLI.Exit) -> Int32 {
        let client = try FleetCLI.client(ctx)
        let ids = try await scope(args, ctx, client)
        let output = PolicyLintCommand.resolve(outFile(args) ?? "fleet-diagnostics.tar.gz", in: ctx)
        let body = requestBody(ids, checks: checks, timeout: timeout).setting("doctor", report)
        let bytes: [UInt8]
        do throws(ControlPlaneClient.Failure) {
            bytes = try await client.callRaw("POST", "/v1/doctor/bundle", body: body, timeout: timeout + 60) ?? []
        } catch {
            FleetCLI.report(ctx, error)
            return 1
        }
        guard bytes.count > 18, bytes[0] == 0x1f, bytes[1] == 0x8b else {
            ctx.err("error: the control plane's answer is not a gzip archive (\(bytes.count) bytes); is it an older kt?")
            return 1
        }
        do {
            try AtomicFile.write(bytes, to: output)
        } catch {
            ctx.err("error: cannot write the bundle to \(output): \(error.message)")
            return 1
        }
        let summary = "Wrote support bundle \(outFile(args) ?? "fleet-diagnostics.tar.gz") (\(bytes.count / 1024 + 1) KB). List it with: tar -tzf \(outFile(args) ?? "fleet-diagnostics.tar.gz")"
        // Keep stdout pure JSON with --json.
        if args.flag("json") { ctx.err(summary) } else { ctx.out(summary) }
        return 0
    }

    // MARK: Rendering

    static func symbol(_ status: String, _ style: TerminalStyle) -> String {
        switch status {
        case "ok": return style.green(style.check)
        case "warn": return style.yellow(style.warn)
        case "fail": return style.red(style.cross)
        default: return style.dim(style.unicode ? "–" : "SKIP")
        }
    }

    /// The symbol padded to one width (words without a TTY are wider than one glyph).
    static func padded(_ status: String, _ style: TerminalStyle) -> String {
        let raw = style.unicode ? 1 : (status == "ok" ? 2 : 4)
        return symbol(status, style) + String(repeating: " ", count: (style.unicode ? 1 : 4) - raw)
    }

    static func render(_ r: JSONValue, style: TerminalStyle) -> String {
        let gateways = r["gateways"]?.arrayValue ?? []
        let local = r["mode"]?.stringValue == "local"
        var out = local ? "Local doctor" : "Fleet doctor — \(gateways.count) gateway\(gateways.count == 1 ? "" : "s")"
        out += " (\(r["generated_at"]?.stringValue ?? ""))\n"
        if gateways.isEmpty { out += "\nNo gateways to check: none registered\(local ? "" : " (or none in the chosen scope)").\n" }
        for g in gateways {
            let region = (g["region"]?.stringValue).flatMap { $0.isEmpty ? nil : " (\($0))" } ?? ""
            out += "\n\(symbol(g["status"]?.stringValue ?? "", style)) \(style.bold(g["id"]?.stringValue ?? ""))\(region)\n"
            let checks = g["checks"]?.arrayValue ?? []
            let width = checks.map { ($0["check"]?.stringValue ?? "").count }.max() ?? 0
            for c in checks {
                let name = (c["check"]?.stringValue ?? "").padding(toLength: width, withPad: " ", startingAt: 0)
                var line = "  \(padded(c["status"]?.stringValue ?? "", style)) \(name)  "
                if let t = c["target"]?.stringValue { line += "\(t): " }
                line += c["message"]?.stringValue ?? ""
                if let ms = c["latency_ms"]?.doubleValue, c["check"]?.stringValue == "upstream", ms > 0 { line += " — \(FleetCLI.ms(.double(ms)))" }
                out += line + "\n"
                if let hint = c["hint"]?.stringValue {
                    out += String(repeating: " ", count: width + (style.unicode ? 6 : 9)) + style.dim("fix: \(hint)") + "\n"
                }
            }
        }
        let s = r["summary"]
        out += "\n"
        if !local {
            out += "Gateways: \(s?["gateways_ok"]?.intValue ?? 0) ok, \(s?["gateways_warn"]?.intValue ?? 0) with warnings, \(s?["gateways_fail"]?.intValue ?? 0) failing. "
        }
        out += "Checks: \(s?["checks_ok"]?.intValue ?? 0) ok, \(s?["checks_warn"]?.intValue ?? 0) warn, \(s?["checks_fail"]?.intValue ?? 0) fail, \(s?["checks_skip"]?.intValue ?? 0) skipped.\n"
        return out
    }
}
