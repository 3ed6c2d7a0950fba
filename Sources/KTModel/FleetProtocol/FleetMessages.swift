/// The fleet protocol (PRODUCT.md §6): one type per message with one strict decoder, shared by
/// the managed agent, the fleet simulator, the control plane and the CLI, so every field is
/// spelled and validated in one place.

/// The config a gateway runs, as it reports it.
public struct RunningConfigReport: Sendable, Equatable {
    public var version: String
    public var sha: String
    public var source: String?
    /// The canonical config text (registration only), for previews and rollbacks.
    public var content: String?

    public init(version: String, sha: String, source: String? = nil, content: String? = nil) {
        self.version = version
        self.sha = sha
        self.source = source
        self.content = content
    }

    public static let maxContentBytes = 1 << 20

    public var json: JSONValue {
        .compactObject([("version", .string(version)), ("sha", .string(sha)), ("source", .optional(source)), ("content", .optional(content))])
    }

    public init(json: JSONValue, field: String = "config") throws(BoundedFieldError) {
        let r = try WireReader(json, message: field)
        version = try r.string("version", max: 128, required: true)!
        sha = try r.sha("sha", required: true)!
        source = try r.string("source", max: 128)
        content = try r.string("content", max: Self.maxContentBytes)
    }
}

/// `POST /v1/gateways/register`.
public struct RegistrationMessage: Sendable, Equatable {
    public var id: String?
    public var name: String?
    public var region: String?
    public var labels: [(String, String)]
    public var version: String?
    public var address: String?
    public var heartbeatIntervalSeconds: Double?
    public var config: RunningConfigReport?

    public init(id: String?, name: String? = nil, region: String? = nil, labels: [(String, String)] = [], version: String? = nil,
                address: String? = nil, heartbeatIntervalSeconds: Double? = nil, config: RunningConfigReport? = nil) {
        self.id = id
        self.name = name
        self.region = region
        self.labels = labels
        self.version = version
        self.address = address
        self.heartbeatIntervalSeconds = heartbeatIntervalSeconds
        self.config = config
    }

    public static func == (a: Self, b: Self) -> Bool { a.json == b.json }

    public static let maxLabels = 64

    public var json: JSONValue {
        .compactObject([("id", .optional(id)), ("name", .optional(name)), ("region", .optional(region)),
                        ("labels", .object(labels.map { ($0.0, .string($0.1)) })), ("version", .optional(version)),
                        ("address", .optional(address)), ("heartbeat_interval_seconds", heartbeatIntervalSeconds.map { .double($0) } ?? .null),
                        ("config", config?.json ?? .null)])
    }

    public init(json: JSONValue) throws(BoundedFieldError) {
        let r = try WireReader(json, message: "registration")
        id = try r.string("id", max: 128)
        name = try r.string("name", max: 256)
        region = try r.string("region", max: 64)
        version = try r.string("version", max: 64)
        address = try r.string("address", max: 256)
        heartbeatIntervalSeconds = try r.number("heartbeat_interval_seconds", in: 0.001...3600)
        labels = []
        if let l = try r.object("labels") {
            let pairs = l.objectValue ?? []
            guard pairs.count <= Self.maxLabels else { throw BoundedFieldError(field: "labels", message: "registration.labels has more than \(Self.maxLabels) entries") }
            for (k, v) in pairs {
                guard !k.isEmpty, k.utf8.count <= 63, let s = v.stringValue, s.utf8.count <= 256 else {
                    throw BoundedFieldError(field: "labels.\(k.prefix(40))", message: "registration.labels.\(k.prefix(40)) must be a string of at most 256 bytes (keys 1–63 bytes)")
                }
                labels.append((k, s))
            }
        }
        config = try r.object("config").map { j throws(BoundedFieldError) in try RunningConfigReport(json: j) }
    }
}

/// `POST /v1/gateways/{id}/heartbeat`.
public struct HeartbeatMessage: Sendable, Equatable {
    public static let statuses: Set<String> = ["healthy", "degraded", "unhealthy"]
    public var intervalSeconds: Double?
    public var status: String?
    public var uptimeSeconds: Double?
    public var version: String?
    public var config: RunningConfigReport?
    public var traffic: TrafficSample
    public var eventsQueued: Int?
    public var eventsDropped: Int?
    /// Heartbeats that failed since the last one delivered.
    public var missedHeartbeats: Int?
    /// The gateway's clock when it sent this (clock-skew check).
    public var unixMs: Int?
    /// The audit log's state, when the chain has an audit-logger.
    public var audit: AuditReport?
    /// Traffic since the last heartbeat that ran under other configs than `config` (the one
    /// before an apply or a rollback): a rollout judges a config only on its own requests.
    /// `traffic` is the running config's.
    public var earlierTraffic: [ConfigTraffic] = []

    /// Traffic that ran under one config.
    public struct ConfigTraffic: Sendable, Equatable {
        public var sha: String
        public var traffic: TrafficSample
        public init(sha: String, traffic: TrafficSample) {
            self.sha = sha
            self.traffic = traffic
        }
        public var json: JSONValue { .object([("sha", .string(sha)), ("traffic", traffic.json)]) }
        public init(json: JSONValue) throws(BoundedFieldError) {
            let r = try WireReader(json, message: "heartbeat.earlier_traffic[]")
            sha = try r.sha("sha", required: true, full: true)!
            traffic = try r.present("traffic").map { t throws(BoundedFieldError) in try TrafficSample(json: t) } ?? TrafficSample()
        }
    }

    /// Configs a heartbeat may report traffic for besides the running one.
    public static let maxEarlierConfigs = 8

    /// What the gateway says about its audit log.
    public struct AuditReport: Sendable, Equatable {
        /// Why records cannot be stored now; nil while they can.
        public var failure: String?
        public var recordsFailed: Int
        public var recordsDropped: Int
        public init(failure: String?, recordsFailed: Int, recordsDropped: Int) {
            self.failure = failure
            self.recordsFailed = recordsFailed
            self.recordsDropped = recordsDropped
        }
        public var json: JSONValue {
            .object([("failure", .optional(failure)), ("records_failed", .int(recordsFailed)), ("records_dropped", .int(recordsDropped))])
        }
        public init(json: JSONValue) throws(BoundedFieldError) {
            let r = try WireReader(json, message: "heartbeat.audit")
            failure = try r.string("failure", max: 1024)
            recordsFailed = try r.integer("records_failed", in: 0...TrafficSample.maxCount) ?? 0
            recordsDropped = try r.integer("records_dropped", in: 0...TrafficSample.maxCount) ?? 0
        }
    }

    public init(intervalSeconds: Double? = nil, status: String? = nil, uptimeSeconds: Double? = nil, version: String? = nil,
                config: RunningConfigReport? = nil, traffic: TrafficSample = TrafficSample(), eventsQueued: Int? = nil,
                eventsDropped: Int? = nil, unixMs: Int? = nil) {
        self.intervalSeconds = intervalSeconds
        self.status = status
        self.uptimeSeconds = uptimeSeconds
        self.version = version
        self.config = config
        self.traffic = traffic
        self.eventsQueued = eventsQueued
        self.eventsDropped = eventsDropped
        self.unixMs = unixMs
    }

    public var json: JSONValue {
        var fields: [(String, JSONValue)] = [("interval_seconds", intervalSeconds.map { .double($0) } ?? .null), ("status", .optional(status)),
                                             ("uptime_seconds", uptimeSeconds.map { .double($0) } ?? .null), ("version", .optional(version)),
                                             ("config", config?.json ?? .null), ("traffic", traffic.json)]
        fields.append(("events_queued", eventsQueued.map { .int($0) } ?? .null))
        fields.append(("events_dropped", eventsDropped.map { .int($0) } ?? .null))
        fields.append(("missed_heartbeats", missedHeartbeats.map { .int($0) } ?? .null))
        fields.append(("unix_ms", unixMs.map { .int($0) } ?? .null))
        fields.append(("audit", audit?.json ?? .null))
        if !earlierTraffic.isEmpty { fields.append(("earlier_traffic", .array(earlierTraffic.map(\.json)))) }
        return .compactObject(fields)
    }

    public init(json: JSONValue) throws(BoundedFieldError) {
        let r = try WireReader(json, message: "heartbeat")
        let counter = 0...TrafficSample.maxCount
        intervalSeconds = try r.number("interval_seconds", in: 0.001...3600)
        status = try r.string("status", max: 16)
        if let s = status, !Self.statuses.contains(s) {
            throw BoundedFieldError(field: "status", message: "heartbeat.status must be healthy, degraded or unhealthy (got '\(s.prefix(16))')")
        }
        uptimeSeconds = try r.number("uptime_seconds", in: 0...1e10)
        version = try r.string("version", max: 64)
        config = try r.object("config").map { j throws(BoundedFieldError) in try RunningConfigReport(json: j) }
        traffic = try r.present("traffic").map { t throws(BoundedFieldError) in try TrafficSample(json: t) } ?? TrafficSample()
        eventsQueued = try r.integer("events_queued", in: counter)
        eventsDropped = try r.integer("events_dropped", in: counter)
        missedHeartbeats = try r.integer("missed_heartbeats", in: counter)
        // Up to the year 9999: anything later is not a clock.
        unixMs = try r.integer("unix_ms", in: 0...253_402_300_799_000)
        audit = try r.object("audit").map { j throws(BoundedFieldError) in try AuditReport(json: j) }
        if let e = r.present("earlier_traffic"), !e.isNull {
            guard let items = e.arrayValue else {
                throw BoundedFieldError(field: "earlier_traffic", message: "heartbeat.earlier_traffic must be an array of {sha, traffic}")
            }
            guard items.count <= Self.maxEarlierConfigs else {
                throw BoundedFieldError(field: "earlier_traffic", message: "heartbeat.earlier_traffic holds at most \(Self.maxEarlierConfigs) configs (got \(items.count))")
            }
            for item in items { earlierTraffic.append(try ConfigTraffic(json: item)) }
        }
    }
}

/// The long-poll's answer: a config to apply, or a task to run.
public struct ConfigPollAnswer: Sendable, Equatable {
    public struct DesiredConfig: Sendable, Equatable {
        public var version: String
        public var sha: String
        public var source: String?
        public var content: String
        public init(version: String, sha: String, source: String?, content: String) {
            self.version = version
            self.sha = sha
            self.source = source
            self.content = content
        }
    }
    public var config: DesiredConfig?
    /// A task (a doctor run) the gateway should perform and answer.
    public var task: TaskRequest?

    public init(config: DesiredConfig? = nil, task: TaskRequest? = nil) {
        self.config = config
        self.task = task
    }

    public var json: JSONValue {
        .compactObject([("config", config.map { c in JSONValue.compactObject([("version", .string(c.version)), ("sha", .string(c.sha)),
                                                                               ("source", .optional(c.source)), ("content", .string(c.content))]) } ?? .null),
                        ("task", task?.json ?? .null)])
    }

    public init(json: JSONValue) throws(BoundedFieldError) {
        let r = try WireReader(json, message: "config answer")
        if let c = try r.object("config") {
            let cr = try WireReader(c, message: "config")
            config = DesiredConfig(version: try cr.string("version", max: 128) ?? "unknown", sha: try cr.sha("sha", required: true)!,
                                   source: try cr.string("source", max: 128),
                                   content: try cr.string("content", max: RunningConfigReport.maxContentBytes, required: true)!)
        }
        task = try r.object("task").map { t throws(BoundedFieldError) in try TaskRequest(json: t) }
    }
}

/// A task the control plane hands a gateway through its long-poll.
public struct TaskRequest: Sendable, Equatable {
    public var id: String
    public var kind: String
    /// The task's parameters as sent (checks to run, deadlines), for the runner to read.
    public var parameters: JSONValue

    public init(id: String, kind: String, parameters: JSONValue = .object([])) {
        self.id = id
        self.kind = kind
        self.parameters = parameters
    }

    public var json: JSONValue {
        var pairs = parameters.objectValue ?? []
        pairs.removeAll { $0.0 == "id" || $0.0 == "kind" }
        return .object([("id", .string(id)), ("kind", .string(kind))] + pairs)
    }

    public init(json: JSONValue) throws(BoundedFieldError) {
        let r = try WireReader(json, message: "task")
        id = try r.string("id", max: 128, required: true)!
        kind = try r.string("kind", max: 32) ?? "doctor"
        parameters = json
    }
}

/// `POST /v1/gateways/{id}/config/ack`.
public struct ConfigAckMessage: Sendable, Equatable {
    public enum Status: String, Sendable { case applied, rejected }
    public var version: String
    public var sha: String
    public var status: Status
    public var error: String?

    public init(version: String, sha: String, status: Status, error: String? = nil) {
        self.version = version
        self.sha = sha
        self.status = status
        self.error = error
    }

    public var json: JSONValue {
        .compactObject([("version", .string(version)), ("sha", .string(sha)), ("status", .string(status.rawValue)), ("error", .optional(error))])
    }

    public init(json: JSONValue) throws(BoundedFieldError) {
        let r = try WireReader(json, message: "ack")
        version = try r.string("version", max: 128) ?? ""
        sha = try r.sha("sha", required: true, full: true)!
        guard let s = try r.string("status", max: 16, required: true), let st = Status(rawValue: s) else {
            throw BoundedFieldError(field: "status", message: "ack.status must be applied or rejected")
        }
        status = st
        error = try r.string("error", max: 8192)
    }
}

/// `POST /v1/gateways/{id}/events`: decision events, at most `maxEvents` a batch.
public struct EventBatchMessage: Sendable, Equatable {
    public static let maxEvents = 1000
    public static let verdicts: Set<String> = ["allow", "redact", "block"]
    public var events: [JSONValue]
    /// Events the gateway's bounded queue has dropped so far.
    public var dropped: Int?

    public init(events: [JSONValue], dropped: Int? = nil) {
        self.events = events
        self.dropped = dropped
    }

    public var json: JSONValue { .compactObject([("events", .array(events)), ("dropped", dropped.map { .int($0) } ?? .null)]) }

    /// Throws a `BoundedFieldError` whose field is `events` with status 413 semantics when the
    /// batch is too large (the caller answers 413 for that field).
    public init(json: JSONValue) throws(BoundedFieldError) {
        let r = try WireReader(json, message: "event batch")
        guard let list = r.present("events")?.arrayValue else { throw BoundedFieldError(field: "events", message: "events must be an array") }
        guard list.count <= Self.maxEvents else {
            throw BoundedFieldError(field: "events.count", message: "at most \(Self.maxEvents) events per batch (got \(list.count))")
        }
        for (i, e) in list.enumerated() {
            guard e.objectValue != nil else { throw BoundedFieldError(field: "events[\(i)]", message: "events[\(i)] must be an object") }
            guard let v = e["verdict"]?.stringValue, Self.verdicts.contains(v) else {
                throw BoundedFieldError(field: "events[\(i)].verdict", message: "events[\(i)].verdict must be allow, redact or block")
            }
        }
        events = list
        dropped = try r.integer("dropped", in: 0...TrafficSample.maxCount)
    }
}
