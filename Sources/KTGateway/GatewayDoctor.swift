import Foundation
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
        var checks: [DoctorCheck] = []
        if wants("audit") { checks.append(await auditCheck(core)) }
        if wants("upstream") {
            let probed = await UpstreamProbe.checkAll(snapshot.targets, timeoutMs: timeoutMs)
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
        return scrubber.scrub(answer).setting("unix_ms", .int(Int((Date().timeIntervalSince1970 * 1000).rounded())))
    }

    /// Every secret value this gateway resolved: provider keys, the debug override key, its admin token.
    static func secrets(_ core: GatewayCore) -> [String] {
        var out = core.currentSnapshot.targets.compactMap(\.apiKey)
        if let k = core.options.upstreamOverride?.apiKey { out.append(k) }
        if let t = core.options.adminToken { out.append(t) }
        if let t = core.options.environment["KEEPTRUSTS_API_TOKEN"] { out.append(t) }
        return out
    }

    /// The audit log can be appended to and its hash chain verifies.
    static func auditCheck(_ core: GatewayCore) async -> DoctorCheck {
        guard let log = core.audit else { return DoctorCheck("audit", .ok, "no audit-logger in the policy chain; nothing to check") }
        let dir = log.directory
        guard access(dir, W_OK) == 0 else {
            return DoctorCheck("audit", .fail, "audit directory \(dir) is not writable: \(String(cString: strerror(errno)))",
                               hint: "fix the directory's owner and permissions; without it audit records cannot be written")
        }
        var fs = statvfs()
        let freeBytes = statvfs(dir, &fs) == 0 ? Double(fs.f_bavail) * Double(fs.f_frsize) : .infinity
        // Verification reads every segment: off the cooperative pool.
        let v = await withCheckedContinuation { (c: CheckedContinuation<AuditLog.Verification, Never>) in
            DispatchQueue.global().async { c.resume(returning: AuditLog.verify(directory: dir, live: true)) }
        }
        if let problem = v.problem {
            if v.records == 0, problem.hasPrefix("no audit segments") {
                return DoctorCheck("audit", .ok, "audit directory writable; no records yet")
            }
            return DoctorCheck("audit", .fail, "audit chain does not verify: \(problem)",
                               hint: "keep a copy of \(dir) for investigation; run 'kt audit verify' on the state dir to see every problem")
        }
        if freeBytes < 64 * 1024 * 1024 {
            return DoctorCheck("audit", .warn, "\(v.records) records verified, but only \(Int(freeBytes / 1_048_576)) MB free on the audit disk",
                               hint: "free disk space or lower audit retention before the disk fills")
        }
        return DoctorCheck("audit", .ok, "\(v.records) records in \(v.segments) segment\(v.segments == 1 ? "" : "s") verified; directory writable")
    }
}
