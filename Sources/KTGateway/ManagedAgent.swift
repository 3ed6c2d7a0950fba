import Foundation
import Synchronization
import KTModel

/// Managed mode (PRODUCT.md §6): registers the gateway with the control plane, heartbeats,
/// long-polls for its desired config (validate → swap → persist → ACK, or NACK keeping the old
/// one), and uploads decision events from a bounded queue. While the control plane is away
/// every loop retries with exponential backoff and jitter; the data plane never waits on it.
public final class ManagedAgent: Sendable {
    public struct Identity: Sendable {
        public var id: String
        public var name: String
        public var region: String
        public var labels: [(String, String)]
        public var address: String?
        public init(id: String, name: String, region: String, labels: [(String, String)], address: String?) {
            self.id = id
            self.name = name
            self.region = region
            self.labels = labels
            self.address = address
        }
    }

    let gateway: Gateway
    let client: ControlPlaneClient
    let identity: Identity
    let heartbeatInterval: Duration
    let longPollWait: Duration
    let maxBackoff: Duration
    let startedAt = Date()
    /// Tasks the control plane sends down the config long-poll; nil: the built-in `GatewayDoctor`.
    let taskRunner: (@Sendable (JSONValue) async -> JSONValue)?

    public init(gateway: Gateway, client: ControlPlaneClient, identity: Identity, heartbeatInterval: Duration,
                longPollWait: Duration = .seconds(30), maxBackoff: Duration? = nil,
                taskRunner: (@Sendable (JSONValue) async -> JSONValue)? = nil) {
        self.gateway = gateway
        self.client = client
        self.identity = identity
        self.heartbeatInterval = heartbeatInterval
        self.longPollWait = longPollWait
        // Reconnect within a couple of heartbeats once the control plane is back (30 s at most).
        self.maxBackoff = maxBackoff ?? min(.seconds(30), max(.seconds(1), heartbeatInterval * 2))
        self.taskRunner = taskRunner
    }

    var logger: JSONLogger { gateway.core.logger }
    var gatewayPath: String { "/v1/gateways/\(ControlPlaneClient.percentEncode(identity.id))" }

    /// Runs until cancelled.
    public func run() async {
        gateway.core.telemetry.enable()
        await registerUntilDone()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.heartbeatLoop() }
            group.addTask { await self.configLoop() }
            group.addTask { await self.eventLoop() }
            await group.waitForAll()
        }
        // Best effort: deliver what is queued before exiting.
        _ = try? await uploadEvents(max: 1000)
    }

    // MARK: Registration

    func registerUntilDone() async {
        var backoff = Backoff(cap: maxBackoff)
        while !Task.isCancelled {
            do {
                try await register()
                return
            } catch {
                logger.warn("cannot register with the control plane; serving with the local config and retrying",
                            [("error", .string(error.message)), ("retry_in_ms", .int(backoff.peekMs))])
                if case .http(let s) = error.kind, s == 401 || s == 403 {
                    // A bad token will not fix itself quickly; keep retrying slowly.
                    backoff.failures = max(backoff.failures, 10)
                }
                await backoff.sleep()
            }
        }
    }

    func register() async throws(ControlPlaneClient.Failure) {
        let running = await gateway.runningConfig
        let message = RegistrationMessage(
            id: identity.id, name: identity.name, region: identity.region, labels: identity.labels, version: KTVersion.current,
            address: identity.address, heartbeatIntervalSeconds: heartbeatInterval.secondsDouble,
            // The content too, so the control plane can diff against it and roll back to it.
            config: RunningConfigReport(version: running.version, sha: running.sha, source: running.source,
                                        content: gateway.core.currentSnapshot.loaded.canonicalJSON))
        _ = try await client.call("POST", "/v1/gateways/register", body: message.json)
        logger.log(.info, "registered with the control plane", [("control_plane", .string(client.baseURL)), ("id", .string(identity.id))], always: true)
    }

    /// A 404 "not_registered" means the control plane lost us (fresh database): register again.
    func reRegisterIfNeeded(_ error: ControlPlaneClient.Failure) async {
        if error.code == "not_registered" { try? await register() }
    }

    // MARK: Heartbeats

    func heartbeatLoop() async {
        var backoff = Backoff(cap: maxBackoff)
        var missed = 0
        while !Task.isCancelled {
            let delay: Duration = missed == 0 ? heartbeatInterval : backoff.next()
            try? await Task.sleep(for: delay)
            if Task.isCancelled { return }
            let traffic = gateway.core.telemetry.takeTraffic()
            do {
                try await sendHeartbeat(traffic, missed: missed)
                if missed > 0 {
                    logger.info("control plane reachable again", [("missed_heartbeats", .int(missed))])
                }
                missed = 0
                backoff.reset()
            } catch {
                gateway.core.telemetry.giveBack(traffic)
                missed += 1
                await reRegisterIfNeeded(error)
                if missed == 1 || missed % 10 == 0 {
                    logger.warn("heartbeat failed; the gateway keeps serving", [("error", .string(error.message)), ("missed", .int(missed))])
                }
            }
        }
    }

    func sendHeartbeat(_ byConfig: [String: TrafficSample], missed: Int) async throws(ControlPlaneClient.Failure) {
        let running = await gateway.runningConfig
        let (traffic, earlier) = ManagedTelemetry.split(byConfig, running: running.sha)
        let health = gateway.core.healthJSON()
        let t = gateway.core.telemetry
        var message = HeartbeatMessage(intervalSeconds: heartbeatInterval.secondsDouble, status: health["status"]?.stringValue,
                                       uptimeSeconds: Date().timeIntervalSince(startedAt).rounded(), version: KTVersion.current,
                                       config: RunningConfigReport(version: running.version, sha: running.sha, source: running.source),
                                       traffic: traffic, eventsQueued: t.queued, eventsDropped: t.dropped,
                                       // The control plane compares it with its own clock (doctor's clock check).
                                       unixMs: UnixTime.milliseconds())
        message.missedHeartbeats = missed
        message.earlierTraffic = earlier
        if gateway.core.currentSnapshot.engine.auditSettings != nil, let a = gateway.core.audit?.health {
            message.audit = .init(failure: a.failure, recordsFailed: a.recordsFailed, recordsDropped: a.recordsDropped)
        }
        _ = try await client.call("POST", gatewayPath + "/heartbeat", body: message.json, timeout: max(5, heartbeatInterval.secondsDouble))
    }

    // MARK: Config long-poll

    /// Tasks (doctor checks) running beside the long-poll at most; more wait their turn in it.
    static let maxConcurrentTasks = 4

    func configLoop() async {
        // Tasks run beside the poll, so a config push is not held up by a doctor's probes.
        let running = InFlightCount()
        await withDiscardingTaskGroup { tasks in
            await configLoop(tasks: &tasks, running: running)
        }
    }

    private func configLoop(tasks: inout DiscardingTaskGroup, running: InFlightCount) async {
        var backoff = Backoff(cap: maxBackoff)
        var known = await gateway.runningConfig.sha
        while !Task.isCancelled {
            let answer: JSONValue?
            do {
                answer = try await client.call("GET", gatewayPath + "/config?known_sha=\(known)&wait=\(Int(longPollWait.secondsDouble))s",
                                               timeout: longPollWait.secondsDouble + 15)
                backoff.reset()
            } catch {
                if Task.isCancelled { return }
                await reRegisterIfNeeded(error)
                await backoff.sleep()
                continue
            }
            guard let raw = answer else { continue } // 304: unchanged
            let decoded: ConfigPollAnswer
            do { decoded = try ConfigPollAnswer(json: raw) } catch {
                logger.warn("the control plane's config answer is malformed; ignored", [("error", .string(error.message))])
                await backoff.sleep()
                continue
            }
            if let task = decoded.task?.json {
                if running.enter(limit: Self.maxConcurrentTasks) {
                    tasks.addTask {
                        await self.runTask(task)
                        running.leave()
                    }
                } else {
                    await runTask(task)
                }
                continue
            }
            guard let c = decoded.config else { continue }
            let (content, sha, version, source) = (c.content, c.sha, c.version, c.source)
            let ack: ConfigAckMessage
            if ConfigSHA.matches(sha, await gateway.runningConfig.sha) {
                await gateway.adoptManaged(version: version, source: source)
                ack = ConfigAckMessage(version: version, sha: sha, status: .applied)
            } else {
                switch await gateway.applyManaged(content: content, version: version, sha: sha, source: source) {
                case .success(let applied):
                    if !ConfigSHA.matches(applied, sha) {
                        logger.warn("applied config sha differs from the control plane's", [("control_plane_sha", .string(sha)), ("sha", .string(applied))])
                    }
                    ack = ConfigAckMessage(version: version, sha: sha, status: .applied)
                case .failure(let error):
                    ack = ConfigAckMessage(version: version, sha: sha, status: .rejected, error: error.message)
                }
            }
            known = sha
            await deliver(ack: ack)
        }
    }

    /// An ACK matters (rollouts wait on it): retried until delivered or cancelled.
    func deliver(ack: ConfigAckMessage) async {
        var backoff = Backoff(cap: maxBackoff)
        while !Task.isCancelled {
            do {
                _ = try await client.call("POST", gatewayPath + "/config/ack", body: ack.json)
                return
            } catch {
                await reRegisterIfNeeded(error)
                await backoff.sleep()
            }
        }
    }

    func runTask(_ task: JSONValue) async {
        guard let id = task["id"]?.stringValue else { return }
        let result: JSONValue
        if let taskRunner { result = await taskRunner(task) } else { result = await GatewayDoctor.answer(task, gateway: gateway) }
        _ = try? await client.call("POST", gatewayPath + "/tasks/\(ControlPlaneClient.percentEncode(id))", body: result)
    }

    // MARK: Events

    func eventLoop() async {
        var backoff = Backoff(cap: maxBackoff)
        let flushEvery: Duration = min(.seconds(1), heartbeatInterval)
        var failing = false
        while !Task.isCancelled {
            try? await Task.sleep(for: failing ? backoff.next() : flushEvery)
            if Task.isCancelled { return }
            do {
                while try await uploadEvents(max: 500) == 500 {}
                failing = false
                backoff.reset()
            } catch {
                failing = true
                await reRegisterIfNeeded(error)
            }
        }
    }

    /// Sends up to `max` queued events; returns how many were delivered.
    func uploadEvents(max: Int) async throws(ControlPlaneClient.Failure) -> Int {
        let t = gateway.core.telemetry
        let batch = t.peekEvents(max: max)
        guard !batch.isEmpty else { return 0 }
        _ = try await client.call("POST", gatewayPath + "/events", body: EventBatchMessage(events: batch, dropped: t.dropped).json)
        t.confirm(batch)
        return batch.count
    }
}

/// How many of something are in flight, with a limit checked on entry.
final class InFlightCount: Sendable {
    private let count = Atomic<Int>(0)

    /// Counts one in when fewer than `limit` are in flight.
    func enter(limit: Int) -> Bool {
        var current = count.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = count.compareExchange(expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func leave() { count.subtract(1, ordering: .relaxed) }
}

/// Exponential backoff with jitter: base 250 ms doubling to `cap`, each delay drawn from [d/2, d].
struct Backoff {
    var failures = 0
    let cap: Duration

    init(cap: Duration) { self.cap = cap }

    var peekMs: Int { Int(min(0.25 * pow(2, Double(failures)), cap.secondsDouble) * 1000) }

    mutating func next() -> Duration {
        let d = min(0.25 * pow(2, Double(failures)), cap.secondsDouble)
        failures = min(failures + 1, 30)
        return .milliseconds(Int64(Double.random(in: (d / 2)...d) * 1000))
    }

    mutating func sleep() async { try? await Task.sleep(for: next()) }
    mutating func reset() { failures = 0 }
}


