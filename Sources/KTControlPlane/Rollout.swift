import Foundation
import KTModel

/// One rollout: what it pushes where, how, and its state machine. Persisted as JSON in SQLite
/// after every transition.
public struct Rollout: Sendable {
    public var id: String
    public var planID: String?
    public var source: String
    public var target: ConfigRef
    public var strategy: String
    public var batchSize: Int
    public var minRequests: Int
    public var thresholds: String?
    public var ackTimeout: Double
    public var createdAt: Double
    /// Each gateway's applied config when the rollout was created (where rollback returns).
    public var previous: [String: ConfigRef]
    /// Each gateway's config source then (an --adopt push moves it; rollback moves it back).
    public var previousSource: [String: String] = [:]
    /// When each gateway was pushed (its baseline is the window before).
    public var pushedAt: [String: Double] = [:]
    public var machine: RolloutMachine
    public var log: [JSONValue] = []

    /// Which cohort the judge compares the updated gateways with.
    public enum Control: String, Sendable { case rollout, group, baseline }
    public var control: Control = .rollout
    /// `--control group`: the group's gateways (those outside the rollout are the control).
    public var controlGateways: [String] = []
    public var judgeSettings = RolloutJudge.Settings()
    /// Deciding verdicts (window ends and failures), with their cohorts' samples.
    public var verdicts: [JSONValue] = []
    /// The latest look, decided or not (status shows it while a window runs).
    public var lastVerdict: JSONValue?

    public var json: JSONValue { json(detail: true) }

    /// `detail: false` (lists): the latest verdict's outcome and text only, no stored samples.
    public func json(detail: Bool) -> JSONValue {
        let m = machine
        let verdictJSON: JSONValue = detail ? (lastVerdict ?? .null)
            : lastVerdict.map { v in .object([("outcome", v["outcome"] ?? .null), ("against", v["against"] ?? .null), ("text", v["text"] ?? .null)]) } ?? .null
        return .object([
            ("id", .string(id)), ("plan_id", .optional(planID)), ("status", .string(m.status.rawValue)), ("reason", .optional(m.reason)),
            ("source", .string(source)), ("version", .string(target.version)), ("sha", .string(target.sha)),
            ("strategy", .string(strategy)), ("batch_size", .int(batchSize)), ("batches", .array(m.batches.map { .array($0.map { .string($0) }) })),
            ("current_batch", .int(m.batch + 1)), ("pause_between_seconds", .double(m.pauseBetween)), ("health_window_seconds", .double(m.healthWindow)),
            ("canary_duration_seconds", m.canaryDuration.map { .double($0) } ?? .null), ("min_requests", .int(minRequests)),
            ("success_threshold", .optional(thresholds)), ("rollback_on_error", .bool(m.rollbackOnError)), ("ack_timeout_seconds", .double(ackTimeout)),
            ("created_at", .string(Timestamps.iso(createdAt))), ("created_at_epoch", .double(createdAt)),
            ("previous", .object(previous.keys.sorted().map { ($0, previous[$0]!.json) })),
            ("previous_source", .object(previousSource.keys.sorted().map { ($0, .string(previousSource[$0]!)) })),
            ("pushed_at", .object(pushedAt.keys.sorted().map { ($0, .double(pushedAt[$0]!)) })),
            ("stopped_from", .optional(m.stoppedFrom?.rawValue)),
            ("pushed", .array(m.pushed.map { .string($0) })), ("applied", .array(m.applied.map { .string($0) })),
            ("window_start", m.windowStart.map { .double($0) } ?? .null), ("deadline", m.deadline.map { .double($0) } ?? .null),
            ("control", .string(control.rawValue)), ("control_gateways", .array(controlGateways.map { .string($0) })),
            ("judge", judgeSettings.json), ("verdict", verdictJSON), ("verdicts", detail ? .array(verdicts) : .int(verdicts.count)),
        ])
    }

    init(id: String, planID: String?, source: String, target: ConfigRef, strategy: String, batchSize: Int, minRequests: Int, thresholds: String?,
         ackTimeout: Double, createdAt: Double, previous: [String: ConfigRef], machine: RolloutMachine) {
        self.id = id
        self.planID = planID
        self.source = source
        self.target = target
        self.strategy = strategy
        self.batchSize = batchSize
        self.minRequests = minRequests
        self.thresholds = thresholds
        self.ackTimeout = ackTimeout
        self.createdAt = createdAt
        self.previous = previous
        self.machine = machine
    }

    init?(json j: JSONValue, log: [JSONValue]) {
        guard let id = j["id"]?.stringValue, let status = j["status"]?.stringValue.flatMap(RolloutMachine.Status.init(rawValue:)),
              let target = ConfigRef(json: j) else { return nil }
        var m = RolloutMachine(batches: (j["batches"]?.arrayValue ?? []).map { ($0.arrayValue ?? []).compactMap(\.stringValue) },
                               rollbackOnError: j["rollback_on_error"]?.boolValue ?? false, healthWindow: j["health_window_seconds"]?.doubleValue ?? 30,
                               pauseBetween: j["pause_between_seconds"]?.doubleValue ?? 0, canaryDuration: j["canary_duration_seconds"]?.doubleValue)
        m.status = status
        m.batch = max(0, (j["current_batch"]?.intValue ?? 1) - 1)
        m.pushed = (j["pushed"]?.arrayValue ?? []).compactMap(\.stringValue)
        m.applied = (j["applied"]?.arrayValue ?? []).compactMap(\.stringValue)
        m.windowStart = j["window_start"]?.doubleValue
        m.deadline = j["deadline"]?.doubleValue
        m.reason = j["reason"]?.stringValue
        m.stoppedFrom = j["stopped_from"]?.stringValue.flatMap(RolloutMachine.Status.init(rawValue:))
        self.init(id: id, planID: j["plan_id"]?.stringValue, source: j["source"]?.stringValue ?? "", target: target,
                  strategy: j["strategy"]?.stringValue ?? "rolling", batchSize: j["batch_size"]?.intValue ?? 1, minRequests: j["min_requests"]?.intValue ?? 20,
                  thresholds: j["success_threshold"]?.stringValue, ackTimeout: j["ack_timeout_seconds"]?.doubleValue ?? 30,
                  createdAt: j["created_at_epoch"]?.doubleValue ?? 0,
                  previous: Dictionary(uniqueKeysWithValues: (j["previous"]?.objectValue ?? []).compactMap { k, v in ConfigRef(json: v).map { (k, $0) } }),
                  machine: m)
        pushedAt = Dictionary(uniqueKeysWithValues: (j["pushed_at"]?.objectValue ?? []).compactMap { k, v in v.doubleValue.map { (k, $0) } })
        control = j["control"]?.stringValue.flatMap(Control.init(rawValue:)) ?? .rollout
        controlGateways = (j["control_gateways"]?.arrayValue ?? []).compactMap(\.stringValue)
        judgeSettings = RolloutJudge.Settings(json: j["judge"])
        if j["judge"] == nil {
            // A rollout stored before the judge existed: its min_requests and thresholds.
            judgeSettings.minRequests = minRequests
            if let t = thresholds, let gate = try? HealthGate.parse(t) { judgeSettings.thresholds = gate.thresholds }
        }
        verdicts = j["verdicts"]?.arrayValue ?? []
        lastVerdict = j["verdict"].flatMap { $0 == .null ? nil : $0 }
        previousSource = Dictionary(uniqueKeysWithValues: (j["previous_source"]?.objectValue ?? []).compactMap { k, v in v.stringValue.map { (k, $0) } })
        self.log = log
    }
}
