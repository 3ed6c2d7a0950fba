import Foundation
import Synchronization
import KTModel

/// Many lightweight simulated gateways in one process, speaking the real managed protocol
/// (register, heartbeat with synthetic traffic, config long-poll, ACK/NACK, events) against a
/// control plane. Knobs make some of them slow, failing, offline or rejecting. Used by
/// `kt dev simulate-fleet`, the scale benchmark and rollout tests.
public final class FleetSimulator: Sendable {
    public struct Options: Sendable {
        public var gateways = 10
        public var prefix = "sim-"
        public var heartbeatInterval: Duration = .seconds(5)
        public var requestsPerSecond = 2.0
        public var blockRate = 0.02
        public var errorRate = 0.005
        public var latencyMs = 120.0
        /// The first `slow` gateways answer slowly (5× latency) and ACK after `slowAckDelay`.
        public var slow = 0
        public var slowAckDelay: Duration = .seconds(2)
        /// The next `failing` gateways have a 30 % error rate.
        public var failing = 0
        /// The next `offline` gateways register and then go silent.
        public var offline = 0
        /// The next `rejecting` gateways NACK every config.
        public var rejecting = 0
        /// Decision events uploaded per heartbeat per gateway (0: none).
        public var eventsPerHeartbeat = 0
        public var region = "sim"
        public init() {}
    }

    public enum Kind: String, Sendable { case normal, slow, failing, offline, rejecting }

    struct Stats {
        var heartbeatLatency = LatencyHistogram()
        var heartbeats = 0
        var heartbeatFailures = 0
        var registered = 0
        var acks = 0
        var nacks = 0
        var events = 0
    }

    public let options: Options
    /// Gateways are spread over these clients (each its own libcurl multi thread), so one
    /// thread does not poll thousands of connections.
    let clients: [ControlPlaneClient]
    private let stats = Mutex(Stats())

    public init(options: Options, clients: [ControlPlaneClient]) {
        precondition(!clients.isEmpty)
        self.options = options
        self.clients = clients
    }

    public func kind(of index: Int) -> Kind {
        var i = index
        if i < options.slow { return .slow }
        i -= options.slow
        if i < options.failing { return .failing }
        i -= options.failing
        if i < options.offline { return .offline }
        i -= options.offline
        if i < options.rejecting { return .rejecting }
        return .normal
    }

    public func id(of index: Int) -> String {
        let width = max(4, String(options.gateways).count)
        let n = String(index + 1)
        return options.prefix + String(repeating: "0", count: max(0, width - n.count)) + n
    }

    /// Runs every simulated gateway until cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<options.gateways {
                group.addTask { await self.runGateway(i) }
            }
        }
    }

    func runGateway(_ index: Int) async {
        let client = clients[index % clients.count]
        let id = id(of: index)
        let kind = kind(of: index)
        let path = "/v1/gateways/\(id)"
        var running = ConfigState(version: "sim-initial", sha: SimSHA.initial)
        // Register (retrying while the control plane is not there).
        while !Task.isCancelled {
            let message = RegistrationMessage(id: id, name: id, region: options.region, labels: [("simulated", "true"), ("kind", kind.rawValue)],
                                              version: KTVersion.current, heartbeatIntervalSeconds: options.heartbeatInterval.secondsDouble,
                                              config: RunningConfigReport(version: running.version, sha: running.sha))
            if (try? await client.call("POST", "/v1/gateways/register", body: message.json)) != nil { break }
            try? await Task.sleep(for: .milliseconds(Int64.random(in: 200...1000)))
        }
        stats.withLock { $0.registered += 1 }
        if kind == .offline { return }
        let state = SimState(running)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.heartbeats(client, id: id, path: path, kind: kind, state: state) }
            group.addTask { await self.configPolls(client, path: path, kind: kind, state: state) }
        }
        running = state.withLock { $0 }
    }

    struct ConfigState: Sendable { var version: String; var sha: String }

    final class SimState: Sendable {
        let m: Mutex<ConfigState>
        init(_ s: ConfigState) { m = Mutex(s) }
        func withLock<T>(_ body: (inout ConfigState) -> T) -> T { m.withLock { body(&$0) } }
    }

    func heartbeats(_ client: ControlPlaneClient, id: String, path: String, kind: Kind, state: SimState) async {
        let interval = options.heartbeatInterval
        // Spread the fleet's heartbeats over the interval.
        try? await Task.sleep(for: .milliseconds(Int64.random(in: 0...max(1, Int64(interval.secondsDouble * 1000)))))
        var next = ContinuousClock.now
        while !Task.isCancelled {
            next += interval
            let sample = synthesize(kind: kind)
            let running = state.withLock { $0 }
            let body = HeartbeatMessage(intervalSeconds: interval.secondsDouble, status: "healthy", version: KTVersion.current,
                                        config: RunningConfigReport(version: running.version, sha: running.sha), traffic: sample,
                                        eventsQueued: 0, eventsDropped: 0, unixMs: UnixTime.milliseconds()).json
            let started = ContinuousClock.now
            let ok = (try? await client.call("POST", path + "/heartbeat", body: body, timeout: 10)) != nil
            let ms = (ContinuousClock.now - started).secondsDouble * 1000
            stats.withLock { s in
                if ok { s.heartbeats += 1; s.heartbeatLatency.record(ms: ms) } else { s.heartbeatFailures += 1 }
            }
            if options.eventsPerHeartbeat > 0 {
                let events = (0..<options.eventsPerHeartbeat).map { i -> JSONValue in
                    let blocked = Double.random(in: 0..<1) < (kind == .failing ? 0.3 : options.blockRate)
                    return .object([("id", .string("sim-\(id)-\(UInt32.random(in: 0...UInt32.max))-\(i)")), ("gateway", .string(id)),
                                    ("verdict", .string(blocked ? "block" : "allow")), ("status", .int(blocked ? 409 : 200)),
                                    ("model", "sim-model"), ("config_sha", .string(String(running.sha.prefix(12))))])
                }
                if (try? await client.call("POST", path + "/events", body: EventBatchMessage(events: events).json)) != nil {
                    stats.withLock { $0.events += events.count }
                }
            }
            try? await Task.sleep(until: next, clock: .continuous)
        }
    }

    func synthesize(kind: Kind) -> TrafficSample {
        var s = TrafficSample()
        let expected = options.requestsPerSecond * options.heartbeatInterval.secondsDouble
        let n = max(0, Int((expected + Double.random(in: -0.5...0.5) * expected.squareRoot()).rounded()))
        let errorRate = kind == .failing ? 0.3 : options.errorRate
        let latency = kind == .slow ? options.latencyMs * 5 : options.latencyMs
        for _ in 0..<n {
            let r = Double.random(in: 0..<1)
            let status = r < errorRate ? 502 : (r < errorRate + options.blockRate ? 409 : 200)
            let ms = latency * exp(Double.random(in: -0.5...0.7))
            s.record(status: status, verdict: status == 409 ? "block" : "allow", latencyMs: ms, overheadMs: Double.random(in: 0.2...1.5))
        }
        return s
    }

    /// A doctor answer shaped like a real gateway's: its simulated target fails on `failing` gateways.
    static func doctorAnswer(_ task: JSONValue, kind: Kind) -> JSONValue {
        let wanted = Set((task["checks"]?.arrayValue ?? []).compactMap(\.stringValue))
        var checks: [DoctorCheck] = []
        if wanted.contains("audit") { checks.append(DoctorCheck("audit", .ok, "simulated gateway: no audit log")) }
        if wanted.contains("upstream") {
            checks.append(kind == .failing
                ? DoctorCheck("upstream", .fail, "simulated target unreachable: connect_error", hint: "simulated: nothing to fix", target: "sim-target")
                : DoctorCheck("upstream", .ok, "simulated target reachable (HTTP 200)", target: "sim-target", latencyMs: Double.random(in: 5...40)))
        }
        return .object([("id", task["id"] ?? .null), ("kind", "doctor"), ("version", .string(KTVersion.current)),
                        ("checks", .array(checks.map(\.json))), ("effective_config", .null),
                        ("unix_ms", .int(UnixTime.milliseconds()))])
    }

    func configPolls(_ client: ControlPlaneClient, path: String, kind: Kind, state: SimState) async {
        while !Task.isCancelled {
            let known = state.withLock { $0.sha }
            let answer: JSONValue?
            do {
                answer = try await client.call("GET", path + "/config?known_sha=\(known)&wait=30s", timeout: 45)
            } catch {
                try? await Task.sleep(for: .milliseconds(Int64.random(in: 250...1000)))
                continue
            }
            let decoded = answer.flatMap { try? ConfigPollAnswer(json: $0) }
            guard let c = decoded?.config else {
                if let task = decoded?.task {
                    _ = try? await client.call("POST", path + "/tasks/\(ControlPlaneClient.percentEncode(task.id))", body: Self.doctorAnswer(task.json, kind: kind))
                }
                continue
            }
            let (version, sha) = (c.version, c.sha)
            if kind == .slow { try? await Task.sleep(for: options.slowAckDelay) }
            let ack: ConfigAckMessage
            if kind == .rejecting {
                ack = ConfigAckMessage(version: version, sha: sha, status: .rejected, error: "simulated rejection: this gateway refuses every config")
                stats.withLock { $0.nacks += 1 }
            } else {
                ack = ConfigAckMessage(version: version, sha: sha, status: .applied)
                stats.withLock { $0.acks += 1 }
            }
            // The ACK says what it runs; state moves before, so the next heartbeat agrees.
            if kind != .rejecting { state.withLock { $0 = ConfigState(version: version, sha: sha) } }
            var delivered = false
            while !delivered && !Task.isCancelled {
                delivered = (try? await client.call("POST", path + "/config/ack", body: ack.json)) != nil
                if !delivered { try? await Task.sleep(for: .milliseconds(500)) }
            }
            if kind == .rejecting {
                // Remember the rejected sha so the long-poll waits for the next change.
                await rejectedWait(client, path: path, rejected: sha, state: state)
            }
        }
    }

    /// A rejecting gateway long-polls with the rejected sha as "known" until the desired config changes.
    func rejectedWait(_ client: ControlPlaneClient, path: String, rejected: String, state: SimState) async {
        while !Task.isCancelled {
            let answer: JSONValue?
            do { answer = try await client.call("GET", path + "/config?known_sha=\(rejected)&wait=30s", timeout: 45) } catch { return }
            if let c = answer.flatMap({ try? ConfigPollAnswer(json: $0) })?.config {
                let running = state.withLock { $0 }
                if ConfigSHA.matches(c.sha, running.sha) {
                    // Desired went back to what it runs (a rollback): acknowledge.
                    _ = try? await client.call("POST", path + "/config/ack", body: ConfigAckMessage(version: c.version, sha: c.sha, status: .applied).json)
                    state.withLock { $0.version = c.version }
                }
                return
            }
        }
    }

    public struct Report: Sendable {
        public var registered: Int
        public var heartbeats: Int
        public var heartbeatFailures: Int
        public var p50Ms: Double?
        public var p99Ms: Double?
        public var acks: Int
        public var nacks: Int
        public var events: Int

        public var json: JSONValue {
            .object([("registered", .int(registered)), ("heartbeats", .int(heartbeats)), ("heartbeat_failures", .int(heartbeatFailures)),
                     ("heartbeat_p50_ms", p50Ms.map { .double(($0 * 100).rounded() / 100) } ?? .null),
                     ("heartbeat_p99_ms", p99Ms.map { .double(($0 * 100).rounded() / 100) } ?? .null),
                     ("acks", .int(acks)), ("nacks", .int(nacks)), ("events", .int(events))])
        }
    }

    private let frozen = Mutex<Report?>(nil)

    /// Fixes the report at this moment (cancellation noise afterwards is not counted).
    public func freeze() { let r = report(); frozen.withLock { $0 = r } }

    public func report() -> Report {
        if let f = frozen.withLock({ $0 }) { return f }
        return stats.withLock { s in
            Report(registered: s.registered, heartbeats: s.heartbeats, heartbeatFailures: s.heartbeatFailures,
                   p50Ms: s.heartbeatLatency.percentile(0.5), p99Ms: s.heartbeatLatency.percentile(0.99),
                   acks: s.acks, nacks: s.nacks, events: s.events)
        }
    }

    /// Starts a fresh measurement window (e.g. after every gateway registered).
    public func resetLatency() { stats.withLock { $0.heartbeatLatency = LatencyHistogram() } }
}

enum SimSHA {
    static let initial = String(repeating: "0", count: 64)
}
