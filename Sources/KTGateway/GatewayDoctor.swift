import Foundation
import Synchronization
import KTModel
import KTPolicy

/// A gateway's side of `kt doctor`: the checks only the gateway itself can run — its provider
/// targets probed from its own host, its audit log — plus its clock, answered to a `doctor`
/// task the control plane sends down the config long-poll. Everything leaving here is
/// scrubbed of the secrets this gateway holds.
public enum GatewayDoctor {
    /// Task: `{"id", "kind": "doctor", "checks": [...], "timeout_ms": N, "include_config": bool}`.
    /// Answer: `{"id", "kind", "version", "config": {version, sha}, "checks": [...],
    /// "effective_config": {...} | null, "unix_ms"}` (unix_ms is stamped last, for clock skew).
    public static func answer(_ task: JSONValue, gateway: Gateway) async -> JSONValue {
        let core = gateway.core
        let id = task["id"] ?? .null
        guard task["kind"]?.stringValue == "doctor" else {
            return .object([("id", id), ("error", .string("unknown task kind '\(task["kind"]?.stringValue ?? "")'"))])
        }
        let requested = Set((task["checks"]?.arrayValue ?? []).compactMap(\.stringValue))
        let wants = { (name: String) in requested.isEmpty || requested.contains(name) }
        let timeoutMs = max(100, min(task["timeout_ms"]?.intValue ?? 5000, 60_000))
        let snapshot = core.currentSnapshot
        // Both at once, each within the deadline, so a slow one cannot starve the other.
        let wantsAudit = wants("audit"), wantsUpstream = wants("upstream")
        async let audit: DoctorCheck? = wantsAudit ? auditCheck(core, timeoutMs: timeoutMs) : nil
        async let upstream: [DoctorCheck] = wantsUpstream ? UpstreamProbe.checkAll(snapshot.targets, timeoutMs: timeoutMs) : []
        var checks: [DoctorCheck] = []
        if let a = await audit { checks.append(a) }
        let probed = await upstream
        if wantsUpstream {
            checks += probed.isEmpty ? [DoctorCheck("upstream", .warn, "the config has no provider targets",
                                                    hint: "add providers.targets to the config; every request fails without one")] : probed
        }
        let running = await gateway.runningConfig
        let scrubber = SecretScrubber(knownSecrets: secrets(core))
        let answer: JSONValue = .object([
            ("id", id), ("kind", "doctor"), ("version", .string(KTVersion.current)),
            ("config", .object([("version", .string(running.version)), ("sha", .string(running.sha)), ("source", .optional(running.source))])),
            ("checks", .array(checks.map(\.json))),
            ("effective_config", task["include_config"]?.boolValue == true ? core.configJSON() : .null),
        ])
        return scrubber.scrub(answer).setting("unix_ms", .int(UnixTime.milliseconds()))
    }

    /// Every secret value this gateway resolved: provider keys, the debug override key, its admin token.
    static func secrets(_ core: GatewayCore) -> [String] {
        var out = core.currentSnapshot.targets.compactMap(\.apiKey)
        if let k = core.options.upstreamOverride?.apiKey { out.append(k) }
        if let t = core.options.adminToken { out.append(t) }
        if let t = core.options.environment["KEEPTRUSTS_API_TOKEN"] { out.append(t) }
        return out
    }

    static func auditCheck(_ core: GatewayCore, timeoutMs: Int) async -> DoctorCheck {
        guard let log = core.audit else { return DoctorCheck("audit", .ok, "no audit-logger in the policy chain; nothing to check") }
        return await auditCheck(directory: log.directory, timeoutMs: timeoutMs)
    }

    /// An audit directory can be appended to and its hash chain verifies (within the deadline).
    /// `verify` is the chain verification (replaceable so a test can hold it past the deadline).
    public static func auditCheck(directory dir: String, timeoutMs: Int, warnsOnLowSpace: Bool = true,
                                  verify: @escaping @Sendable (String) -> AuditLog.Verification = { AuditLog.verify(directory: $0, live: true) }) async -> DoctorCheck {
        // Not writable is reported, but the chain is still verified: both matter, and a
        // directory in trouble is when a chain is most likely to break.
        let notWritable: String? = access(dir, W_OK) == 0 ? nil : "audit directory \(dir) is not writable: \(String(cString: strerror(errno)))"
        func writableFailure(_ chain: String) -> DoctorCheck? {
            notWritable.map { DoctorCheck("audit", .fail, "\($0); \(chain)", hint: "fix the directory's owner and permissions; without it audit records cannot be written") }
        }
        var fs = statvfs()
        let freeBytes = statvfs(dir, &fs) == 0 ? Double(fs.f_bavail) * Double(fs.f_frsize) : .infinity
        // Verification reads every segment: on a thread of its own, raced against the deadline.
        // A large log keeps being verified on that thread; the answer does not wait for it. One
        // verification per directory at a time: doctor runs that arrive meanwhile do not start
        // more threads reading the same log (the pool of verifiers is bounded by directories).
        guard AuditVerifications.begin(dir) else {
            return DoctorCheck("audit", .warn, "directory writable; a verification of the hash chain is still running from an earlier check",
                               hint: "run 'kt audit verify' on the state dir to verify the whole log")
        }
        let verified: AuditLog.Verification? = await withCheckedContinuation { c in
            let pending = Mutex<CheckedContinuation<AuditLog.Verification?, Never>?>(c)
            let finish = { @Sendable (v: AuditLog.Verification?) in pending.withLock { $0.take() }?.resume(returning: v) }
            Thread {
                let v = verify(dir)
                AuditVerifications.end(dir)
                finish(v)
            }.start()
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(timeoutMs)) { finish(nil) }
        }
        guard let v = verified else {
            return DoctorCheck("audit", .warn, "directory writable; verifying the hash chain took longer than \(String(format: "%g", Double(timeoutMs) / 1000))s",
                               hint: "run 'kt audit verify' on the state dir to verify the whole log")
        }
        if let problem = v.problem {
            if v.records == 0, problem.hasPrefix("no audit segments") {
                return writableFailure("no records yet") ?? DoctorCheck("audit", .ok, "audit directory writable; no records yet")
            }
            return DoctorCheck("audit", .fail, "audit chain does not verify: \(problem)" + (notWritable.map { "; \($0)" } ?? ""),
                               hint: "keep a copy of \(dir) for investigation; run 'kt audit verify' on the state dir to see every problem")
        }
        if let f = writableFailure("\(v.records) records verified") { return f }
        if warnsOnLowSpace, freeBytes < 64 * 1024 * 1024 {
            return DoctorCheck("audit", .warn, "\(v.records) records verified, but only \(Int(freeBytes / 1_048_576)) MB free on the audit disk",
                               hint: "free disk space or lower audit retention before the disk fills")
        }
        return DoctorCheck("audit", .ok, "\(v.records) records in \(v.segments) segment\(v.segments == 1 ? "" : "s") verified; directory writable")
    }
}

/// Audit directories being verified right now (at most one verification each).
enum AuditVerifications {
    private static let running = Mutex<Set<String>>([])
    static func begin(_ dir: String) -> Bool { running.withLock { $0.insert(dir).inserted } }
    static func end(_ dir: String) { _ = running.withLock { $0.remove(dir) } }
}
