import Foundation
import KTModel
import KTConfig
import KTGateway

/// `kt gateway list|show|health`: the read side of the fleet.
enum GatewayFleetCommands {
    static let list: Command.Run = { args, ctx in
        await FleetCLI.run { () throws(FleetCLI.Exit) -> Int32 in
            if let s = args.value("status"), !["online", "offline", "degraded"].contains(s) {
                ctx.err("error: --status must be online, offline or degraded, not '\(s)'")
                return 2
            }
            let client = try FleetCLI.client(ctx)
            let ids = try await FleetCLI.selectedIDs(args, ctx, client)
            var query = [FleetCLI.idsQuery(ids)].filter { !$0.isEmpty }
            if let s = args.value("status") { query.append("status=\(s)") }
            let path = "/v1/gateways" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
            if args.flag("json") {
                // The API's own (stable, documented) JSON, passed through unparsed: fast on large fleets.
                do throws(ControlPlaneClient.Failure) {
                    ctx.stdout.write(String(decoding: try await client.callRaw("GET", path, timeout: 30) ?? [], as: UTF8.self))
                } catch {
                    FleetCLI.report(ctx, error)
                    return 1
                }
                return 0
            }
            let r = try await FleetCLI.call(ctx, client, "GET", path).terminalSafe
            let list = r["gateways"]?.arrayValue ?? []
            if list.isEmpty {
                ctx.out(ids != nil || args.value("status") != nil ? "No gateways match." : "No gateways registered yet. Start one with KEEPTRUSTS_API_URL and a gateway token set: kt gateway run ...")
                return 0
            }
            var table = TextTable(["ID", "Name", "Status", "Version", "Config", "Region", "Last Seen"])
            for g in list {
                let c = g["config"]
                let config = c?["applied_version"]?.stringValue.map { v in
                    v.contains("-v") ? v : "\(v) (\(FleetCLI.shortSHA(c?["applied_sha"]?.stringValue)))"
                } ?? "—"
                table.add([g["id"]?.stringValue ?? "", g["name"]?.stringValue ?? "", g["status"]?.stringValue ?? "",
                           g["version"]?.stringValue ?? "", config, (g["region"]?.stringValue).flatMap { $0.isEmpty ? nil : $0 } ?? "—",
                           FleetCLI.ago(g["last_seen_seconds_ago"]?.doubleValue)])
            }
            ctx.stdout.write(ctx.render(table))
            if let ids {
                let seen = Set(list.compactMap { $0["id"]?.stringValue })
                let missing = ids.filter { !seen.contains($0) }
                if !missing.isEmpty, args.value("status") == nil { ctx.out("Not registered: \(missing.joined(separator: ", "))") }
            }
            return 0
        }
    }

    static let show: Command.Run = { args, ctx in
        await FleetCLI.run { () throws(FleetCLI.Exit) -> Int32 in
            let client = try FleetCLI.client(ctx)
            let id = args.positionals[0]
            let received = try await FleetCLI.call(ctx, client, "GET", "/v1/gateways/\(ControlPlaneClient.percentEncode(id))")
            if args.flag("json") { ctx.out(received.serialized(pretty: true)); return 0 }
            let g = received.terminalSafe
            func s(_ v: JSONValue?) -> String { v?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "—" }
            let c = g["config"]
            let h = g["health"]
            var out = "Gateway \(s(g["id"]))\n"
            let labels = (g["labels"]?.objectValue ?? []).map { "\($0.0)=\($0.1.stringValue ?? "")" }.joined(separator: ", ")
            let rows: [(String, String)] = [
                ("Name", s(g["name"])), ("Status", s(g["status"]) + (g["status_reason"]?.stringValue.map { " (\($0))" } ?? "")),
                ("Region", s(g["region"])), ("Labels", labels.isEmpty ? "—" : labels), ("Address", s(g["address"])),
                ("kt version", s(g["version"])), ("Registered", s(g["registered_at"])),
                ("Last seen", FleetCLI.ago(g["last_seen_seconds_ago"]?.doubleValue) + (g["last_seen"]?.stringValue.map { " (\($0))" } ?? "")),
                ("Uptime", g["uptime_seconds"]?.doubleValue.map { "\(Int(saturating: $0))s" } ?? "—"),
                ("Config source", s(c?["source"])),
                ("Desired config", "\(s(c?["desired_version"])) \(FleetCLI.shortSHA(c?["desired_sha"]?.stringValue))"),
                ("Applied config", "\(s(c?["applied_version"])) \(FleetCLI.shortSHA(c?["applied_sha"]?.stringValue))"),
                ("Previous config", "\(s(c?["previous_version"])) \(FleetCLI.shortSHA(c?["previous_sha"]?.stringValue))"),
                ("Drift", c?["drift"]?.boolValue == true ? "yes: applied ≠ desired" : "no"),
                ("Last NACK", c?["last_nack"].flatMap { $0.isNull ? nil : "\(s($0["version"])): \(s($0["error"])) at \(s($0["at"]))" } ?? "—"),
                ("Events", "received \(g["events_received"]?.intValue ?? 0), queued at gateway \(g["events_queued"]?.intValue ?? 0), dropped \(g["events_dropped"]?.intValue ?? 0)"),
                ("Health (\(Int(saturating: h?["window_seconds"]?.doubleValue ?? 0))s)",
                 "\(h?["requests"]?.intValue ?? 0) requests, \(String(format: "%.1f", h?["requests_per_minute"]?.doubleValue ?? 0))/min, block \(FleetCLI.percent(h?["block_rate"])), errors \(FleetCLI.percent(h?["error_rate"]))"),
                ("Latency", "p50 \(FleetCLI.ms(h?["p50_ms"])), p99 \(FleetCLI.ms(h?["p99_ms"])), overhead p99 \(FleetCLI.ms(h?["overhead_p99_ms"]))"),
            ]
            let w = rows.map(\.0.count).max()!
            // Within 100 columns: a long value (labels, a NACK's error) wraps at spaces under itself.
            for (k, v) in rows {
                let wrapped = GatewayFleetCommands.wrap(v, width: 100 - w - 4)
                out += "  \(k.padding(toLength: w, withPad: " ", startingAt: 0))  \(wrapped.first ?? "")\n"
                for more in wrapped.dropFirst() { out += String(repeating: " ", count: w + 4) + more + "\n" }
            }
            let events = g["recent_events"]?.arrayValue ?? []
            out += "\nRecent events\(events.isEmpty ? ": none" : "")\n"
            var lines = EventsTailCommand.Lines()
            for e in events { for l in lines.render(e) { out += l + "\n" } }
            ctx.stdout.write(out)
            return 0
        }
    }

    static let health: Command.Run = { args, ctx in
        await FleetCLI.run { () throws(FleetCLI.Exit) -> Int32 in
            let client = try FleetCLI.client(ctx)
            let ids = try await FleetCLI.selectedIDs(args, ctx, client)
            var interval: Duration = .seconds(5)
            if let i = args.value("interval") {
                do throws(UsageError) { interval = try DurationText.parse(i, flag: "--interval") } catch { ctx.err("error: \(error.message)"); return 2 }
            }
            let query = FleetCLI.idsQuery(ids)
            let path = "/v1/health" + (query.isEmpty ? "" : "?" + query)
            let watch = args.flag("watch")
            var first = true
            while true {
                let r = try await FleetCLI.call(ctx, client, "GET", path)
                if args.flag("json") {
                    ctx.out(watch ? r.serialized() : r.serialized(pretty: true))
                } else {
                    let text = render(r.terminalSafe, style: ctx.style, tty: ctx.stdoutIsTTY)
                    if watch && ctx.stdoutIsTTY {
                        // Redraw in place: home, draw, clear what is left of the last frame.
                        ctx.stdout.write("\u{1B}[H" + text.replacingOccurrences(of: "\n", with: "\u{1B}[K\n") + "\u{1B}[J")
                    } else {
                        if watch && !first { ctx.out("") }
                        ctx.stdout.write(text)
                    }
                }
                first = false
                guard watch else { return 0 }
                try? await Task.sleep(for: interval)
            }
        }
    }

    static func render(_ r: JSONValue, style: TerminalStyle, tty: Bool) -> String {
        let window = Int(saturating: r["window_seconds"]?.doubleValue ?? 0)
        var table = TextTable(["Gateway", "Requests/min", "Block Rate", "P50", "P99", "Error Rate", "Status"], rightAligned: [1, 2, 3, 4, 5])
        for g in r["gateways"]?.arrayValue ?? [] {
            table.add([g["id"]?.stringValue ?? "", String(format: "%.1f", g["requests_per_minute"]?.doubleValue ?? 0),
                       FleetCLI.percent(g["block_rate"]), FleetCLI.ms(g["p50_ms"]), FleetCLI.ms(g["p99_ms"]), FleetCLI.percent(g["error_rate"]),
                       FleetCLI.statusCell(g["status"]?.stringValue ?? "offline", reason: g["status_reason"]?.stringValue, style: style, tty: tty)])
        }
        let t = r["totals"]
        let summary = "\(t?["online"]?.intValue ?? 0) online, \(t?["degraded"]?.intValue ?? 0) degraded, \(t?["offline"]?.intValue ?? 0) offline"
        table.add(["Fleet (\(t?["gateways"]?.intValue ?? 0))", String(format: "%.1f", t?["requests_per_minute"]?.doubleValue ?? 0),
                   FleetCLI.percent(t?["block_rate"]), FleetCLI.ms(t?["p50_ms"]), FleetCLI.ms(t?["p99_ms"]), FleetCLI.percent(t?["error_rate"]), summary])
        // The id and the status columns keep their width: the totals row's status is the online /
        // degraded / offline count, which must not be cut.
        return "Fleet health \(style.unicode ? "—" : "-") last \(window / 60 > 0 && window % 60 == 0 ? "\(window / 60)m" : "\(window)s") (\(r["generated_at"]?.stringValue ?? ""))\n"
            + table.render(maxWidth: tty ? 100 : .max, separatorBefore: 1, unicode: style.unicode, keep: [0, 6])
            + "Requests in window: \(t?["requests"]?.intValue ?? 0), blocked \(t?["blocked"]?.intValue ?? 0), errors \(t?["errors"]?.intValue ?? 0)\n"
    }
}

extension GatewayFleetCommands {
    /// `text` in lines of at most `width` characters, broken at spaces; a word longer than the
    /// width (an id, a URL) stays whole on a line of its own.
    static func wrap(_ text: String, width: Int) -> [String] {
        guard text.count > width, width > 0 else { return [text] }
        var lines: [String] = [], current = ""
        for word in text.split(separator: " ", omittingEmptySubsequences: false) {
            if current.isEmpty { current = String(word) } else if current.count + 1 + word.count <= width { current += " " + word } else {
                lines.append(current)
                current = String(word)
            }
        }
        lines.append(current)
        return lines
    }
}

/// `kt events tail`: the backlog, then new decisions as they arrive.
enum EventsTailCommand {
    static let run: Command.Run = { args, ctx in
        await FleetCLI.run { () throws(FleetCLI.Exit) -> Int32 in
            let scopes = [args.value("gateway") != nil, args.value("group") != nil, args.flag("all-gateways")].filter { $0 }.count
            guard scopes == 1 else {
                ctx.err("error: choose exactly one of --gateway ID, --group G or --all-gateways\nRun 'kt events tail --help' for usage.")
                return 2
            }
            if let v = args.value("verdict"), !["allow", "redact", "block"].contains(v) {
                ctx.err("error: --verdict must be allow, redact or block, not '\(v)'")
                return 2
            }
            var limit = 50
            if let l = args.value("limit") {
                guard let n = try? BoundedField.integer(text: l, "--limit", in: 1...10_000) else { ctx.err("error: --limit must be an integer from 1 to 10000 (the control plane answers at most 10000 events at a time)"); return 2 }
                limit = n
            }
            if let s = args.value("since") {
                do throws(UsageError) { _ = try DurationText.parse(s, flag: "--since") } catch { ctx.err("error: \(error.message)"); return 2 }
            }
            let client = try FleetCLI.client(ctx)
            var ids: [String]?
            if let g = args.value("gateway") { ids = [g] } else { ids = try await FleetCLI.selectedIDs(args, ctx, client) }
            var q: [String] = []
            if let ids { q.append("gateway=" + ControlPlaneClient.percentEncode(ids.joined(separator: ","))) }
            if let v = args.value("verdict") { q.append("verdict=\(v)") }
            var backlogQuery = q + ["limit=\(limit)"]
            if let s = args.value("since") { backlogQuery.append("since=\(ControlPlaneClient.percentEncode(s))") }
            let r = try await FleetCLI.call(ctx, client, "GET", "/v1/events?" + backlogQuery.joined(separator: "&"))
            let json = args.flag("json")
            var last = r["last_seq"]?.intValue ?? 0
            var lines = Lines()
            for e in r["events"]?.arrayValue ?? [] {
                if json { ctx.out(e.serialized()) } else { for l in lines.render(e) { ctx.out(l) } }
                last = max(last, e["seq"]?.intValue ?? 0)
            }
            if args.flag("no-follow") { return 0 }
            if !json { ctx.err("— following new decisions (Ctrl-C to stop) —") }
            let stream: AsyncThrowingStream<(id: String?, event: String?, data: JSONValue), any Error>
            do throws(ControlPlaneClient.Failure) {
                stream = try await client.events("/v1/events/stream?" + (q + ["after=\(last)"]).joined(separator: "&"))
            } catch {
                FleetCLI.report(ctx, error)
                return 1
            }
            do {
                for try await e in stream {
                    if json { ctx.out(e.data.serialized()) } else { for l in lines.render(e.data) { ctx.out(l) } }
                }
            } catch {
                ctx.err("error: the event stream ended: \(error)")
                return 1
            }
            ctx.err("error: the control plane closed the event stream")
            return 1
        }
    }

    /// One decision per line, in aligned columns that fit 100 with the usual values: time of day,
    /// gateway (a longer id widens its row, never truncated), verdict, status, latency, request
    /// id, reason. The date goes on a line of its own whenever it changes; the model and the
    /// full event are in `--json`.
    struct Lines {
        private var day: String?

        mutating func render(_ event: JSONValue) -> [String] {
            let e = event.terminalSafe
            let time = e["time"]?.stringValue ?? ""
            var out: [String] = []
            let date = String(time.prefix(10))
            if date.count == 10, date != day {
                day = date
                out.append(date)
            }
            let clock = time.count >= 19 ? String(time.dropFirst(11).prefix(8)) : time.padding(toLength: 8, withPad: " ", startingAt: 0)
            func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
            func right(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
            let reason = e["reason_code"]?.stringValue ?? e["blocked_by"]?.stringValue ?? ""
            let status = e["status"]?.intValue.map(String.init) ?? "-"
            out.append([clock, pad(e["gateway"]?.stringValue ?? "?", 12), pad(e["verdict"]?.stringValue ?? "?", 6), pad(status, 3),
                        right(Lines.latency(e["latency_ms"]?.doubleValue), 6), pad(e["id"]?.stringValue ?? "", 28), reason]
                .joined(separator: "  ").replacing(/\ +$/, with: ""))
            return out
        }

        /// At most six characters: 9.9ms, 99.9ms, 9999ms, 12.3s.
        static func latency(_ ms: Double?) -> String {
            guard let ms, ms.isFinite, ms >= 0 else { return "-" }
            if ms < 100 { return String(format: "%.1fms", ms) }
            if ms < 10_000 { return String(format: "%.0fms", ms) }
            return String(format: "%.1fs", min(ms / 1000, 9999))
        }
    }
}
