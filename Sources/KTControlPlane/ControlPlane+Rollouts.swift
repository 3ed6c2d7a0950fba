import Foundation
import Glibc
import KTModel
import KTConfig
import KTHTTP

extension ControlPlane {
    func routeRollouts(_ request: HTTPRequest, _ writer: HTTPResponseWriter, _ p: [String]) async throws -> (String, Int) {
        let m = request.method
        switch (m, p.count) {
        case ("POST", 1) where p[0] == "plans":
            _ = try authorize(request, .pushConfig)
            let plan = try await makePlan(try body(request))
            try await store.savePlan(id: plan["plan_id"]!.stringValue!, record: plan)
            reply(writer, 200, plan)
            return ("plans.create", 200)
        case ("GET", 2) where p[0] == "plans":
            _ = try authorize(request, .readFleet)
            guard let plan = try await store.plan(id: p[1]) else { throw APIError.notFound("no plan '\(p[1])'") }
            reply(writer, 200, plan)
            return ("plans.get", 200)
        case ("POST", 1) where p[0] == "rollouts":
            _ = try authorize(request, .pushConfig)
            let r = try await createRollout(try body(request))
            reply(writer, 201, r.json)
            return ("rollouts.create", 201)
        case ("GET", 1) where p[0] == "rollouts":
            _ = try authorize(request, .readFleet)
            reply(writer, 200, .object([("rollouts", .array(await rollouts.list().map { $0.json(detail: false) }))]))
            return ("rollouts.list", 200)
        case ("GET", 2) where p[0] == "rollouts":
            _ = try authorize(request, .readFleet)
            guard let r = await rollouts.get(p[1]) else { throw APIError.notFound("no rollout '\(p[1])'") }
            reply(writer, 200, r.json.setting("log", .array(r.log)))
            return ("rollouts.get", 200)
        case ("GET", 3) where p[0] == "rollouts" && p[2] == "stream":
            _ = try authorize(request, .readFleet)
            try await streamRollout(p[1], writer)
            return ("rollouts.stream", 200)
        case ("POST", 3) where p[0] == "rollouts" && ["abort", "resume", "rollback"].contains(p[2]):
            _ = try authorize(request, .driveRollouts)
            let r = try await rollouts.operate(p[1], p[2])
            logger.info("rollout \(p[2])", [("id", .string(p[1])), ("status", .string(r.machine.status.rawValue))])
            reply(writer, 200, r.json)
            return ("rollouts.\(p[2])", 200)
        default:
            throw APIError.notFound("unknown URL \(m) /v1/\(p.joined(separator: "/"))")
        }
    }

    // MARK: Plans

    static func glob(_ pattern: String, _ name: String) -> Bool { fnmatch(pattern, name, 0) == 0 }

    /// The preview of a push: per target current → new with a semantic diff, skipped gateways
    /// with reasons, and a plan id that changes whenever any of that changes.
    func makePlan(_ b: JSONValue) async throws -> JSONValue {
        guard let content = b["content"]?.stringValue, !content.isEmpty else { throw APIError.badRequest("content (the config text) is required") }
        guard content.utf8.count <= 1 << 20 else { throw APIError(status: 413, code: "too_large", message: "config is larger than 1 MB") }
        guard let source = b["source"]?.stringValue, !source.isEmpty, Self.validGatewayID(source) else {
            throw APIError.badRequest("source (the config source name: letters, digits, '-', '_', '.') is required")
        }
        let patterns = (b["gateways"]?.arrayValue ?? []).compactMap(\.stringValue)
        guard !patterns.isEmpty else { throw APIError.badRequest("gateways (ids or globs) is required") }
        let adopt = b["adopt"]?.boolValue ?? false
        let loaded: LoadedConfig
        do { loaded = try ConfigLoader().load(text: content, name: source) } catch {
            let diags = error.errors.map { d -> JSONValue in
                .object([("code", .string(d.code.rawValue)), ("path", .string(d.path)), ("line", d.location.map { .int($0.line) } ?? .null),
                         ("message", .string(d.message))])
            }
            throw APIError(status: 422, code: "invalid_config", message: "the config is invalid: " + error.errors.map(\.description).joined(separator: "; "))
                .with(diags)
        }
        let (version, created) = try await store.internConfig(source: source, sha: loaded.fullSHA, content: content)
        let newRef = ConfigRef(version: version.name, sha: loaded.fullSHA)
        let newTree = loaded.tree.jsonValue

        let all = await registry.all()
        var matched: [ManagedGateway] = []
        var unmatched: [String] = []
        for pattern in patterns {
            let hits = all.filter { Self.glob(pattern, $0.id) }
            if hits.isEmpty { unmatched.append(pattern) }
            for h in hits where !matched.contains(where: { $0.id == h.id }) { matched.append(h) }
        }
        matched.sort { $0.id < $1.id }
        let t = now()
        var targets: [JSONValue] = [], skipped: [JSONValue] = [], fingerprint = "\(source)|\(loaded.fullSHA)|\(adopt)"
        var diffCache: [String: ConfigDiff] = [:]
        for g in matched {
            let state = await g.configState
            let (status, _) = await g.status(at: t)
            let current = state.applied
            fingerprint += "|\(g.id):\(current?.sha ?? "-"):\(status.rawValue):\(state.source ?? "-")"
            var reason: String?
            if let other = await rollouts.activeRollout(for: g.id) { reason = "in another rollout (\(other))" }
            else if status == .offline { reason = "offline" }
            else if let c = current, c.sameSHA(loaded.fullSHA) { reason = "already at this sha" }
            else if let s = state.source, s != source, s != "local", !adopt { reason = "different config source (\(s)); pass --adopt to move it to \(source)" }
            fingerprint += "|\(reason ?? "")"
            if let reason {
                skipped.append(.object([("gateway", .string(g.id)), ("reason", .string(reason)), ("current_version", .optional(current?.version)),
                                        ("current_sha", .optional(current?.sha))]))
                continue
            }
            let key = current?.sha ?? ""
            if diffCache[key] == nil {
                var oldTree: JSONValue?
                if let c = current, let v = try await store.config(sha: c.sha), let l = try? ConfigLoader().load(text: v.content, name: v.name) {
                    oldTree = l.tree.jsonValue
                }
                diffCache[key] = ConfigDiff(old: oldTree, new: newTree)
            }
            let diff = diffCache[key]!
            targets.append(.object([("gateway", .string(g.id)), ("current_version", .optional(current?.version)), ("current_sha", .optional(current?.sha)),
                                    ("new_version", .string(newRef.version)), ("new_sha", .string(newRef.sha)),
                                    ("changes", diff.json), ("change_lines", .array(diff.lines.map { .string($0) }))]))
        }
        let planID = "plan_" + String(SHA256.hex(fingerprint).prefix(12))
        return .object([
            ("plan_id", .string(planID)), ("created_at", .string(Timestamps.iso(t))), ("source", .string(source)),
            ("version", .string(newRef.version)), ("sha", .string(newRef.sha)), ("new_version", .bool(created)),
            ("targets", .array(targets)), ("skipped", .array(skipped)), ("unmatched", .array(unmatched.map { .string($0) })),
            ("patterns", .array(patterns.map { .string($0) })), ("adopt", .bool(adopt)),
        ])
    }

    // MARK: Rollouts

    func createRollout(_ b: JSONValue) async throws -> Rollout {
        let strategy = b["strategy"]?.stringValue ?? "rolling"
        guard ["all-at-once", "rolling", "canary"].contains(strategy) else { throw APIError.badRequest("strategy must be all-at-once, rolling or canary") }
        // Every number is range-checked here: a rollout body is an operator's input, and the
        // machine that runs it must never see 1e300 batches or a negative timeout.
        let batchSize: Int, minRequests: Int, pause: Double, window: Double, canary: Double?, ackTimeout: Double
        var judge = RolloutJudge.Settings()
        do throws(BoundedFieldError) {
            judge.falseRollbackRate = try BoundedField.number(b["false_rollback_rate"], "false_rollback_rate", in: 0.000001...0.5, default: judge.falseRollbackRate)!
            judge.blockRateMargin = try BoundedField.number(b["block_rate_margin"], "block_rate_margin", in: 0...1, default: judge.blockRateMargin)!
            judge.errorRateMargin = try BoundedField.number(b["error_rate_margin"], "error_rate_margin", in: 0...1, default: judge.errorRateMargin)!
            judge.errorRateRatio = try BoundedField.number(b["error_rate_ratio"], "error_rate_ratio", in: 1...1000, default: judge.errorRateRatio)!
            judge.latencyRatio = try BoundedField.number(b["latency_ratio"], "latency_ratio", in: 1...100, default: judge.latencyRatio)!
            judge.latencyFloorMs = try BoundedField.number(b["latency_floor_ms"], "latency_floor_ms", in: 0...600_000, default: judge.latencyFloorMs)!
            batchSize = try BoundedField.integer(b["batch_size"], "batch_size", in: 1...100_000, default: 1)!
            minRequests = try BoundedField.integer(b["min_requests"], "min_requests", in: 0...100_000_000, default: 20)!
            pause = try BoundedField.number(b["pause_between_seconds"], "pause_between_seconds", in: 0...604_800, default: strategy == "rolling" ? 60 : 0)!
            window = try BoundedField.number(b["health_window_seconds"], "health_window_seconds", in: 0...604_800, default: 30)!
            canary = strategy == "canary" ? try BoundedField.number(b["canary_duration_seconds"], "canary_duration_seconds", in: 0...2_592_000, default: 600) : nil
            ackTimeout = try BoundedField.number(b["ack_timeout_seconds"], "ack_timeout_seconds", in: 0.1...3600, default: 30)!
        } catch {
            throw APIError(status: 422, code: "out_of_range", message: error.message)
        }
        // Validated before any work (the plan interns the config).
        let controlText = b["control"]?.stringValue ?? "rollout"
        guard let control = Rollout.Control(rawValue: controlText) else {
            throw APIError.badRequest("control must be rollout (targets not updated yet), group (with control_gateways) or baseline (each gateway's pre-push window)")
        }
        let rawControl = b["control_gateways"]?.arrayValue ?? []
        guard rawControl.count <= 100_000 else {
            throw APIError(status: 422, code: "out_of_range", message: "control_gateways has \(rawControl.count) entries; at most 100000")
        }
        let controlGateways = try rawControl.enumerated().map { i, v throws(APIError) -> String in
            guard let id = v.stringValue, Self.validGatewayID(id) else {
                throw APIError.badRequest("control_gateways[\(i)] must be a gateway id (1–128 letters, digits, '-', '_' or '.')")
            }
            return id
        }
        if control == .group, controlGateways.isEmpty {
            throw APIError.badRequest("control: group needs control_gateways (the group's gateway ids; kt resolves --control-group)")
        }
        let plan = try await makePlan(b)
        if let wanted = b["plan_id"]?.stringValue, wanted != plan["plan_id"]?.stringValue {
            let old = try await store.plan(id: wanted)
            throw APIError(status: 409, code: "stale_plan", message: "plan \(wanted) is stale: " + Self.planChanges(old, plan) + "; preview again and confirm the new plan")
        }
        // A push that overlaps an active rollout is refused whole: silently pushing to the rest
        // would leave the fleet split in a way nobody asked for.
        var overlapping: [String: [String]] = [:]
        for skipped in plan["skipped"]?.arrayValue ?? [] {
            guard let g = skipped["gateway"]?.stringValue, let other = await rollouts.activeRollout(for: g) else { continue }
            overlapping[other, default: []].append(g)
        }
        if !overlapping.isEmpty {
            let text = overlapping.keys.sorted().map { "rollout \($0) holds \(overlapping[$0]!.joined(separator: ", "))" }.joined(separator: "; ")
            throw APIError(status: 409, code: "rollout_overlap",
                           message: "the push overlaps an active rollout (\(text)); wait for it or 'kt rollout abort' it, or leave those gateways out of the selection")
        }
        let targets = (plan["targets"]?.arrayValue ?? []).compactMap { $0["gateway"]?.stringValue }
        guard !targets.isEmpty else {
            let reasons = (plan["skipped"]?.arrayValue ?? []).map { "\($0["gateway"]?.stringValue ?? "?"): \($0["reason"]?.stringValue ?? "")" }
            throw APIError.conflict("nothing to push: " + (reasons.isEmpty ? "no gateway matched \((plan["unmatched"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ", "))" : reasons.joined(separator: "; ")))
        }
        let thresholds = b["success_threshold"]?.stringValue
        if let t = thresholds {
            do { judge.thresholds = try HealthGate.parse(t).thresholds } catch { throw APIError.badRequest("success_threshold: \(error.message)") }
        }
        judge.minRequests = minRequests
        var batches: [[String]]
        switch strategy {
        case "all-at-once": batches = [targets]
        case "canary":
            let first = Array(targets.prefix(batchSize))
            let rest = Array(targets.dropFirst(batchSize))
            batches = [first] + (rest.isEmpty ? [] : [rest])
        default: batches = stride(from: 0, to: targets.count, by: batchSize).map { Array(targets[$0..<min(targets.count, $0 + batchSize)]) }
        }
        var previous: [String: ConfigRef] = [:], previousSource: [String: String] = [:]
        for id in targets {
            guard let g = await registry.find(id) else { continue }
            let state = await g.configState
            if let a = state.applied { previous[id] = a }
            if let s = state.source { previousSource[id] = s }
        }
        let machine = RolloutMachine(batches: batches, rollbackOnError: b["rollback_on_error"]?.boolValue ?? false, healthWindow: window,
                                     pauseBetween: pause, canaryDuration: canary)
        let id = "ro_" + (0..<5).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        var r = Rollout(id: id, planID: plan["plan_id"]?.stringValue, source: plan["source"]!.stringValue!,
                        target: ConfigRef(version: plan["version"]!.stringValue!, sha: plan["sha"]!.stringValue!), strategy: strategy,
                        batchSize: batchSize, minRequests: minRequests, thresholds: thresholds, ackTimeout: ackTimeout, createdAt: now(),
                        previous: previous, machine: machine)
        r.previousSource = previousSource
        r.judgeSettings = judge
        r.control = control
        r.controlGateways = controlGateways
        try await rollouts.create(r)
        logger.info("rollout created", [("id", .string(id)), ("version", .string(r.target.version)), ("gateways", .int(targets.count))])
        return await rollouts.get(id) ?? r
    }

    /// What differs between a stored plan and a fresh one, in words.
    static func planChanges(_ old: JSONValue?, _ new: JSONValue) -> String {
        guard let old else { return "the plan is unknown to this control plane" }
        var out: [String] = []
        if old["sha"]?.stringValue != new["sha"]?.stringValue { out.append("the config changed") }
        func states(_ p: JSONValue) -> [String: String] {
            var m: [String: String] = [:]
            for t in p["targets"]?.arrayValue ?? [] { m[t["gateway"]?.stringValue ?? ""] = "target at \(t["current_version"]?.stringValue ?? "?")" }
            for s in p["skipped"]?.arrayValue ?? [] { m[s["gateway"]?.stringValue ?? ""] = "skipped (\(s["reason"]?.stringValue ?? ""))" }
            return m
        }
        let a = states(old), b = states(new)
        for g in Set(a.keys).union(b.keys).sorted() where a[g] != b[g] {
            out.append("\(g): \(a[g] ?? "not in the plan") → \(b[g] ?? "not in the plan")")
        }
        return out.isEmpty ? "the fleet changed" : out.joined(separator: "; ")
    }

    func streamRollout(_ id: String, _ writer: HTTPResponseWriter) async throws {
        guard let sub = await rollouts.subscribe(id) else { throw APIError.notFound("no rollout '\(id)'") }
        writer.startStream(status: 200, headers: Self.sseHeaders)
        for e in sub.backlog { await writer.writeChunk(Array("event: progress\ndata: \(e.serialized())\n\n".utf8)) }
        let stream = sub.stream
        await Self.pumpSSE(writer) {
            for await e in stream { await writer.writeChunk(Array("event: progress\ndata: \(e.serialized())\n\n".utf8)) }
        }
        if let r = await rollouts.get(id) {
            await writer.writeChunk(Array("event: end\ndata: \(r.json.serialized())\n\n".utf8))
        }
        writer.endStream()
    }
}

extension APIError {
    func with(_ diagnostics: [JSONValue]) -> APIErrorWithDetails { APIErrorWithDetails(base: self, details: diagnostics) }
}

/// An API error carrying details (config diagnostics).
struct APIErrorWithDetails: Error {
    var base: APIError
    var details: [JSONValue]
}
