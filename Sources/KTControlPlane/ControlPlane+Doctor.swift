import Foundation
import KTModel
import KTHTTP

/// `POST /v1/doctor` and `POST /v1/doctor/bundle` (PRODUCT.md §5, §7): per-gateway checks —
/// heartbeat, config, version and clock judged here; audit and upstream run by each gateway
/// against its own targets, asked through its config long-poll and collected with a deadline.
extension ControlPlane {
    /// What to check where, parsed from the request body.
    struct DoctorRequest: Sendable {
        /// nil: every registered gateway.
        var ids: [String]?
        var checks: [String]
        var timeoutSeconds: Double
        var includeConfig = false
    }

    /// The doctor's report plus what the bundle needs besides it.
    struct DoctorRun: Sendable {
        var report: JSONValue
        /// Effective configs as the gateways answered them (already scrubbed by each gateway).
        var effectiveConfigs: [String: JSONValue]
    }

    func routeDoctor(_ request: HTTPRequest, _ writer: HTTPResponseWriter, _ p: [String]) async throws -> (String, Int) {
        _ = try authorize(request, .readFleet)
        guard request.method == "POST" else {
            throw APIError(status: 405, code: "method_not_allowed", message: "use POST on /v1/\(p.joined(separator: "/"))")
        }
        let b = request.body.isEmpty ? JSONValue.object([]) : try body(request, limit: 4 << 20)
        // Strict like every other body: an unknown field is a mistake to report, not to ignore.
        let allowed: Set<String> = p == ["doctor", "bundle"] ? ["gateways", "checks", "timeout_seconds", "doctor"] : ["gateways", "checks", "timeout_seconds"]
        guard let pairs = b.objectValue else { throw APIError.badRequest("the body must be a JSON object") }
        if let unknown = pairs.map(\.0).first(where: { !allowed.contains($0) }) {
            throw APIError.badRequest("unknown field '\(unknown)'; the fields are \(allowed.sorted().joined(separator: ", "))")
        }
        if let d = b["doctor"], !d.isNull, d.objectValue == nil { throw APIError.badRequest("doctor must be a doctor report (an object)") }
        var r = try doctorRequest(b)
        switch p {
        case ["doctor"]:
            reply(writer, 200, await runDoctor(r).report, pretty: true)
            return ("doctor", 200)
        case ["doctor", "bundle"]:
            r.includeConfig = true
            // A report the CLI already has (it printed it) is bundled as is: the gateways are then
            // only asked for their effective configs, not to run their checks again.
            let given = b["doctor"].flatMap { $0.objectValue != nil && $0["gateways"]?.arrayValue != nil ? $0 : nil }
            var configOnly = r
            if given != nil { configOnly.checks = [] }
            let run = await runDoctor(configOnly)
            let bundle = try await supportBundle(r, report: given ?? run.report, effectiveConfigs: run.effectiveConfigs)
            var h = HTTPHeaders()
            h.add("content-type", "application/gzip")
            h.add("content-disposition", "attachment; filename=\"\(bundle.name).tar.gz\"")
            h.add("x-kt-bundle-files", String(bundle.files))
            writer.respond(status: 200, headers: h, body: bundle.bytes)
            return ("doctor.bundle", 200)
        default:
            throw APIError.notFound("unknown URL \(request.method) /v1/\(p.joined(separator: "/")); use /v1/doctor or /v1/doctor/bundle")
        }
    }

    func doctorRequest(_ b: JSONValue) throws(APIError) -> DoctorRequest {
        var ids: [String]?
        if let g = b["gateways"], !g.isNull {
            guard let list = g.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else { throw APIError.badRequest("gateways must be an array of gateway ids") }
            ids = list.compactMap(\.stringValue)
        }
        var checks = DoctorCheck.fleetChecks
        if let c = b["checks"], !c.isNull {
            guard let list = c.arrayValue?.compactMap(\.stringValue), list.count == c.arrayValue?.count, !list.isEmpty else {
                throw APIError.badRequest("checks must be a non-empty array of: \(DoctorCheck.fleetChecks.joined(separator: ", "))")
            }
            if let bad = list.first(where: { !DoctorCheck.fleetChecks.contains($0) }) {
                throw APIError.badRequest("unknown check '\(bad)'; checks are \(DoctorCheck.fleetChecks.joined(separator: ", "))")
            }
            checks = DoctorCheck.fleetChecks.filter(list.contains)
        }
        var timeout = 10.0
        if let t = b["timeout_seconds"], !t.isNull {
            guard let d = t.doubleValue, d >= 1, d <= 120 else { throw APIError.badRequest("timeout_seconds must be a number from 1 to 120") }
            timeout = d
        }
        return DoctorRequest(ids: ids, checks: checks, timeoutSeconds: timeout)
    }

    func runDoctor(_ r: DoctorRequest) async -> DoctorRun {
        let started = now()
        let all = await registry.all()
        let selected: [(String, ManagedGateway?)]
        if let ids = r.ids {
            var seen = Set<String>()
            let byID = Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0) })
            selected = ids.filter { seen.insert($0).inserted }.map { ($0, byID[$0]) }
        } else {
            selected = all.map { ($0.id, $0) }
        }
        // Every gateway is checked at once (each waits on its own long-poll); at most 64 in flight.
        var results = [(json: JSONValue, config: JSONValue?)?](repeating: nil, count: selected.count)
        await withTaskGroup(of: (Int, JSONValue, JSONValue?).self) { group in
            var next = 0
            func start() {
                guard next < selected.count else { return }
                let (i, entry) = (next, selected[next])
                next += 1
                group.addTask { let (j, c) = await self.doctor(entry.0, entry.1, r); return (i, j, c) }
            }
            for _ in 0..<min(64, selected.count) { start() }
            for await (i, json, config) in group {
                results[i] = (json, config)
                start()
            }
        }
        var configs: [String: JSONValue] = [:]
        var byStatus: [DoctorCheck.Status: Int] = [:]
        var gatewaysByStatus: [DoctorCheck.Status: Int] = [:]
        for (i, (id, _)) in selected.enumerated() {
            guard let r = results[i] else { continue }
            if let c = r.config { configs[id] = c }
            for c in r.json["checks"]?.arrayValue ?? [] { byStatus[DoctorCheck(json: c)?.status ?? .skip, default: 0] += 1 }
            gatewaysByStatus[r.json["status"]?.stringValue.flatMap(DoctorCheck.Status.init(rawValue:)) ?? .skip, default: 0] += 1
        }
        func n(_ d: [DoctorCheck.Status: Int], _ s: DoctorCheck.Status) -> JSONValue { .int(d[s] ?? 0) }
        let summary: [(String, JSONValue)] = [
            ("gateways", .int(selected.count)),
            ("gateways_ok", n(gatewaysByStatus, .ok)), ("gateways_warn", n(gatewaysByStatus, .warn)), ("gateways_fail", n(gatewaysByStatus, .fail)),
            ("checks_ok", n(byStatus, .ok)), ("checks_warn", n(byStatus, .warn)), ("checks_fail", n(byStatus, .fail)), ("checks_skip", n(byStatus, .skip)),
        ]
        let gatewayReports: [JSONValue] = results.compactMap { $0?.json }
        let report: JSONValue = .object([
            ("mode", "fleet"),
            ("generated_at", .string(Timestamps.iso(started))),
            ("control_plane_version", .string(KTVersion.current)),
            ("checks", .array(r.checks.map { JSONValue.string($0) })),
            ("timeout_seconds", .double(r.timeoutSeconds)),
            ("gateways", .array(gatewayReports)),
            ("summary", .object(summary)),
            ("ok", .bool((byStatus[.fail] ?? 0) == 0)),
        ])
        return DoctorRun(report: report, effectiveConfigs: configs)
    }

    /// One gateway's checks: its state judged here, then (when online) the gateway's own answer.
    func doctor(_ id: String, _ g: ManagedGateway?, _ r: DoctorRequest) async -> (JSONValue, JSONValue?) {
        let wants = { (name: String) in r.checks.contains(name) }
        guard let g else {
            let c = DoctorCheck("heartbeat", .fail, "not registered with the control plane",
                                hint: "start it with 'kt gateway run' and KEEPTRUSTS_API_URL plus a gateway token for '\(id)'")
            return (Self.gatewayReport(id: id, name: id, region: "", registered: false, [c]), nil)
        }
        let state = await g.doctorState(at: now())
        var checks: [DoctorCheck] = []
        if wants("heartbeat") { checks.append(FleetDoctor.heartbeat(state)) }
        if wants("config") {
            var rollout: (id: String, status: String)?
            if let rid = await rollouts.activeRollout(for: id), let ro = await rollouts.get(rid) { rollout = (rid, ro.machine.status.rawValue) }
            checks.append(FleetDoctor.config(state, rollout: rollout))
        }
        if wants("version") { checks.append(FleetDoctor.version(state, controlPlane: KTVersion.current)) }
        let gatewayChecks = ["audit", "upstream"].filter(wants)
        var answer: JSONValue?
        if !state.isOffline, !gatewayChecks.isEmpty || wants("clock") || r.includeConfig {
            let taskID = "doc-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
            let task: JSONValue = .object([
                ("id", .string(taskID)), ("kind", "doctor"), ("checks", .array(gatewayChecks.map { .string($0) })),
                // The gateway's probes end before our deadline, leaving time to post the answer.
                ("timeout_ms", .int(Int(max(500, (r.timeoutSeconds - 1) * 1000)))), ("include_config", .bool(r.includeConfig)),
            ])
            answer = await g.runTask(task, id: taskID, timeout: .milliseconds(Int64(r.timeoutSeconds * 1000)))
        }
        if wants("clock") {
            var measured: Double?
            if let a = answer, let gw = a["unix_ms"]?.doubleValue, let ours = a["received_unix_ms"]?.doubleValue, gw.isFinite, abs(gw - ours) < 1e15 {
                measured = (gw - ours) / 1000
            }
            checks.append(FleetDoctor.clock(state, measured: measured))
        }
        let answered = (answer?["checks"]?.arrayValue ?? []).compactMap(DoctorCheck.init(json:))
        for name in gatewayChecks {
            let mine = answered.filter { $0.check == name }
            if !mine.isEmpty { checks += mine; continue }
            if state.isOffline {
                checks.append(DoctorCheck(name, .skip, "not run: the gateway is offline"))
            } else if answer == nil {
                checks.append(DoctorCheck(name, .fail, "the gateway did not answer within \(ManagedGateway.ageText(r.timeoutSeconds))",
                                          hint: "it may be busy, stuck or on an old kt; check its logs, or retry with a longer --timeout"))
            } else {
                let why = answer?["error"]?.stringValue.map { ": \($0)" } ?? ""
                checks.append(DoctorCheck(name, .skip, "the gateway did not run this check\(why)", hint: "upgrade it to kt \(KTVersion.current)"))
            }
        }
        let config = answer?["effective_config"].flatMap { $0.isNull ? nil : $0 }
        return (Self.gatewayReport(id: id, name: state.name, region: state.region, registered: true, checks), config)
    }

    static func gatewayReport(id: String, name: String, region: String, registered: Bool, _ checks: [DoctorCheck]) -> JSONValue {
        let worst = DoctorCheck.worst(checks)
        return .object([
            ("id", .string(id)), ("name", .string(name)), ("region", .string(region)), ("registered", .bool(registered)),
            ("status", .string(worst.rawValue)), ("checks", .array(checks.map(\.json))),
        ])
    }
}
