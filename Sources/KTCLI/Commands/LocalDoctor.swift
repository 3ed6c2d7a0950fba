import Foundation
import KTHTTP
import KTModel
import KTConfig
import KTGateway
import KTControlPlane

/// `kt doctor` without a control plane: is this machine ready to run (or running) a gateway?
/// The config (valid, secrets resolvable), the state dir (writable, audit chain intact), the
/// local gateway (alive, running this config) and each provider target (reachable, with latency).
enum LocalDoctor {
    static func run(_ args: ParsedArguments, _ ctx: CLIContext, checks: [String], timeout: Double) async -> JSONValue {
        let env = ctx.environment
        var paths = args.all("policy-config").map { PolicyLintCommand.resolve($0, in: ctx) }
        if paths.isEmpty, let fromEnv = env["KEEPTRUSTS_POLICY_CONFIG"], !fromEnv.isEmpty {
            paths = fromEnv.split(separator: ",").map { PolicyLintCommand.resolve(String($0), in: ctx) }
        }
        if paths.isEmpty {
            let fallback = PolicyLintCommand.resolve("policy-config.yaml", in: ctx)
            if FileManager.default.fileExists(atPath: fallback) { paths = [fallback] }
        }
        var options = Gateway.Options()
        options.environment = env
        options.gatewayID = env["KEEPTRUSTS_GATEWAY_ID"] ?? "local"
        options.stateDir = args.value("state-dir").map { PolicyLintCommand.resolve($0, in: ctx) }
        let stateDir = options.resolvedStateDir
        let url = args.value("url") ?? defaultURL(env)
        let started = Date().timeIntervalSince1970

        // The config and, from it, the compiled targets the upstream check probes.
        var results: [DoctorCheck] = []
        var loaded: LoadedConfig?
        var configCheck: DoctorCheck
        var targets: [(ProviderTarget, Result<CompiledTarget, KTError>)] = []
        let names = paths.map { ($0 as NSString).lastPathComponent }.joined(separator: " + ")
        if paths.isEmpty {
            configCheck = DoctorCheck("config", .fail, "no config given and no policy-config.yaml here",
                                      hint: "pass --policy-config FILE (the file 'kt gateway run' uses), or start one with 'kt init'")
        } else {
            do {
                let l = try ConfigLoader().load(paths: paths)
                loaded = l
                let c = l.config
                func plural(_ n: Int, _ w: String) -> String { "\(n) \(w)\(n == 1 ? "" : "s")" }
                configCheck = DoctorCheck("config", .ok, "\(names) valid: pack \(c.pack.name) \(c.pack.version), \(plural(c.chain.count, "policy").replacingOccurrences(of: "policys", with: "policies")), \(plural(c.providers.targets.count, "target")) (sha \(l.sha))")
                if let w = l.warnings.first {
                    configCheck = DoctorCheck("config", .warn, "\(names) valid with \(plural(l.warnings.count, "warning")): \(w.description)",
                                              hint: "run 'kt policy lint --file \(paths[0])' to see them all")
                }
                let secrets = SecretResolver(environment: env)
                targets = c.providers.targets.map { ($0, GatewaySnapshot.compile($0, secrets: secrets, httpTransport: CurlTransport.shared)) }
                let problems = targets.compactMap { t -> String? in if case .failure(let e) = t.1 { return e.message }; return nil }
                if let first = problems.first {
                    configCheck = DoctorCheck("config", .fail, "\(names) is valid but the gateway would not start: \(first)\(problems.count > 1 ? " (and \(problems.count - 1) more)" : "")",
                                              hint: "export the variable or fix the file each secret_key_ref names; the upstream checks list every target")
                }
            } catch let e as ConfigError {
                let first = e.errors.first.map(\.description) ?? "invalid"
                configCheck = DoctorCheck("config", .fail, "\(names) is invalid: \(first)\(e.errors.count > 1 ? " (and \(e.errors.count - 1) more)" : "")",
                                          hint: "run 'kt policy lint --file \(paths[0])' for every problem with its line and a suggestion")
            } catch {
                configCheck = DoctorCheck("config", .fail, "cannot read \(names): \((error as? KTError)?.message ?? "\(error)")",
                                          hint: "check the path and its permissions")
            }
        }
        if checks.contains("config") { results.append(configCheck) }
        if checks.contains("state") { results += await stateChecks(stateDir, timeout: timeout) }
        if checks.contains("gateway") { results.append(await gatewayCheck(url, fileSHA: loaded?.sha, timeout: timeout)) }
        if checks.contains("upstream") {
            if loaded == nil {
                results.append(DoctorCheck("upstream", .skip, "not run: the config did not load"))
            } else if targets.isEmpty {
                results.append(DoctorCheck("upstream", .warn, "the config has no provider targets", hint: "add providers.targets"))
            } else {
                let ready = targets.compactMap { t -> CompiledTarget? in if case .success(let c) = t.1 { return c }; return nil }
                var probed = await UpstreamProbe.checkAll(ready, timeoutMs: Int(timeout * 1000)).makeIterator()
                for (target, compiled) in targets {
                    switch compiled {
                    case .success: results.append(probed.next()!)
                    case .failure(let e):
                        results.append(DoctorCheck("upstream", .fail, "not probed: \(e.message)",
                                                   hint: "fix the secret_key_ref or the provider of this target", target: target.id))
                    }
                }
            }
        }
        let worst = DoctorCheck.worst(results)
        func count(_ s: DoctorCheck.Status) -> JSONValue { .int(results.filter { $0.status == s }.count) }
        return .object([
            ("mode", "local"),
            ("generated_at", .string(Timestamps.iso(started))),
            ("checks", .array(checks.map { .string($0) })),
            ("config_files", .array(paths.map { .string($0) })), ("state_dir", .string(stateDir)), ("gateway_url", .string(url)),
            ("gateways", .array([.object([("id", "local"), ("name", "local"), ("region", ""), ("registered", false),
                                          ("status", .string(worst.rawValue)), ("checks", .array(results.map(\.json)))])])),
            ("summary", .object([("checks_ok", count(.ok)), ("checks_warn", count(.warn)), ("checks_fail", count(.fail)), ("checks_skip", count(.skip))])),
            ("ok", .bool(worst != .fail)),
        ])
    }

    static func defaultURL(_ env: [String: String]) -> String {
        guard let listen = env["KEEPTRUSTS_LISTEN"], let colon = listen.lastIndex(of: ":") else { return "http://127.0.0.1:41002" }
        var host = String(listen[..<colon])
        if host.isEmpty || host == "0.0.0.0" || host == "::" || host == "[::]" { host = "127.0.0.1" }
        return "http://\(host):\(listen[listen.index(after: colon)...])"
    }

    /// The state dir can hold identity, last-known-good and the audit log; an existing audit chain verifies.
    /// The state dir (writable), its audit chain (always verified when there is one: a full
    /// or nearly full disk is exactly when chains break) and, as its own warning, low space.
    static func stateChecks(_ dir: String, timeout: Double) async -> [DoctorCheck] {
        let writable = await withCheckedContinuation { c in
            DispatchQueue.global().async { c.resume(returning: stateCheckBlocking(dir)) }
        }
        var out: [DoctorCheck] = []
        let auditDir = (dir as NSString).appendingPathComponent("audit")
        if FileManager.default.fileExists(atPath: auditDir) {
            // The same verification a managed gateway runs when the fleet doctor asks it.
            let audit = await GatewayDoctor.auditCheck(directory: auditDir, timeoutMs: Int(timeout * 1000), warnsOnLowSpace: false)
            if audit.status == .fail || writable.status == .ok && audit.status != .ok {
                out.append(DoctorCheck("state", audit.status == .fail ? .fail : audit.status,
                                       "\(writable.message)\(writable.status == .ok ? "," : ";") but the audit log: \(audit.message)", hint: audit.hint ?? writable.hint))
            } else {
                out.append(DoctorCheck("state", writable.status, "\(writable.message); audit log: \(audit.message)", hint: writable.hint))
            }
        } else {
            out.append(writable)
        }
        if let space = diskSpaceCheck(dir) { out.append(space) }
        return out
    }

    /// A warning of its own when the state dir's disk is nearly full (nil when there is room).
    static func diskSpaceCheck(_ dir: String) -> DoctorCheck? {
        var path = dir
        while !path.isEmpty, path != "/", !FileManager.default.fileExists(atPath: path) { path = (path as NSString).deletingLastPathComponent }
        var fs = statvfs()
        guard statvfs(path.isEmpty ? "/" : path, &fs) == 0 else { return nil }
        let free = Double(fs.f_bavail) * Double(fs.f_frsize)
        guard free < Self.lowSpaceBytes else { return nil }
        return DoctorCheck("disk", .warn, String(format: "only %.1f MB free on the disk of %@", free / 1_048_576, dir),
                           hint: "free disk space or lower audit retention: with strict audit a full disk refuses requests (503), with batched it loses records")
    }

    static let lowSpaceBytes = 64.0 * 1024 * 1024

    static func stateCheckBlocking(_ dir: String) -> DoctorCheck {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if !fm.fileExists(atPath: dir, isDirectory: &isDir) {
            // It is created on first start: the nearest existing parent must be writable.
            var parent = (dir as NSString).deletingLastPathComponent
            while !parent.isEmpty && parent != "/" && !fm.fileExists(atPath: parent) { parent = (parent as NSString).deletingLastPathComponent }
            if access(parent.isEmpty ? "/" : parent, W_OK) == 0 { return DoctorCheck("state", .ok, "\(dir) does not exist yet; it will be created (\(parent) is writable)") }
            return DoctorCheck("state", .fail, "\(dir) does not exist and \(parent) is not writable",
                               hint: "create it for the gateway's user, or pass --state-dir to 'kt gateway run' and here")
        }
        guard isDir.boolValue else {
            return DoctorCheck("state", .fail, "\(dir) is a file, not a directory", hint: "move it away or choose another --state-dir")
        }
        let probe = (dir as NSString).appendingPathComponent(".kt-doctor-\(getpid())")
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            return DoctorCheck("state", .fail, "\(dir) is not writable: \(String(cString: strerror(errno)))",
                               hint: "fix its owner and permissions; the gateway keeps its identity, last-known-good config and audit log there")
        }
        let wrote = write(fd, "ok", 2) == 2 && fsync(fd) == 0
        close(fd)
        unlink(probe)
        guard wrote else { return DoctorCheck("state", .fail, "\(dir): cannot write and sync a file (disk full?)", hint: "free disk space") }
        var fs = statvfs()
        let free = statvfs(dir, &fs) == 0 ? Double(fs.f_bavail) * Double(fs.f_frsize) : .infinity
        var text = "\(dir) writable"
        if free.isFinite { text += String(format: " (%.1f GB free)", free / 1e9) }
        return DoctorCheck("state", .ok, text)
    }

    /// The local gateway answers `/health`, and runs the config the file holds.
    static func gatewayCheck(_ base: String, fileSHA: String?, timeout: Double) async -> DoctorCheck {
        var b = base
        while b.hasSuffix("/") { b.removeLast() }
        var request = UpstreamRequest(url: b + "/health", method: "GET", headers: [("accept", "application/json")], body: [],
                                      timeoutMs: Int(min(timeout, 5) * 1000), stream: false)
        request.tls = TLSClientOptions.fromEnvironment(ProcessInfo.processInfo.environment, clientCertificate: false)
        let started = ContinuousClock.now
        do {
            let response = try await CurlTransport.shared.send(request)
            let body = (try? await response.collect(limit: 1 << 20)) ?? []
            let ms = (ContinuousClock.now - started).secondsDouble * 1000
            guard response.status == 200, let h = try? JSONValue.parse(body), let status = h["status"]?.stringValue else {
                return DoctorCheck("gateway", .fail, "\(b) answered HTTP \(response.status), not a kt gateway's /health",
                                   hint: "point --url at the gateway's listen address", latencyMs: ms)
            }
            let sha = h["config"]?["sha"]?.stringValue ?? "?"
            let text = "alive at \(b): \(status), kt \(h["version"]?.stringValue ?? "?"), config \(h["config"]?["version"]?.stringValue ?? "?") (sha \(sha)), up \(h["uptime_seconds"]?.intValue ?? 0)s"
            if let fileSHA, !ConfigSHA.matches(fileSHA, sha) {
                return DoctorCheck("gateway", .warn, text + "; the config file is now sha \(fileSHA)",
                                   hint: "reload it: kill -HUP the gateway, or POST /keeptrusts/config/reload from this host", latencyMs: ms)
            }
            if status != "healthy" {
                return DoctorCheck("gateway", .warn, text, hint: "some provider targets' circuits are open; see the upstream checks and GET \(b)/health", latencyMs: ms)
            }
            return DoctorCheck("gateway", .ok, text, latencyMs: ms)
        } catch {
            return DoctorCheck("gateway", .fail, "no gateway answering at \(b): \(error.message)",
                               hint: "start it with 'kt gateway run --policy-config FILE', or pass --url with its address")
        }
    }
}
