import Foundation
import KTModel

/// Drives rollouts inside the control plane (they survive the CLI exiting and the control plane
/// restarting). Each rollout runs as a child task of `runResumed()`; the machine's transitions
/// are persisted before their actions are performed; gateways of a batch are pushed (and rolled
/// back) concurrently in a task group. At most one active rollout per gateway.
public actor RolloutCoordinator {
    let store: ControlPlaneStore
    let registry: FleetRegistry
    let logger: JSONLogger
    let now: @Sendable () -> Double
    /// How often health is re-checked while watching, pausing or waiting for traffic.
    let checkInterval: Duration = .milliseconds(250)

    private var rollouts: [String: Rollout] = [:]
    /// The action a driver must perform next, with a generation bumped by operator events.
    private var pending: [String: (action: RolloutMachine.Action, generation: Int)] = [:]
    private var subscribers: [String: [Int: AsyncStream<JSONValue>.Continuation]] = [:]
    private var nextSubscriber = 0
    private let starts: AsyncStream<String>
    private let startContinuation: AsyncStream<String>.Continuation

    /// Reports how long each step took (`/metrics`).
    let stepObserved: @Sendable (String, Double) -> Void

    init(store: ControlPlaneStore, registry: FleetRegistry, logger: JSONLogger, now: @escaping @Sendable () -> Double,
         stepObserved: @escaping @Sendable (String, Double) -> Void = { _, _ in }) {
        self.store = store
        self.registry = registry
        self.logger = logger
        self.now = now
        self.stepObserved = stepObserved
        (starts, startContinuation) = AsyncStream<String>.makeStream()
    }

    // MARK: Lifecycle

    /// Loads every rollout; unfinished ones continue from their persisted state.
    /// When this control plane started: until a gateway has had time to heartbeat again, its
    /// stored last-seen time says nothing about whether it is online.
    private var startedAt: Double?

    func restore() throws {
        startedAt = now()
        for (record, log) in try store.loadRollouts() {
            guard var r = Rollout(json: record, log: log) else { continue }
            let action = r.machine.resumeAfterRestart(now: now())
            rollouts[r.id] = r
            if !r.machine.status.isTerminal {
                pending[r.id] = (action, 0)
                startContinuation.yield(r.id)
                logger.info("resuming rollout after restart", [("id", .string(r.id)), ("status", .string(r.machine.status.rawValue))])
            }
        }
    }

    /// Runs every rollout's driver until cancelled.
    func runResumed() async {
        await withTaskGroup(of: Void.self) { group in
            for await id in starts {
                group.addTask { await self.drive(id) }
            }
            group.cancelAll()
        }
    }

    func stop() { startContinuation.finish() }

    // MARK: Queries

    public func get(_ id: String) -> Rollout? { rollouts[id] }
    public func list() -> [Rollout] { rollouts.values.sorted { $0.createdAt > $1.createdAt } }

    /// The active rollout holding `gateway`, if any.
    public func activeRollout(for gateway: String) -> String? {
        rollouts.values.first { !$0.machine.status.isTerminal && $0.machine.batches.joined().contains(gateway) }?.id
    }

    // MARK: Create and operate

    public func create(_ r: Rollout) async throws(APIError) {
        for g in r.machine.batches.joined() {
            if let other = activeRollout(for: g) {
                throw APIError.conflict("gateway \(g) is in rollout \(other), which is still \(rollouts[other]!.machine.status.rawValue); wait for it, or 'kt rollout abort \(other)'")
            }
        }
        var r = r
        let action = r.machine.handle(.start(now: now()))
        rollouts[r.id] = r
        append(r.id, "start", "\(r.strategy) rollout of \(r.target.version) (\(r.target.sha.prefix(12))) to \(r.machine.batches.joined().count) gateway(s) in \(r.machine.batches.count) batch(es)")
        do {
            try await persist(r.id)
        } catch {
            // A rollout that is not stored does not exist: nothing is pushed.
            rollouts[r.id] = nil
            persistedLog[r.id] = nil
            throw APIError.storage(error)
        }
        pending[r.id] = (action, 0)
        startContinuation.yield(r.id)
    }

    /// resume / abort / rollback from an operator.
    public func operate(_ id: String, _ verb: String) async throws(APIError) -> Rollout {
        guard var r = rollouts[id] else { throw APIError.notFound("no rollout '\(id)'") }
        let t = now()
        let event: RolloutMachine.Event
        switch verb {
        case "resume": event = .resume(now: t)
        case "abort": event = .abort(now: t)
        case "rollback": event = .rollback(now: t)
        default: throw APIError.notFound("unknown rollout action '\(verb)'")
        }
        let wasTerminal = r.machine.status.isTerminal
        let action = r.machine.handle(event)
        if case .rejected(let why) = action { throw APIError.conflict(why) }
        rollouts[id] = r
        append(id, "operator", "operator: \(verb) → \(r.machine.status.rawValue)")
        let generation = (pending[id]?.generation ?? 0) + 1
        do {
            try await persist(id)
        } catch {
            // Not stored, not done: the rollout stops (a driver mid-action stops too) and the
            // operator is told; the verb can be repeated once storage works.
            _ = stop(id, error, generation: generation)
            if wasTerminal { startContinuation.yield(id) }
            throw APIError.storage(error)
        }
        pending[id] = (action, generation)
        if wasTerminal { startContinuation.yield(id) }   // a finished rollout rolled back needs a driver again
        return rollouts[id]!
    }

    // MARK: Progress stream

    public func subscribe(_ id: String) -> (backlog: [JSONValue], stream: AsyncStream<JSONValue>, done: Bool)? {
        guard let r = rollouts[id] else { return nil }
        let (stream, c) = AsyncStream<JSONValue>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        if r.machine.status.isTerminal && pending[id] == nil {
            c.finish()
            return (r.log, stream, true)
        }
        nextSubscriber += 1
        subscribers[id, default: [:]][nextSubscriber] = c
        return (r.log, stream, false)
    }

    private func finishStreams(_ id: String) {
        for (_, c) in subscribers.removeValue(forKey: id) ?? [:] { c.finish() }
    }

    private func append(_ id: String, _ kind: String, _ text: String, _ extra: [(String, JSONValue)] = []) {
        guard var r = rollouts[id] else { return }
        let entry: JSONValue = .object([("seq", .int(r.log.count + 1)), ("at", .string(Timestamps.iso(now()))), ("kind", .string(kind)),
                                        ("text", .string(text)), ("status", .string(r.machine.status.rawValue))] + extra)
        r.log.append(entry)
        rollouts[id] = r
        for (_, c) in subscribers[id] ?? [:] { c.yield(entry) }
    }

    private var persistedLog: [String: Int] = [:]

    private func persist(_ id: String) async throws(KTError) {
        guard let r = rollouts[id] else { return }
        let start = persistedLog[id] ?? 0
        let newLog = Array(r.log[min(start, r.log.count)...]).map { (at: now(), entry: $0) }
        try await store.saveRollout(id: id, status: r.machine.status.rawValue, record: r.json, createdAt: r.createdAt, log: newLog, logStart: start)
        // Re-checked after the await: entries appended meanwhile are stored by the next persist.
        persistedLog[id] = max(persistedLog[id] ?? 0, start + newLog.count)
    }

    /// A transition that could not be stored stops the rollout — failed with the reason, never
    /// reported succeeded — and its driver waits for an operator. The database still holds
    /// the last stored state, which is where a restarted control plane continues.
    private func stop(_ id: String, _ error: KTError, generation: Int) -> (RolloutMachine.Action, Int) {
        guard var r = rollouts[id] else { return (.finished, generation) }
        _ = r.machine.handle(.storageFailed(error.message, now: now()))
        rollouts[id] = r
        logger.error("rollout stopped: its state cannot be stored", [("id", .string(id)), ("error", .string(error.message))])
        append(id, "storage_failed", "stopped: \(error.message); 'kt rollout resume \(id)' once the control plane can write again (a restart continues from the stored state)")
        pending[id] = (.wait, generation)
        return (.wait, generation)
    }

    // MARK: Driving

    /// Applies `event` unless an operator changed the rollout meanwhile (generation moved on).
    private func transition(_ id: String, _ event: RolloutMachine.Event, generation: Int) async -> (RolloutMachine.Action, Int) {
        if let p = pending[id], p.generation != generation { return p }
        guard var r = rollouts[id] else { return (.finished, generation) }
        let action = r.machine.handle(event)
        rollouts[id] = r
        do {
            try await persist(id)
        } catch {
            // Re-check after the await: an operator may have acted while we persisted.
            if let p = pending[id], p.generation != generation { return p }
            return stop(id, error, generation: generation)
        }
        // Re-check after the await: an operator may have acted while we persisted.
        if let p = pending[id], p.generation != generation { return p }
        pending[id] = (action, generation)
        return (action, generation)
    }

    private func drive(_ id: String) async {
        guard var (action, generation) = pending[id] else { return }
        while !Task.isCancelled {
            guard let r = rollouts[id] else { return }
            let stepStarted = ContinuousClock.now
            let step: String? = switch action {
            case .push: "push"
            case .watch: "watch"
            case .pause: "pause"
            case .rollback: "rollback"
            case .awaitTraffic, .wait, .finished, .rejected: nil
            }
            defer { if let step { stepObserved(step, (ContinuousClock.now - stepStarted).secondsDouble) } }
            switch action {
            case .push(let batch, let gateways):
                append(id, "batch", "batch \(batch + 1)/\(r.machine.batches.count): \(gateways.joined(separator: ", "))",
                       [("batch", .int(batch + 1)), ("batches", .int(r.machine.batches.count))])
                let (ok, failed) = await push(id, gateways)
                (action, generation) = await transition(id, .batchPushed(applied: ok, failed: failed, now: now()), generation: generation)
            case .watch(let batch, let until):
                (action, generation) = await watch(id, batch: batch, until: until, generation: generation)
            case .pause(let until):
                append(id, "pausing", "pausing \(Int((until - now()).rounded()))s before the next batch (still watching health)",
                       [("until", .string(Timestamps.iso(until)))])
                (action, generation) = await pause(id, until: until, generation: generation)
            case .awaitTraffic:
                append(id, "inconclusive", "paused: \(rollouts[id]?.machine.reason ?? "inconclusive"); waiting for traffic, or 'kt rollout resume|abort \(id)'")
                (action, generation) = await awaitTraffic(id, generation: generation)
            case .rollback(let gateways):
                append(id, "rollback", "rolling back \(gateways.joined(separator: ", ")): \(rollouts[id]?.machine.reason ?? "requested")")
                let (restored, failed) = await rollBack(id, gateways)
                (action, generation) = await transition(id, .rollbackFinished(restored: restored, failed: failed, now: now()), generation: generation)
            case .wait:
                append(id, "failed", "stopped: \(rollouts[id]?.machine.reason ?? "failed"); 'kt rollout resume|rollback|abort \(id)'")
                (action, generation) = await waitForOperator(id, generation: generation)
            case .finished, .rejected:
                let m = rollouts[id]!.machine
                append(id, "done", "rollout \(m.status.rawValue)" + (m.reason.map { ": \($0)" } ?? ""))
                // The state itself was stored by the transition; a lost log line is retried
                // with the next write.
                do { try await persist(id) } catch {
                    logger.warn("rollout log entry not stored", [("id", .string(id)), ("error", .string(error.message))])
                }
                if pending[id]?.generation == generation { pending[id] = nil }
                looks[id] = nil
                if rollouts[id]!.machine.status.isTerminal, pending[id] == nil { finishStreams(id) }
                guard let next = pending[id], next.generation != generation else { return }
                (action, generation) = next
            }
        }
    }

    /// Sleeps until `until` or an operator event, whichever first.
    private func sleep(_ id: String, until: Double, generation: Int) async -> Bool {
        while now() < until {
            if pending[id]?.generation != generation { return false }
            try? await Task.sleep(for: min(checkInterval, .milliseconds(Int64(max(1, (until - now()) * 1000)))))
        }
        return pending[id]?.generation == generation
    }

    private func push(_ id: String, _ gateways: [String]) async -> ([String], [String: String]) {
        guard let r = rollouts[id] else { return ([], [:]) }
        let t = now()
        var actors: [(String, ManagedGateway?)] = []
        for g in gateways { actors.append((g, await registry.find(g))) }
        for g in gateways where rollouts[id]?.pushedAt[g] == nil { rollouts[id]?.pushedAt[g] = t }
        do { try await persist(id) } catch {
            // Nothing is pushed that the rollout has not stored.
            return ([], Dictionary(uniqueKeysWithValues: gateways.map { ($0, "not pushed: \(error.message)") }))
        }
        let timeout = Duration.milliseconds(Int64(r.ackTimeout * 1000))
        let target = r.target, source = r.source
        // Just after a restart every gateway looks offline (its last heartbeat is from before):
        // a resumed push waits for each to come back — three heartbeat intervals plus the
        // agent's reconnect back-off (twice the interval, at least 1 s), with room to register.
        let started = startedAt ?? -Double.infinity, clock = now, interval = checkInterval
        var ok: [String] = [], failed: [String: String] = [:]
        await withTaskGroup(of: (String, AckOutcome?).self) { group in
            for (g, actor) in actors {
                group.addTask {
                    guard let actor else { return (g, nil) }
                    let hb = await actor.heartbeatInterval
                    let graceUntil = started + min(120, ManagedGateway.offlineAfterIntervals * hb + max(5, 2 * hb))
                    while await !actor.isOnline, clock() < graceUntil { try? await Task.sleep(for: interval) }
                    guard await actor.isOnline else { return (g, .rejected("offline")) }
                    do throws(KTError) { try await actor.setDesired(target, source: source) } catch {
                        return (g, .rejected("storage: \(error.message)"))
                    }
                    return (g, await actor.awaitAck(sha: target.sha, timeout: timeout))
                }
            }
            for await (g, outcome) in group {
                switch outcome {
                case nil: failed[g] = "not registered"
                case .applied?: ok.append(g)
                case .rejected(let e)?: failed[g] = e == "offline" ? "offline" : e.hasPrefix("storage: ") ? "desired config not stored: \(e.dropFirst(9))" : "rejected (NACK): \(e)"
                case .timedOut?: failed[g] = "no ACK within \(Int(r.ackTimeout))s"
                }
            }
        }
        for g in gateways {
            if ok.contains(g) {
                let from = r.previous[g]?.version ?? "unknown"
                append(id, "pushed", "\(g): pushed \(from) → \(target.version)", [("gateway", .string(g))])
            } else if let e = failed[g] {
                append(id, "push_failed", "\(g): \(e)", [("gateway", .string(g))])
            }
        }
        return (ok.sorted(), failed)
    }

    /// Where each rollout's current batch stands in its looks (the judge's level depends on it).
    private struct LookState {
        var batch = -1
        var finalUsed = false
        var interim = 0
        var lastData = ""
        /// When the last interim look gathered samples: data changes at heartbeat pace, so
        /// gathering every check interval across a large control cohort would be wasted work.
        var lastGathered = -Double.infinity
        var heartbeat = 0.0
    }
    private var looks: [String: LookState] = [:]

    /// One look of the judge at the batch's window: the canary cohort is every gateway this
    /// rollout updated, the control cohort the targets it has not updated yet (or the
    /// `--control` choice), both over the same interval; the baseline is the canary gateways' own
    /// pre-push windows. `final` is the window's end; `decides` lets an inconclusive re-check
    /// pass. A look without new data since the last one is not taken (nil verdict).
    private func judge(_ id: String, batch: Int, final: Bool, decides: Bool? = nil) async -> (RolloutMachine.Judgement, RolloutJudge.Verdict?) {
        guard let r = rollouts[id] else { return (.inconclusive("rollout gone"), nil) }
        let t = now()
        if !final, let s = looks[id], s.batch == batch, t - s.lastGathered < s.heartbeat {
            return (.inconclusive("no new heartbeat since the last look"), nil)
        }
        let start = r.machine.windowStart ?? t
        let canaryIDs = r.machine.applied.filter { r.machine.batches[...batch].joined().contains($0) }
        var canaryActors: [(String, ManagedGateway)] = []
        var skip = 0.0
        for g in canaryIDs {
            guard let actor = await registry.find(g) else { continue }
            if await !actor.isOnline {
                // Just after a control-plane restart a gateway looks offline until it reconnects:
                // wait for it as a resumed push does, then judge (or fail if it stays away).
                let hb = await actor.heartbeatInterval
                let graceUntil = (startedAt ?? -Double.infinity) + min(120, ManagedGateway.offlineAfterIntervals * hb + max(5, 2 * hb))
                while await !actor.isOnline, now() < graceUntil { try? await Task.sleep(for: checkInterval) }
                guard let again = rollouts[id], again.machine.windowStart == r.machine.windowStart else {
                    return (.inconclusive("the rollout changed while waiting for \(g) to reconnect"), nil)
                }
                if await !actor.isOnline { return (.fail("\(g) went offline"), nil) }
            }
            skip = max(skip, await actor.heartbeatInterval)
            canaryActors.append((g, actor))
        }
        // The first heartbeat after the apply also carries traffic from before it: skip it.
        let from = start + min(skip, max(0, t - start) / 2)
        var canary = TrafficSample(), baseline = TrafficSample()
        for (g, actor) in canaryActors {
            // Only the pushed config's own requests: a late heartbeat may still carry the
            // previous config's (a rolled-back config's blocks once failed a good canary).
            canary.merge(await actor.window(max(0.001, t - from), at: t, since: from, configSHA: r.target.sha))
            baseline.merge(await actor.window(max(r.machine.healthWindow, 300), at: r.pushedAt[g] ?? start))
        }
        let targets = r.machine.batches.joined()
        let controlIDs: [String]
        switch r.control {
        case .rollout: controlIDs = targets.filter { !r.machine.pushed.contains($0) }
        case .group: controlIDs = r.controlGateways.filter { !targets.contains($0) }
        case .baseline: controlIDs = []
        }
        var control = TrafficSample(), controlOnline: [String] = []
        for g in controlIDs {
            guard let actor = await registry.find(g), await actor.isOnline else { continue }
            control.merge(await actor.window(max(0.001, t - from), at: t, since: from))
            controlOnline.append(g)
        }
        // Re-check after the awaits: an operator may have ended the rollout meanwhile.
        guard rollouts[id] != nil else { return (.inconclusive("rollout gone"), nil) }
        var state = looks[id] ?? LookState()
        if state.batch != batch { state = LookState(batch: batch) }
        state.lastGathered = t
        state.heartbeat = skip
        let data = "\(canary.requests)|\(control.requests)|\(canary.latency.total)|\(control.latency.total)"
        if !final, data == state.lastData {
            looks[id] = state
            return (.inconclusive("no new data since the last look"), nil)
        }
        state.lastData = data
        let look: RolloutJudge.Look
        if final && !state.finalUsed {
            state.finalUsed = true
            look = RolloutJudge.Look(batch: batch, batches: r.machine.batches.count, final: true, index: 0, decides: true)
        } else {
            state.interim += 1
            look = RolloutJudge.Look(batch: batch, batches: r.machine.batches.count, final: false, index: state.interim, decides: decides ?? final)
        }
        looks[id] = state
        let canaryCohort = RolloutJudge.Cohort(gateways: canaryIDs, sample: canary)
        let controlCohort = r.control == .baseline ? nil : RolloutJudge.Cohort(gateways: controlOnline, sample: control)
        let baselineCohort = RolloutJudge.Cohort(gateways: canaryIDs, sample: baseline)
        let verdict = RolloutJudge(settings: r.judgeSettings).judge(canary: canaryCohort, control: controlCohort, baseline: baselineCohort, look: look)
        let record = verdict.json(canary: canaryCohort, control: controlCohort, baseline: baselineCohort, look: look)
        if verdict.outcome != .inconclusive || look.final { rollouts[id]?.verdicts.append(record) }
        rollouts[id]?.lastVerdict = record
        switch verdict.outcome {
        case .pass: return (.pass("against \(verdict.against): \(verdict.text)"), verdict)
        case .fail: return (.fail("against \(verdict.against): \(verdict.text)"), verdict)
        case .inconclusive: return (.inconclusive(verdict.missing ?? verdict.text), verdict)
        }
    }

    /// Log lines of a verdict: what it was compared with, then one line per metric.
    private func logVerdict(_ id: String, _ kind: String, _ headline: String, _ v: RolloutJudge.Verdict) {
        append(id, kind, "\(headline) — against \(v.against)", [("verdict", rollouts[id]?.lastVerdict ?? .null)])
        for c in v.comparisons where c.test != "none" || c.outcome != .pass {
            append(id, "metric", "  \(c.text)", [("metric", .string(c.metric)), ("outcome", .string(c.outcome.rawValue))])
        }
    }

    private func watch(_ id: String, batch: Int, until: Double, generation: Int) async -> (RolloutMachine.Action, Int) {
        var early: (RolloutMachine.Judgement, RolloutJudge.Verdict?)?
        while now() < until {
            guard await sleep(id, until: min(until, now() + checkInterval.secondsDouble), generation: generation) else { return pending[id]! }
            // Every look may fail early (at its share of the level); passes wait for the window's end.
            let look = await judge(id, batch: batch, final: false)
            if case .fail = look.0 { early = look; break }
        }
        let (j, verdict) = if let early { early } else { await judge(id, batch: batch, final: true) }
        if let v = verdict {
            switch j {
            case .pass: logVerdict(id, "health", "health ok", v)
            case .fail: logVerdict(id, "health_failed", "health check failed", v)
            case .inconclusive: logVerdict(id, "health_inconclusive", "inconclusive: \(v.missing ?? "")", v)
            }
        } else if case .fail(let why) = j {
            append(id, "health_failed", "health check failed — \(why)")
        }
        return await transition(id, .judged(j, now: now()), generation: generation)
    }

    private func pause(_ id: String, until: Double, generation: Int) async -> (RolloutMachine.Action, Int) {
        guard let batch = rollouts[id]?.machine.batch else { return (.finished, generation) }
        while now() < until {
            guard await sleep(id, until: min(until, now() + checkInterval.secondsDouble), generation: generation) else { return pending[id]! }
            let (j, verdict) = await judge(id, batch: batch, final: false)
            if case .fail(let why) = j {
                if let v = verdict { logVerdict(id, "health_failed", "health check failed during the pause", v) }
                else { append(id, "health_failed", "health check failed during the pause — \(why)") }
                return await transition(id, .checked(.fail(why), now: now()), generation: generation)
            }
        }
        return await transition(id, .pauseElapsed(now: now()), generation: generation)
    }

    private func awaitTraffic(_ id: String, generation: Int) async -> (RolloutMachine.Action, Int) {
        guard let batch = rollouts[id]?.machine.batch else { return (.finished, generation) }
        while true {
            guard await sleep(id, until: now() + checkInterval.secondsDouble * 4, generation: generation) else { return pending[id]! }
            let (j, verdict) = await judge(id, batch: batch, final: false, decides: true)
            if case .inconclusive = j { continue }
            if let v = verdict {
                if case .pass = j { logVerdict(id, "health", "health ok", v) } else { logVerdict(id, "health_failed", "health check failed", v) }
            } else if case .fail(let why) = j {
                append(id, "health_failed", "health check failed — \(why)")
            }
            return await transition(id, .checked(j, now: now()), generation: generation)
        }
    }

    private func waitForOperator(_ id: String, generation: Int) async -> (RolloutMachine.Action, Int) {
        while pending[id]?.generation == generation {
            try? await Task.sleep(for: checkInterval)
            if Task.isCancelled { return (.finished, generation) }
        }
        return pending[id]!
    }

    /// Every gateway goes back to its previous config at once, each verified by its ACK.
    private func rollBack(_ id: String, _ gateways: [String]) async -> ([String], [String: String]) {
        guard let r = rollouts[id] else { return ([], [:]) }
        var restored: [String] = [], failed: [String: String] = [:]
        let timeout = Duration.milliseconds(Int64(r.ackTimeout * 1000))
        var work: [(String, ManagedGateway, ConfigRef, String?)] = []
        for g in gateways {
            guard let prev = r.previous[g] else { failed[g] = "no previous config known"; continue }
            guard let actor = await registry.find(g) else { failed[g] = "not registered"; continue }
            // The source goes back too: an --adopt push moved the gateway to this rollout's.
            let current = await actor.configState.source
            let source = r.previousSource[g] ?? current
            work.append((g, actor, prev, source))
        }
        await withTaskGroup(of: (String, ConfigRef, AckOutcome).self) { group in
            for (g, actor, prev, source) in work {
                group.addTask {
                    do throws(KTError) { try await actor.setDesired(prev, source: source) } catch {
                        return (g, prev, .rejected("its previous config could not be stored as desired: \(error.message)"))
                    }
                    return (g, prev, await actor.awaitAck(sha: prev.sha, timeout: timeout))
                }
            }
            for await (g, prev, outcome) in group {
                switch outcome {
                case .applied:
                    restored.append(g)
                    append(id, "restored", "\(g): restored to \(prev.version) (\(prev.sha.prefix(12)))", [("gateway", .string(g))])
                case .rejected(let e):
                    failed[g] = "rejected its previous config: \(e)"
                    append(id, "restore_failed", "\(g): rejected its previous config: \(e)", [("gateway", .string(g))])
                case .timedOut:
                    failed[g] = "no ACK within \(Int(r.ackTimeout))s (the gateway gets its previous config when it reconnects)"
                    append(id, "restore_failed", "\(g): no ACK within \(Int(r.ackTimeout))s", [("gateway", .string(g))])
                }
            }
        }
        return (restored.sorted(), failed)
    }
}
