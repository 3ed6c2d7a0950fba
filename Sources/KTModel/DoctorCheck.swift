/// One finding of `kt doctor` (PRODUCT.md §7): what was checked, how it went, and — when it
/// is not ok — a one-line hint that says what to do. Gateways produce these for their own
/// upstream and audit checks; the control plane for heartbeat, config, version and clock; the
/// CLI for local checks. The JSON shape is part of the stable `--json` output.
public struct DoctorCheck: Sendable, Equatable {
    public enum Status: String, Sendable, Comparable, CaseIterable {
        case ok, warn, fail, skip

        /// fail > warn > ok > skip: the worst of a list decides a gateway's line.
        var rank: Int { switch self { case .skip: 0; case .ok: 1; case .warn: 2; case .fail: 3 } }
        public static func < (a: Status, b: Status) -> Bool { a.rank < b.rank }
    }

    /// heartbeat, config, upstream, version, clock, audit (fleet); config, state, gateway, upstream (local).
    public var check: String
    /// The provider target an upstream check probed.
    public var target: String?
    public var status: Status
    public var message: String
    public var hint: String?
    public var latencyMs: Double?

    public init(_ check: String, _ status: Status, _ message: String, hint: String? = nil, target: String? = nil, latencyMs: Double? = nil) {
        self.check = check
        self.status = status
        self.message = message
        self.hint = status == .ok ? nil : hint
        self.target = target
        self.latencyMs = latencyMs
    }

    /// Keys always present, in this order (null when not applicable).
    public var json: JSONValue {
        .object([
            ("check", .string(check)), ("target", .optional(target)), ("status", .string(status.rawValue)),
            ("message", .string(message)), ("hint", .optional(hint)),
            ("latency_ms", latencyMs.map { .double(($0 * 10).rounded() / 10) } ?? .null),
        ])
    }

    public init?(json: JSONValue) {
        guard let check = json["check"]?.stringValue, let s = json["status"]?.stringValue, let status = Status(rawValue: s) else { return nil }
        self.init(check, status, json["message"]?.stringValue ?? "", hint: json["hint"]?.stringValue,
                  target: json["target"]?.stringValue, latencyMs: json["latency_ms"]?.doubleValue)
    }

    /// A gateway's line: its worst check, skipped ones aside (ok when nothing ran).
    public static func worst(_ checks: [DoctorCheck]) -> Status {
        checks.map(\.status).filter { $0 != .skip }.max() ?? .ok
    }

    /// Every check name `--checks` accepts in fleet mode, in report order.
    public static let fleetChecks = ["heartbeat", "config", "version", "clock", "audit", "upstream"]
    /// Every check name `--checks` accepts in local mode, in report order.
    public static let localChecks = ["config", "state", "gateway", "upstream"]
}
