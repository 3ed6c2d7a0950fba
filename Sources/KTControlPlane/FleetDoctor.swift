import KTModel

/// The doctor's judgements the control plane makes from what it already knows about a gateway:
/// heartbeat freshness, config drift and rejections, version skew, clock skew. Pure functions
/// of a state snapshot, so every threshold is testable without I/O.
public enum FleetDoctor {
    public struct GatewayState: Sendable {
        public var id: String
        public var name: String
        public var region: String
        public var version: String
        public var lastSeenAgo: Double?
        public var intervalSeconds: Double
        public var desired: ConfigRef?
        public var applied: ConfigRef?
        public var nack: ConfigNack?
        public var reportedStatus: String?
        public var clockSkewSeconds: Double?
        public var eventsDropped: Int

        public var isOffline: Bool { lastSeenAgo.map { $0 > ManagedGateway.offlineAfterIntervals * intervalSeconds } ?? true }
    }

    /// Clock skew beyond these many seconds is a warning / a failure.
    public static let clockWarnSeconds = 2.0
    public static let clockFailSeconds = 30.0

    public static func heartbeat(_ s: GatewayState) -> DoctorCheck {
        let every = "every \(ManagedGateway.ageText(s.intervalSeconds))"
        guard let ago = s.lastSeenAgo else {
            return DoctorCheck("heartbeat", .fail, "never heard from",
                               hint: "start the gateway with KEEPTRUSTS_API_URL and its gateway token set; check its logs")
        }
        if s.isOffline {
            return DoctorCheck("heartbeat", .fail, "offline: last heartbeat \(ManagedGateway.ageText(ago)) ago (\(every))",
                               hint: "check the gateway process, its KEEPTRUSTS_API_URL and token, and the network to the control plane")
        }
        if ago > ManagedGateway.lateAfterIntervals * s.intervalSeconds {
            return DoctorCheck("heartbeat", .warn, "late: last heartbeat \(ManagedGateway.ageText(ago)) ago (\(every))",
                               hint: "the gateway or its network is slow; watch 'kt gateway health' and check its logs")
        }
        if s.eventsDropped > 0 {
            return DoctorCheck("heartbeat", .warn, "fresh (\(ManagedGateway.ageText(ago)) ago), but \(s.eventsDropped) decision events were dropped",
                               hint: "the event queue overflowed while the control plane was away; raise KEEPTRUSTS_EVENT_QUEUE_SIZE")
        }
        return DoctorCheck("heartbeat", .ok, "last heartbeat \(ManagedGateway.ageText(ago)) ago (\(every))")
    }

    /// Drift (applied ≠ desired) and the last NACK. `rollout`: an unfinished rollout holding this gateway.
    public static func config(_ s: GatewayState, rollout: (id: String, status: String)?) -> DoctorCheck {
        let applied = s.applied.map { "\($0.version) (\($0.sha.prefix(12)))" } ?? "nothing reported"
        if let d = s.desired, let n = s.nack, d.sameSHA(n.sha) {
            return DoctorCheck("config", .fail, "rejected its desired config \(n.version): \(n.error); still runs \(applied)",
                               hint: "fix the config and push it again, or return to the last good version with 'kt rollout rollback ID'")
        }
        if let d = s.desired, !(s.applied.map { d.sameSHA($0.sha) } ?? false) {
            let text = "drift: runs \(applied), desired \(d.version) (\(d.sha.prefix(12)))"
            if let rollout, rollout.status == "failed" {
                return DoctorCheck("config", .fail, text + "; rollout \(rollout.id) failed and waits for an operator",
                                   hint: "'kt rollout rollback \(rollout.id)' returns the gateways to their previous config; 'kt rollout resume \(rollout.id)' retries")
            }
            if let rollout {
                return DoctorCheck("config", .warn, text + " while rollout \(rollout.id) is \(rollout.status)",
                                   hint: "follow it with 'kt rollout status \(rollout.id) --follow'")
            }
            return DoctorCheck("config", .fail, text,
                               hint: "the gateway has not applied its desired config: check it is polling ('kt gateway show \(s.id)') and its logs")
        }
        var text = s.desired == nil ? "runs \(applied); no config pushed to it" : "runs its desired config \(applied)"
        if let n = s.nack { text += "; last NACK: \(n.version) at \(Timestamps.iso(n.at)) (\(n.error))" }
        return DoctorCheck("config", .ok, text)
    }

    public static func version(_ s: GatewayState, controlPlane cp: String) -> DoctorCheck {
        guard !s.version.isEmpty else {
            return DoctorCheck("version", .warn, "the gateway did not report its kt version", hint: "upgrade it to kt \(cp), the control plane's version")
        }
        if s.version == cp { return DoctorCheck("version", .ok, "kt \(s.version), same as the control plane") }
        let g = s.version.split(separator: ".").map { Int($0.prefix { $0.isNumber }) ?? 0 }
        let c = cp.split(separator: ".").map { Int($0.prefix { $0.isNumber }) ?? 0 }
        if g.first != c.first {
            return DoctorCheck("version", .fail, "version skew: gateway runs kt \(s.version), control plane \(cp) (different major version)",
                               hint: "upgrade the gateway to kt \(cp); major versions do not share the managed protocol")
        }
        return DoctorCheck("version", .warn, "version skew: gateway runs kt \(s.version), control plane \(cp)",
                           hint: "upgrade the gateway to kt \(cp) so the fleet runs one version")
    }

    /// `measured`: skew from the doctor task's answer; else the last heartbeat's.
    public static func clock(_ s: GatewayState, measured: Double?) -> DoctorCheck {
        guard let skew = measured ?? s.clockSkewSeconds else {
            return DoctorCheck("clock", .skip, "no clock reading from this gateway yet")
        }
        let text = String(format: "gateway clock is %.1fs %@ the control plane's", abs(skew), skew >= 0 ? "ahead of" : "behind")
        if abs(skew) >= clockFailSeconds {
            return DoctorCheck("clock", .fail, "clock skew: " + text, hint: "sync the gateway's clock (NTP/chrony): event times and health windows depend on it")
        }
        if abs(skew) >= clockWarnSeconds {
            return DoctorCheck("clock", .warn, "clock skew: " + text, hint: "enable time sync (NTP/chrony) on the gateway's host")
        }
        return DoctorCheck("clock", .ok, abs(skew) < 0.005 ? "in sync (±0.00s)" : String(format: "in sync (%+.2fs)", skew))
    }
}
