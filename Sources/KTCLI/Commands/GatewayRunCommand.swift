import Foundation
import KTModel
import KTConfig
import KTGateway
import KTHTTP

/// `kt gateway run`: validate everything, listen, serve until SIGTERM/SIGINT, drain, exit 0.
/// SIGHUP reloads the config files (like `POST /keeptrusts/config/reload`).
enum GatewayRunCommand {
    static let run: Command.Run = { args, ctx in
        var options = Gateway.Options()
        options.environment = ctx.environment
        let env = ctx.environment
        do throws(UsageError) {
            let listen = args.value("listen") ?? env["KEEPTRUSTS_LISTEN"] ?? "0.0.0.0:41002"
            (options.host, options.port) = try parseListen(listen, command: "kt gateway run")
            if let fm = args.value("fail-mode") {
                guard let mode = Gateway.FailMode(rawValue: fm) else { throw UsageError("--fail-mode must be block or allow, not '\(fm)'", command: "kt gateway run") }
                options.failMode = mode
            }
            if let mc = args.value("max-concurrency") {
                options.maxConcurrency = try UsageError.integer(mc, flag: "--max-concurrency", in: 1...1_000_000, command: "kt gateway run")
            }
            if let n = args.value("max-connections") {
                options.maxConnections = try UsageError.integer(n, flag: "--max-connections", in: 1...1_000_000, command: "kt gateway run")
            }
            if let n = args.value("max-connections-per-client") {
                options.maxConnectionsPerPeer = try UsageError.integer(n, flag: "--max-connections-per-client", in: 1...1_000_000, command: "kt gateway run")
            }
            if let t = args.value("policy-budget") {
                let budget = try DurationText.parse(t, flag: "--policy-budget")
                guard budget >= .milliseconds(10), budget <= .seconds(600) else {
                    throw UsageError("--policy-budget must be from 10ms to 10m (got '\(t.prefix(40))')", command: "kt gateway run")
                }
                options.policyBudget = budget
            }
            options.tls = try TLSFlags.server(args, env, command: "kt gateway run")
            if let t = args.value("header-timeout") { options.headerTimeout = try DurationText.parse(t, flag: "--header-timeout") }
            if let t = args.value("drain-timeout") { options.drainTimeout = try DurationText.parse(t, flag: "--drain-timeout") }
            if let level = args.value("log-level") {
                guard let l = JSONLogger.Level(name: level) else { throw UsageError("--log-level must be debug, info, warn or error", command: "kt gateway run") }
                options.logLevel = l
            }
        } catch {
            ctx.err("error: \(error.message)\nRun 'kt gateway run --help' for usage.")
            return 2
        }
        options.configPaths = args.all("policy-config").map { PolicyLintCommand.resolve($0, in: ctx) }
        if options.configPaths.isEmpty, let fromEnv = env["KEEPTRUSTS_POLICY_CONFIG"], !fromEnv.isEmpty {
            options.configPaths = fromEnv.split(separator: ",").map { PolicyLintCommand.resolve(String($0), in: ctx) }
        }
        if let upstream = args.value("upstream") ?? env["KEEPTRUSTS_UPSTREAM"] {
            if let problem = PolicyConfigDecoder.baseURLProblem(upstream) {
                ctx.err("error: --upstream '\(upstream)': \(problem)")
                return 2
            }
            options.upstreamOverride = UpstreamOverride(
                baseURL: upstream,
                apiKey: args.value("upstream-api-key") ?? env["KEEPTRUSTS_UPSTREAM_API_KEY"],
                apiKeyHeader: args.value("upstream-api-key-header") ?? env["KEEPTRUSTS_UPSTREAM_API_KEY_HEADER"],
                apiKeyPrefix: args.value("upstream-api-key-prefix") ?? env["KEEPTRUSTS_UPSTREAM_API_KEY_PREFIX"])
        }
        options.adminToken = args.value("admin-token") ?? env["KEEPTRUSTS_ADMIN_TOKEN"]
        options.stateDir = args.value("state-dir").map { PolicyLintCommand.resolve($0, in: ctx) }
        let managed = ManagedSetup.from(args, ctx)
        if case .failure(let problem) = managed { ctx.err("error: \(problem.message)\nRun 'kt gateway run --help' for usage."); return 2 }
        guard case .success(let setup) = managed else { return 2 }
        if let id = args.value("gateway-id") ?? env["KEEPTRUSTS_GATEWAY_ID"] ?? (setup != nil ? ManagedSetup.savedID(stateDir: options.stateDir) ?? ManagedSetup.defaultID() : nil) {
            options.gatewayID = id
        }
        if let q = env["KEEPTRUSTS_EVENT_QUEUE_SIZE"], let n = Int(q), n > 0 { options.eventQueueCapacity = n }
        // A managed gateway restarts from what the control plane last gave it, when that is newer than its files.
        var startedFromLKG: LastKnownGood?
        if setup != nil, let lkg = LastKnownGood.load(stateDir: options.resolvedStateDir),
           LastKnownGood.isNewer(stateDir: options.resolvedStateDir, than: options.configPaths) {
            options.configPaths = [LastKnownGood.contentPath(options.resolvedStateDir)]
            startedFromLKG = lkg
        }

        let gateway: Gateway
        do {
            gateway = try Gateway(options: options)
        } catch let error as ConfigError {
            var report = LintReport(file: options.configPaths.joined(separator: " + "), loaded: nil, errors: error.errors, warnings: [])
            report.file = args.all("policy-config").joined(separator: " + ")
            ctx.err("error: the policy config is invalid; the gateway did not start")
            ctx.stderr.write(report.human(style: TerminalStyle(color: false)))
            return 2
        } catch let error as KTError {
            ctx.err("error: \(error.message)")
            return error.code == .io ? 1 : 2
        } catch {
            ctx.err("error: \(error)")
            return 1
        }
        // Managed: record traffic and events from the first request, not from when the agent's
        // task first runs (requests answered in between were lost to the control plane).
        if setup != nil { gateway.core.telemetry.enable() }
        SignalWaiter.survivesClosedPipes()
        let port: Int
        do {
            port = try await gateway.start()
        } catch {
            ctx.err("error: \(error)")
            return 1
        }
        var agentTask: Task<Void, Never>?
        if let setup {
            if let lkg = startedFromLKG {
                await gateway.adoptManaged(version: lkg.version, source: lkg.source)
                gateway.core.logger.info("started from the last-known-good config", [("version", .string(lkg.version)), ("sha", .string(String(lkg.sha.prefix(12))))])
            }
            let address = "\(options.host == "0.0.0.0" ? "127.0.0.1" : options.host):\(port)"
            let identity = ManagedAgent.Identity(id: options.gatewayID, name: args.value("name") ?? options.gatewayID,
                                                 region: args.value("region") ?? env["KEEPTRUSTS_REGION"] ?? "", labels: setup.labels, address: address)
            do throws(KTError) {
                try ManagedSetup.saveIdentity(identity, stateDir: options.resolvedStateDir, controlPlane: setup.client.baseURL)
            } catch {
                // The gateway still serves; only its id is not remembered for the next start.
                gateway.core.logger.warn("cannot save the gateway identity; pass --gateway-id (or KEEPTRUSTS_GATEWAY_ID) to keep the id across restarts",
                                         [("error", .string(error.message))])
            }
            let agent = ManagedAgent(gateway: gateway, client: setup.client, identity: identity, heartbeatInterval: setup.heartbeat)
            agentTask = Task { await agent.run() }
        }
        await SignalWaiter.wait(onReload: { Task { _ = await gateway.reload() } })
        agentTask?.cancel()
        await gateway.shutdown()
        await agentTask?.value
        return 0
    }

    static func parseListen(_ text: String, command: String) throws(UsageError) -> (String, Int) {
        // host:port, [v6]:port, or :port
        var host = "0.0.0.0", portText = text
        if text.hasPrefix("[") , let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            portText = String(text[text.index(after: close)...].dropFirst())
        } else if let colon = text.lastIndex(of: ":") {
            let h = String(text[..<colon])
            if !h.isEmpty { host = h == "localhost" ? "127.0.0.1" : h }
            portText = String(text[text.index(after: colon)...])
        }
        guard let port = try? BoundedField.integer(text: portText, "port", in: 0...65535) else {
            throw UsageError("--listen '\(text)' is not HOST:PORT (e.g. 0.0.0.0:41002)", command: command)
        }
        return (host, port)
    }
}

/// Managed mode settings: on when `KEEPTRUSTS_API_URL` and a token are set.
struct ManagedSetup {
    var client: ControlPlaneClient
    var heartbeat: Duration
    var labels: [(String, String)]

    /// nil: standalone. A failure is a usage error.
    static func from(_ args: ParsedArguments, _ ctx: CLIContext) -> Result<ManagedSetup?, UsageError> {
        let env = ctx.environment
        guard let url = env["KEEPTRUSTS_API_URL"], !url.isEmpty else {
            if args.value("heartbeat-interval") != nil || !args.all("label").isEmpty || args.value("region") != nil {
                return .failure(UsageError("--heartbeat-interval, --label and --region need managed mode: set KEEPTRUSTS_API_URL and KEEPTRUSTS_API_TOKEN", command: "kt gateway run"))
            }
            return .success(nil)
        }
        guard let token = env["KEEPTRUSTS_API_TOKEN"] ?? env["KEEPTRUSTS_GATEWAY_TOKEN"], !token.isEmpty else {
            return .failure(UsageError("KEEPTRUSTS_API_URL is set but KEEPTRUSTS_API_TOKEN is not; a managed gateway needs its gateway token", command: "kt gateway run"))
        }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else { return .failure(UsageError("KEEPTRUSTS_API_URL '\(url)' must start with http:// or https://", command: "kt gateway run")) }
        var heartbeat: Duration = .seconds(10)
        if let h = args.value("heartbeat-interval") {
            do { heartbeat = try DurationText.parse(h, flag: "--heartbeat-interval") } catch { return .failure(error) }
            guard heartbeat >= .milliseconds(100) else { return .failure(UsageError("--heartbeat-interval must be at least 100ms", command: "kt gateway run")) }
        }
        var labels: [(String, String)] = []
        for l in args.all("label") {
            let kv = l.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, !kv[0].isEmpty else { return .failure(UsageError("--label '\(l)' must be KEY=VALUE", command: "kt gateway run")) }
            labels.append((String(kv[0]), String(kv[1])))
        }
        return .success(ManagedSetup(client: ControlPlaneClient(baseURL: url, token: token, tls: TLSClientOptions.fromEnvironment(env, clientCertificate: true)), heartbeat: heartbeat, labels: labels))
    }

    static func identityPath(_ stateDir: String) -> String { (stateDir as NSString).appendingPathComponent("identity.json") }

    static func savedID(stateDir: String?) -> String? {
        guard let dir = stateDir, let data = FileManager.default.contents(atPath: identityPath(dir)) else { return nil }
        return (try? JSONValue.parse(Array(data)))?["id"]?.stringValue
    }

    static func defaultID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "gateway"
        return "gw-" + host.lowercased().filter { $0.isLetter || $0.isNumber || $0 == "-" }
    }

    /// Atomically and durably: a torn identity would register the gateway under a new id.
    static func saveIdentity(_ i: ManagedAgent.Identity, stateDir: String, controlPlane: String) throws(KTError) {
        let j: JSONValue = .object([("id", .string(i.id)), ("name", .string(i.name)), ("region", .string(i.region)),
                                    ("labels", .object(i.labels.map { ($0.0, .string($0.1)) })), ("control_plane", .string(controlPlane))])
        try AtomicFile.write(Array(j.serialized(pretty: true).utf8), to: identityPath(stateDir))
    }
}

/// Waits for SIGTERM or SIGINT; calls `onReload` on SIGHUP.
enum SignalWaiter {
    /// Servers outlive whoever reads their output: a closed log pipe makes writes fail (they are
    /// dropped) instead of killing a gateway or control plane with SIGPIPE. CLI commands keep
    /// the default, so `kt gateway list | head` ends quietly.
    static func survivesClosedPipes() { signal(SIGPIPE, SIG_IGN) }

    /// Runs `handler` (on a signal queue) on SIGINT or SIGTERM instead of dying.
    static func onInterrupt(_ handler: @escaping @Sendable () -> Void) {
        var sources: [DispatchSourceSignal] = []
        for s in [SIGINT, SIGTERM] {
            signal(s, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: s, queue: DispatchQueue(label: "kt-interrupt"))
            source.setEventHandler(handler: handler)
            source.resume()
            sources.append(source)
        }
        SignalSources.keep(sources)
    }

    static func wait(onReload: @escaping @Sendable () -> Void) async {
        for s in [SIGTERM, SIGINT, SIGHUP] { signal(s, SIG_IGN) }
        let queue = DispatchQueue(label: "kt-signals")
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let once = OnceFlag()
            var sources: [DispatchSourceSignal] = []
            for s in [SIGTERM, SIGINT] {
                let source = DispatchSource.makeSignalSource(signal: s, queue: queue)
                source.setEventHandler { if once.claim() { c.resume() } }
                source.resume()
                sources.append(source)
            }
            let hup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
            hup.setEventHandler(handler: onReload)
            hup.resume()
            sources.append(hup)
            SignalSources.keep(sources)
        }
    }
}

import Synchronization

final class OnceFlag: Sendable {
    private let done = Atomic<Bool>(false)
    func claim() -> Bool { !done.exchange(true, ordering: .acquiringAndReleasing) }
}

/// Signal sources must stay alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) private static var all: [DispatchSourceSignal] = []
    static func keep(_ s: [DispatchSourceSignal]) { all += s }
}
