import Foundation
import KTModel

/// A config version as a gateway runs it.
public struct ConfigRef: Sendable, Equatable {
    public var version: String
    public var sha: String
    public init(version: String, sha: String) {
        self.version = version
        self.sha = sha
    }
    public var json: JSONValue { .object([("version", .string(version)), ("sha", .string(sha))]) }
    public init?(json: JSONValue?) {
        guard let j = json, let v = j["version"]?.stringValue, let s = j["sha"]?.stringValue else { return nil }
        self.init(version: v, sha: s)
    }
    /// Short shas (12) and full ones (64) name the same config.
    public func sameSHA(_ other: String) -> Bool { ConfigRef.shaMatches(sha, other) }
    public static func shaMatches(_ a: String, _ b: String) -> Bool { ConfigSHA.matches(a, b) }
}

/// A rejected config, as the gateway reported it.
public struct ConfigNack: Sendable, Equatable {
    public var version: String
    public var sha: String
    public var error: String
    public var at: Double
    public var json: JSONValue {
        .object([("version", .string(version)), ("sha", .string(sha)), ("error", .string(error)), ("at", .string(Timestamps.iso(at)))])
    }
    public init(version: String, sha: String, error: String, at: Double) {
        self.version = version
        self.sha = sha
        self.error = error
        self.at = at
    }
    init?(json: JSONValue?) {
        guard let j = json, let v = j["version"]?.stringValue, let s = j["sha"]?.stringValue else { return nil }
        self.init(version: v, sha: s, error: j["error"]?.stringValue ?? "", at: j["at"]?.stringValue.flatMap(Timestamps.parse) ?? 0)
    }
}

public enum GatewayStatus: String, Sendable {
    case online, degraded, offline
}

/// What a config long-poll returns.
public enum ConfigPollResult: Sendable {
    case config(ConfigRef, source: String?)
    case task(JSONValue)
    case unchanged
}

/// The outcome a rollout waits for after setting a desired config.
public enum AckOutcome: Sendable, Equatable {
    case applied
    case rejected(String)
    case timedOut
}

/// One registered gateway (PRODUCT.md §5–6): its identity, the pending config long-poll, a ring
/// of health samples and its config state (desired, applied, previous, last NACK). Status is
/// derived from heartbeat freshness: offline after 3 missed intervals.
public actor ManagedGateway {
    public nonisolated let id: String
    var name: String
    var region: String
    var labels: [(String, String)]
    var ktVersion: String
    var address: String?
    var registeredAt: Double
    var lastSeen: Double?
    var intervalSeconds: Double
    var reportedStatus: String?
    var uptimeSeconds: Double?
    var eventsDropped = 0
    var eventsQueued = 0
    var eventsReceived = 0
    var heartbeats = 0
    /// The audit log's state from the last heartbeat (nil: no audit-logger, or not reported).
    var audit: HeartbeatMessage.AuditReport?

    var source: String?
    var desired: ConfigRef?
    var applied: ConfigRef?
    var previous: ConfigRef?
    var lastNack: ConfigNack?
    /// An operator re-pushed the config the gateway rejected (resume after a NACK): the next
    /// poll hands it out again although the gateway already knows its sha.
    var retryRejected = false
    /// Bumped on every change of the record; the store keeps the newest revision it was given,
    /// so a heartbeat flush carrying an older copy never overwrites a config change.
    var revision = 0

    /// (receive time, sample), oldest first; bounded by `sampleRetention` seconds and by
    /// `maxSamples`. Per heartbeat: when it arrived, its traffic, and the config that traffic ran
    /// under (nil when the gateway did not say).
    var samples: [(at: Double, sample: TrafficSample, sha: String?)] = []
    let sampleRetention: Double = 3600
    /// A gateway token holder sending heartbeats as fast as it can (each with nine configs'
    /// traffic and dense histograms) grew the control plane by 200 KB a heartbeat for the hour a
    /// sample is kept. Traffic of one config arriving within `coalesceSeconds` of the last sample
    /// of that config is merged into it (half the shortest interval a gateway may heartbeat at,
    /// so a well-behaved gateway never merges), and the ring keeps at most `maxSamples`.
    static let coalesceSeconds = 0.05
    static let maxSamples = 4096

    private var pollWaiters = OneShotWaiters<Int, ConfigPollResult>()
    private var ackWaiters = OneShotWaiters<Int, AckOutcome>()
    /// The config each ACK waiter waits for.
    private var ackSHAs: [Int: String] = [:]
    private var nextWaiter = 0
    private var pendingTasks: [JSONValue] = []
    private var taskResults = OneShotWaiters<String, JSONValue?>()
    /// Gateway clock minus ours at the last heartbeat that reported it (one-way latency included).
    var clockSkewSeconds: Double?

    let persistence: GatewayPersistence
    let now: @Sendable () -> Double

    init(id: String, registeredAt: Double, persistence: GatewayPersistence, now: @escaping @Sendable () -> Double) {
        self.id = id
        self.name = id
        self.region = ""
        self.labels = []
        self.ktVersion = ""
        self.registeredAt = registeredAt
        self.intervalSeconds = 10
        self.persistence = persistence
        self.now = now
    }

    // MARK: Protocol

    /// Registration (first time or again after a restart): identity and the config it runs.
    func register(_ r: RegistrationRequest) async throws(KTError) -> JSONValue {
        name = r.name ?? name
        region = r.region ?? region
        labels = r.labels
        ktVersion = r.version ?? ktVersion
        address = r.address ?? address
        intervalSeconds = r.heartbeatInterval ?? intervalSeconds
        lastSeen = now()
        if let running = r.running { noteApplied(running) }
        if source == nil { source = r.source }
        try await save()
        return .object([("id", .string(id)), ("registered_at", .string(Timestamps.iso(registeredAt))),
                        ("heartbeat_interval_seconds", .double(intervalSeconds)), ("desired", desired?.json ?? .null)])
    }

    /// Stores the record now (the caller answers after it); a failure is the caller's error.
    private func save() async throws(KTError) {
        revision += 1
        try await persistence.save(self.id, record, revision: revision, lastSeen: lastSeen)
    }

    /// The gateway runs `running` (registration, heartbeat or ACK): applied moves, previous keeps the last different one.
    private func noteApplied(_ running: ConfigRef) {
        if let a = applied, a.sameSHA(running.sha) {
            // Same config; a better version name may have arrived (a file config later pushed as a version).
            if a.version != running.version, running.version.contains("-v") { applied = running }
            return
        }
        if let a = applied { previous = a }
        applied = running
    }

    /// One heartbeat (PRODUCT.md §6 step 2); `running` is its config as the control plane names it.
    func heartbeat(_ h: HeartbeatMessage, running: ConfigRef?) {
        let t = now()
        lastSeen = t
        heartbeats += 1
        if let i = h.intervalSeconds { intervalSeconds = i }
        reportedStatus = h.status
        uptimeSeconds = h.uptimeSeconds
        if let d = h.eventsDropped { eventsDropped = d }
        if let q = h.eventsQueued { eventsQueued = q }
        if let v = h.version { ktVersion = v }
        audit = h.audit
        if let running { noteApplied(running) }
        if let ms = h.unixMs { clockSkewSeconds = Double(ms) / 1000 - t }
        var arrived = [(at: t, sample: h.traffic, sha: h.config?.sha)]
        for e in h.earlierTraffic { arrived.append((t, e.traffic, e.sha)) }
        for a in arrived { addSample(a) }
        let cutoff = t - sampleRetention
        if let first = samples.first, first.at < cutoff { samples.removeAll { $0.at < cutoff } }
        // Dropped in steps, so a gateway at the bound does not shift the ring on every heartbeat.
        if samples.count > Self.maxSamples + 256 { samples.removeFirst(samples.count - Self.maxSamples) }
        revision += 1
        for a in arrived { persistence.heartbeat(self.id, record, revision: revision, lastSeen: t, at: t, sha: a.sha, sample: a.sample) }
        resolveAcks()
    }

    /// Appends a sample, or merges it into the newest sample of the same config when that one
    /// arrived within `coalesceSeconds`.
    private func addSample(_ a: (at: Double, sample: TrafficSample, sha: String?)) {
        var i = samples.count - 1
        while i >= 0, a.at - samples[i].at < Self.coalesceSeconds {
            if samples[i].sha == a.sha {
                samples[i].sample.merge(a.sample)
                return
            }
            i -= 1
        }
        samples.append(a)
    }

    /// Waits for a desired config other than `knownSHA` (or a task), at most `wait`.
    func pollConfig(knownSHA: String?, wait: Duration) async -> ConfigPollResult {
        lastSeen = now()
        if let r = immediatePoll(knownSHA: knownSHA) { return r }
        let waiter = nextWaiter
        nextWaiter += 1
        pollWaiters.register(waiter)
        let first = await Self.firstOf(park: { await self.park(poll: waiter) }, or: wait,
                                       expire: { await self.finish(poll: waiter, .unchanged) }, expired: .unchanged)
        pollWaiters.remove(waiter)
        // A wake-up only says something arrived: the config is re-checked against what the
        // gateway knows, and a task is taken from the queue (another poll may have taken it).
        if case .unchanged = first { return .unchanged }
        return immediatePoll(knownSHA: knownSHA) ?? .unchanged
    }

    /// Waits for a parked waiter's result, or until `timeout`, when `expire` gives the waiter
    /// `expired` (so the park returns too). One child task each; the first result wins.
    private static func firstOf<Value: Sendable>(park: @escaping @Sendable () async -> Value, or timeout: Duration,
                                                 expire: @escaping @Sendable () async -> Void, expired: Value) async -> Value {
        await withTaskGroup(of: Value.self) { group in
            group.addTask { await park() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                await expire()
                return expired
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
    }

    private func immediatePoll(knownSHA: String?) -> ConfigPollResult? {
        if !pendingTasks.isEmpty { return .task(pendingTasks.removeFirst()) }
        if let d = desired, !(knownSHA.map { d.sameSHA($0) } ?? false) { return .config(d, source: source) }
        if let d = desired, retryRejected {
            retryRejected = false
            return .config(d, source: source)
        }
        return nil
    }

    private func park(poll id: Int) async -> ConfigPollResult {
        await withCheckedContinuation { c in pollWaiters.park(id, c) }
    }

    private func finish(poll id: Int, _ result: ConfigPollResult) { pollWaiters.finish(id, with: result) }

    private func wakePolls(_ result: ConfigPollResult) { pollWaiters.finishPending { _ in result } }

    /// The gateway applied or rejected a config.
    /// Rollouts waiting on it learn of it only once it is stored; a failed write is the
    /// caller's error (the gateway retries its ACK).
    func acknowledge(version: String, sha: String, applied ok: Bool, error: String?) async throws(KTError) {
        lastSeen = now()
        if ok {
            noteApplied(ConfigRef(version: version, sha: sha))
            if let n = lastNack, ConfigRef.shaMatches(n.sha, sha) { lastNack = nil }
        } else {
            lastNack = ConfigNack(version: version, sha: sha, error: error ?? "rejected", at: now())
        }
        try await save()
        resolveAcks()
    }

    // MARK: Control (rollouts, operators)

    /// Sets the desired config and wakes the gateway's long-poll.
    /// A config the gateway rejected is offered again (its NACK is cleared, so waiting for the
    /// ACK waits for a new answer). Nothing changes and the gateway is not woken when the
    /// change cannot be stored.
    public func setDesired(_ ref: ConfigRef, source newSource: String?) async throws(KTError) {
        let before = (desired, source, lastNack, retryRejected)
        desired = ref
        if let newSource { source = newSource }
        if let n = lastNack, ref.sameSHA(n.sha) {
            lastNack = nil
            retryRejected = true
        }
        do {
            try await save()
        } catch {
            // Re-checked after the await: undone only if nothing newer replaced it meanwhile.
            if desired == ref { (desired, source, lastNack, retryRejected) = before }
            throw error
        }
        wakePolls(.config(ref, source: source))
    }

    /// Waits until the gateway runs `sha` (applied), rejects it, or `timeout` passes.
    public func awaitAck(sha: String, timeout: Duration) async -> AckOutcome {
        if let r = ackState(sha) { return r }
        let waiter = nextWaiter
        nextWaiter += 1
        ackWaiters.register(waiter)
        ackSHAs[waiter] = sha
        let first = await Self.firstOf(park: { await self.park(ack: waiter) }, or: timeout,
                                       expire: { await self.finish(ack: waiter, .timedOut) }, expired: .timedOut)
        ackWaiters.remove(waiter)
        ackSHAs.removeValue(forKey: waiter)
        return first
    }

    private func ackState(_ sha: String) -> AckOutcome? {
        if let a = applied, a.sameSHA(sha) { return .applied }
        if let n = lastNack, ConfigRef.shaMatches(n.sha, sha) { return .rejected(n.error) }
        return nil
    }

    private func park(ack id: Int) async -> AckOutcome {
        await withCheckedContinuation { c in ackWaiters.park(id, c) }
    }

    private func finish(ack id: Int, _ outcome: AckOutcome) { ackWaiters.finish(id, with: outcome) }

    private func resolveAcks() {
        ackWaiters.finishPending { id in ackSHAs[id].flatMap(ackState) }
    }

    /// Queues a task (doctor checks) for the gateway's next long-poll and waits for its answer
    /// (nil when none came within `timeout`).
    public func runTask(_ task: JSONValue, id taskID: String, timeout: Duration) async -> JSONValue? {
        taskResults.register(taskID)
        pendingTasks.append(task)
        wakePolls(.task(.null))
        let result = await Self.firstOf(park: { await self.park(task: taskID) }, or: timeout,
                                        expire: { await self.finishTask(taskID, result: nil) }, expired: nil)
        // Re-checked after the await: the task may still be queued if the gateway never polled.
        pendingTasks.removeAll { $0["id"]?.stringValue == taskID }
        taskResults.remove(taskID)
        return result
    }

    private func park(task id: String) async -> JSONValue? {
        await withCheckedContinuation { c in taskResults.park(id, c) }
    }

    /// An answer (or the deadline: nil) for a task; the first one wins, later ones are ignored.
    func finishTask(_ id: String, result: JSONValue?) { taskResults.finish(id, with: result) }

    /// Whether a task with this id is waiting for its answer (the result route checks it).
    func expectsTask(_ id: String) -> Bool { taskResults.isPending(id) }

    /// Events received (for `gateway show`).
    func noteEvents(_ n: Int, dropped: Int?) {
        eventsReceived += n
        if let dropped { eventsDropped = max(eventsDropped, dropped) }
        lastSeen = now()
    }

    // MARK: Reading

    public func status(at t: Double) -> (GatewayStatus, reason: String?) {
        guard let seen = lastSeen else { return (.offline, "never seen") }
        let age = t - seen
        if age > Self.offlineAfterIntervals * intervalSeconds { return (.offline, "no heartbeat for \(Self.ageText(age))") }
        if let n = lastNack, let d = desired, d.sameSHA(n.sha) { return (.degraded, "rejected \(n.version)") }
        if let failure = audit?.failure { return (.degraded, "audit log cannot store records: \(failure)") }
        if reportedStatus == "unhealthy" || reportedStatus == "degraded" { return (.degraded, "gateway reports \(reportedStatus!)") }
        if age > Self.lateAfterIntervals * intervalSeconds { return (.degraded, "heartbeat late (\(Self.ageText(age)))") }
        // Counters only (no histogram merges): this runs for every gateway on every list.
        var requests = 0, errors = 0
        for s in samples.reversed() {
            if s.at <= t - 300 { break }
            requests += s.sample.requests
            errors += s.sample.serverErrors
        }
        if requests >= 20, Double(errors) / Double(requests) >= 0.05 {
            return (.degraded, String(format: "error rate %.1f%%", Double(errors) * 100 / Double(requests)))
        }
        return (.online, nil)
    }

    /// Heartbeat intervals without one before a gateway is offline (PRODUCT.md §7) / late.
    public static let offlineAfterIntervals = 3.0
    public static let lateAfterIntervals = 1.5

    static func ageText(_ s: Double) -> String {
        if s < 60 { return "\(Int(s))s" }
        if s < 3600 { return "\(Int(s / 60))m" }
        if s < 86400 { return "\(Int(s / 3600))h" }
        return "\(Int(s / 86400))d"
    }

    /// Merged samples received in (t - window, t]; with `configSHA`, only traffic that ran under
    /// that config (and traffic of gateways that do not say which config it ran under).
    public func window(_ seconds: Double, at t: Double, since: Double? = nil, configSHA: String? = nil) -> TrafficSample {
        var merged = TrafficSample()
        let from = max(t - seconds, since ?? -Double.infinity)
        for s in samples.reversed() {
            if s.at <= from { break }
            guard s.at <= t else { continue }
            if let want = configSHA, let had = s.sha, !ConfigSHA.matches(want, had) { continue }
            merged.merge(s.sample)
        }
        return merged
    }

    /// A stored sample: the traffic's own JSON with the config it ran under beside it.
    static func persisted(_ sample: TrafficSample, sha: String?) -> JSONValue {
        guard let sha, case .object(var fields) = sample.json else { return sample.json }
        fields.append(("config_sha", .string(sha)))
        return .object(fields)
    }

    public func health(window seconds: Double, at t: Double, since: Double? = nil) -> HealthSummary {
        // Requests per minute over the part of the window the gateway was known.
        let known = max(min(seconds, t - registeredAt), min(intervalSeconds, seconds))
        return HealthSummary(window: known, sample: window(seconds, at: t, since: since))
    }

    public var configState: (desired: ConfigRef?, applied: ConfigRef?, previous: ConfigRef?, nack: ConfigNack?, source: String?) {
        (desired, applied, previous, lastNack, source)
    }

    /// What the doctor judges from the control plane's side (no round trip to the gateway).
    public func doctorState(at t: Double) -> FleetDoctor.GatewayState {
        FleetDoctor.GatewayState(id: id, name: name, region: region, version: ktVersion, lastSeenAgo: lastSeen.map { t - $0 },
                                 intervalSeconds: intervalSeconds, desired: desired, applied: applied, nack: lastNack,
                                 reportedStatus: reportedStatus, clockSkewSeconds: clockSkewSeconds, eventsDropped: eventsDropped)
    }

    /// Health samples of the last `seconds` (support bundle).
    public func sampleHistory(_ seconds: Double, at t: Double) -> JSONValue {
        .array(samples.filter { $0.at > t - seconds }.map { .object([("at", .string(Timestamps.iso($0.at))), ("sample", $0.sample.json)]) })
    }

    public var isOnline: Bool { status(at: now()).0 != .offline }
    public var heartbeatInterval: Double { intervalSeconds }

    /// The durable record (also the base of the API's gateway object).
    var record: JSONValue {
        .object([
            ("id", .string(id)), ("name", .string(name)), ("region", .string(region)),
            ("labels", .object(labels.map { ($0.0, .string($0.1)) })), ("version", .string(ktVersion)),
            ("address", .optional(address)),
            ("registered_at", .double(registeredAt)), ("heartbeat_interval_seconds", .double(intervalSeconds)),
            ("reported_status", .optional(reportedStatus)), ("uptime_seconds", uptimeSeconds.map { .double($0) } ?? .null),
            ("events_dropped", .int(eventsDropped)), ("events_queued", .int(eventsQueued)), ("events_received", .int(eventsReceived)),
            ("audit", audit?.json ?? .null),
            ("config", .object([("source", .optional(source)), ("desired", desired?.json ?? .null), ("applied", applied?.json ?? .null),
                                ("previous", previous?.json ?? .null), ("last_nack", lastNack?.json ?? .null)])),
        ])
    }

    /// Restores a record saved by `record` (control-plane restart).
    func restore(_ r: JSONValue, lastSeen: Double?, revision: Int, samples restored: [(Double, JSONValue)]) {
        self.revision = revision
        name = r["name"]?.stringValue ?? id
        region = r["region"]?.stringValue ?? ""
        labels = (r["labels"]?.objectValue ?? []).compactMap { k, v in v.stringValue.map { (k, $0) } }
        ktVersion = r["version"]?.stringValue ?? ""
        address = r["address"]?.stringValue
        registeredAt = r["registered_at"]?.doubleValue ?? registeredAt
        intervalSeconds = r["heartbeat_interval_seconds"]?.doubleValue ?? 10
        reportedStatus = r["reported_status"]?.stringValue
        uptimeSeconds = r["uptime_seconds"]?.doubleValue
        eventsDropped = r["events_dropped"]?.intValue ?? 0
        eventsQueued = r["events_queued"]?.intValue ?? 0
        eventsReceived = r["events_received"]?.intValue ?? 0
        audit = r["audit"].flatMap { try? HeartbeatMessage.AuditReport(json: $0) }
        let c = r["config"]
        source = c?["source"]?.stringValue
        desired = ConfigRef(json: c?["desired"])
        applied = ConfigRef(json: c?["applied"])
        previous = ConfigRef(json: c?["previous"])
        lastNack = ConfigNack(json: c?["last_nack"])
        self.lastSeen = lastSeen
        samples = restored.compactMap { at, j in
            (try? TrafficSample(json: j)).map { (at, $0, j["config_sha"]?.stringValue.flatMap { ConfigSHA.isWellFormed($0) ? $0 : nil }) }
        }
    }

    /// The API's view: the record with derived status and health.
    public func summary(at t: Double, healthWindow: Double, includeHealth: Bool = true) -> JSONValue {
        let (st, reason) = status(at: t)
        let base = record.objectValue ?? []
        var pairs = base.filter { !["registered_at", "config"].contains($0.0) }
        pairs.insert(("status", .string(st.rawValue)), at: 3)
        pairs.insert(("status_reason", .optional(reason)), at: 4)
        pairs.append(("registered_at", .string(Timestamps.iso(registeredAt))))
        pairs.append(("last_seen", lastSeen.map { .string(Timestamps.iso($0)) } ?? .null))
        pairs.append(("last_seen_seconds_ago", lastSeen.map { .double(((t - $0) * 10).rounded() / 10) } ?? .null))
        pairs.append(("config", .object([
            ("source", .optional(source)),
            ("desired_version", .optional(desired?.version)), ("desired_sha", .optional(desired?.sha)),
            ("applied_version", .optional(applied?.version)), ("applied_sha", .optional(applied?.sha)),
            ("previous_version", .optional(previous?.version)), ("previous_sha", .optional(previous?.sha)),
            ("last_nack", lastNack?.json ?? .null),
            ("drift", .bool(desired.map { d in !(applied.map { d.sameSHA($0.sha) } ?? false) } ?? false)),
        ])))
        if includeHealth { pairs.append(("health", health(window: healthWindow, at: t).json)) }
        return .object(pairs)
    }
}

/// What a gateway sends when it registers.
struct RegistrationRequest: Sendable {
    var name: String?
    var region: String?
    var labels: [(String, String)]
    var version: String?
    var address: String?
    var heartbeatInterval: Double?
    var running: ConfigRef?
    var source: String?
}

