import Foundation
import KTModel
import KTConfig
import KTHTTP
import KTPolicy

/// A running gateway: owns its listener, its config (loaded, validated, swapped atomically on
/// reload) and its lifecycle. Requests are served by `GatewayCore` straight from the loop's
/// tasks; the actor serialises the things that must not interleave (start, reload, shutdown).
public actor Gateway {
    public struct Options: Sendable {
        public var host = "0.0.0.0"
        public var port = 41002
        public var configPaths: [String] = []
        public var failMode = FailMode.block
        public var maxConcurrency = 1024
        /// Open client connections; nil: 4 × maxConcurrency (at least 256), fitted under the
        /// descriptor limit. Given explicitly it is kept even above that limit (with a warning).
        public var maxConnections: Int?
        public var maxConnectionsPerPeer = 0
        /// Time one phase of the policy chain may take; past it the policy that runs out fails
        /// and fail_mode decides (block: 409 policy.error; allow: forwarded).
        public var policyBudget: Duration = .seconds(2)
        public var upstreamOverride: UpstreamOverride?
        public var adminToken: String?
        /// HTTPS: certificate and key files (reloaded with the config on SIGHUP / reload).
        public var tls: TLSServerContext.Files?
        public var logLevel = JSONLogger.Level.info
        public var drainTimeout: Duration = .seconds(30)
        public var headerTimeout: Duration = .seconds(10)
        /// Identity in events and the audit log; managed gateways get theirs from the control plane.
        public var gatewayID = "local"
        /// Audit log and (later) identity and last-known-good config. Default $KEEPTRUSTS_HOME/gateway/<gateway-id>.
        public var stateDir: String?
        /// Managed mode: decision events held for upload while the control plane is away.
        public var eventQueueCapacity = 10_000

        /// `--state-dir`, or `$KEEPTRUSTS_HOME/gateway/<gateway-id>`.
        public var resolvedStateDir: String {
            if let d = stateDir { return d }
            let home = environment["KEEPTRUSTS_HOME"].flatMap { $0.isEmpty ? nil : $0 }
                ?? ((environment["HOME"] ?? NSHomeDirectory()) as NSString).appendingPathComponent(".keeptrusts")
            return ((home as NSString).appendingPathComponent("gateway") as NSString).appendingPathComponent(gatewayID)
        }
        public var environment: [String: String] = ProcessInfo.processInfo.environment
        public init() {}
    }

    public enum FailMode: String, Sendable { case block, allow }

    public struct ReloadOutcome: Sendable {
        public var applied: Bool
        public var sha: String
        public var version: String
        public var message: String
        public var errors: [ConfigDiagnostic]
    }

    public let options: Options
    public nonisolated let core: GatewayCore
    private var server: HTTPServer?
    private let loader = ConfigLoader()
    /// The files a reload re-reads: the `--policy-config` files, or the last-known-good config
    /// once the control plane has delivered one.
    private var configPaths: [String]
    /// The control plane's name for the running config (nil while it comes from local files).
    /// The certificate in use (HTTPS); a reload that cannot load the files keeps it.
    private let initialTLS: TLSServerContext?
    private var managedVersion: String?
    private var managedSource: String?

    /// Validates everything first: a bad config or a missing secret fails here, before listening.
    public init(options: Options, httpTransport: (any UpstreamTransport)? = nil) throws {
        self.options = options
        self.configPaths = options.configPaths
        let transport = httpTransport ?? CurlTransport.shared
        let snapshot = try Self.loadSnapshot(options: options, paths: options.configPaths, loader: loader, transport: transport)
        self.core = GatewayCore(options: options, snapshot: snapshot, transport: transport)
        do throws(TLSError) {
            if let files = options.tls { initialTLS = try TLSServerContext(files) } else { initialTLS = nil }
        } catch {
            throw KTError(.invalidUsage, "TLS: \(error.message); check --tls-cert and --tls-key (KEEPTRUSTS_TLS_CERT / KEEPTRUSTS_TLS_KEY)")
        }
        try core.ensureAudit(for: snapshot)
    }

    /// Re-reads the certificate and key; a pair that does not load never replaces the running
    /// one. Open connections keep the certificate they began with. Returns the problem, if any.
    @discardableResult
    public func reloadCertificate() -> String? {
        guard let files = options.tls, let server else { return nil }
        do throws(TLSError) {
            server.replaceTLS(try TLSServerContext(files))
            core.logger.info("TLS certificate reloaded", [("certificate", .string(files.certificate))])
            return nil
        } catch {
            core.logger.warn("TLS certificate reload failed; keeping the running certificate", [("error", .string(error.message))])
            return error.message
        }
    }

    static func loadSnapshot(options: Options, paths: [String], loader: ConfigLoader, transport: any UpstreamTransport,
                             text: (String, String)? = nil) throws -> GatewaySnapshot {
        let loaded: LoadedConfig
        if let (content, name) = text {
            loaded = try loader.load(text: content, name: name)
        } else if paths.isEmpty {
            guard let o = options.upstreamOverride else {
                throw KTError(.invalidUsage, "no config: pass --policy-config FILE (or --upstream URL for a bare passthrough)")
            }
            // A bare passthrough to the override upstream: any model, empty chain.
            loaded = try loader.load(text: """
                pack: { name: upstream-passthrough, version: 0.0.0 }
                providers: { targets: [ { id: upstream, provider: openai-compatible, model: "*", base_url: "\(o.baseURL)" } ] }
                policies: { chain: [] }
                """, name: "--upstream")
        } else {
            loaded = try loader.load(paths: paths)
        }
        return try GatewaySnapshot.build(loaded, override: options.upstreamOverride,
                                         secrets: SecretResolver(environment: options.environment), httpTransport: transport,
                                         failMode: options.failMode == .block ? .block : .allow)
    }

    /// Binds and serves. Returns the bound port.
    @discardableResult
    public func start() async throws -> Int {
        precondition(server == nil, "Gateway.start() called twice")
        let snapshot = core.currentSnapshot
        var config = HTTPServer.Configuration(host: options.host, port: options.port,
                                              maxConnections: options.maxConnections ?? max(options.maxConcurrency * 4, 256),
                                              headerTimeout: options.headerTimeout, maxBodyBytes: snapshot.config.sizeLimits.maxBodyBytes)
        config.maxConnectionsPerPeer = options.maxConnectionsPerPeer
        config.fitToDescriptorLimit = options.maxConnections == nil
        let core = self.core
        let logger = core.logger
        config.warn = { message in logger.warn(message, []) }
        config.tls = initialTLS
        let server = try HTTPServer(configuration: config, errorResponder: { status, message in
            let type = status == 413 ? "invalid_request_error" : (status >= 500 ? "api_error" : "invalid_request_error")
            let code: String
            switch status {
            case 413: code = "request_too_large"
            case 431: code = "headers_too_large"
            case 408: code = "request_timeout"
            case 503: code = "overloaded"
            default: code = "bad_request"
            }
            return ("application/json", OpenAIError(status: status, type: type, message: message, code: code).body)
        }) { request, writer in
            await core.handle(request, writer)
        }
        core.reloadAction = { [weak self] in
            guard let self else { return ReloadOutcome(applied: false, sha: "", version: "", message: "gateway is stopping", errors: []) }
            return await self.reload()
        }
        let port = try await server.start()
        self.server = server
        core.attach(server)
        // Always printed, whatever the log level: supervisors and scripts wait for this line.
        core.logger.log(.info, "gateway listening", [("address", .string("\(options.host):\(port)")), ("scheme", .string(initialTLS == nil ? "http" : "https")),
                                                ("version", .string(KTVersion.current)),
                                                ("config_version", .string(snapshot.config.pack.version)), ("sha", .string(snapshot.loaded.sha)),
                                                ("chain", .array(snapshot.config.chain.map { .string($0.rawValue) }))], always: true)
        if options.adminToken == nil {
            core.logger.info("no admin token: /keeptrusts/* (config, events, reload) answers loopback callers only; set --admin-token or KEEPTRUSTS_ADMIN_TOKEN to require a token instead", [])
        }
        return port
    }

    /// Re-reads the config files. An invalid config never replaces the running one.
    public func reload() async -> ReloadOutcome {
        var outcome = await reloadConfig()
        if let problem = reloadCertificate() { outcome.message += "; the TLS certificate was not reloaded: \(problem)" }
        return outcome
    }

    private func reloadConfig() async -> ReloadOutcome {
        let current = core.currentSnapshot
        do {
            let next = try Self.loadSnapshot(options: options, paths: configPaths, loader: loader, transport: core.transport)
            try core.ensureAudit(for: next)
            core.swap(next)
            server?.setMaxBodyBytes(next.config.sizeLimits.maxBodyBytes)
            core.metrics.recordReload(ok: true)
            let changed = next.loaded.fullSHA != current.loaded.fullSHA
            core.logger.info("config reloaded", [("sha", .string(next.loaded.sha)), ("changed", .bool(changed))])
            return ReloadOutcome(applied: true, sha: next.loaded.sha, version: next.config.pack.version,
                                 message: changed ? "config applied" : "config unchanged", errors: [])
        } catch let error as ConfigError {
            core.metrics.recordReload(ok: false)
            core.logger.warn("config reload rejected; keeping the running config", [("errors", .array(error.errors.map { .string($0.description) }))])
            return ReloadOutcome(applied: false, sha: current.loaded.sha, version: current.config.pack.version,
                                 message: "invalid config; still running \(current.loaded.sha)", errors: error.errors)
        } catch {
            core.metrics.recordReload(ok: false)
            let message = (error as? KTError)?.message ?? "\(error)"
            core.logger.warn("config reload rejected; keeping the running config", [("error", .string(message))])
            return ReloadOutcome(applied: false, sha: current.loaded.sha, version: current.config.pack.version,
                                 message: "\(message); still running \(current.loaded.sha)", errors: [])
        }
    }

    /// The running config as the control plane names it: (version, full sha, source).
    public var runningConfig: (version: String, sha: String, source: String?) {
        let s = core.currentSnapshot
        return (managedVersion ?? s.config.pack.version, s.loaded.fullSHA, managedSource)
    }

    /// Marks the running config as a control-plane version (started from last-known-good).
    public func adoptManaged(version: String, source: String?) {
        managedVersion = version
        managedSource = source
    }

    /// Applies a config delivered by the control plane: validate, swap atomically (in-flight
    /// requests finish on the old chain), persist as last-known-good. On any error the running
    /// config stays as it was and the error says why.
    public func applyManaged(content: String, version: String, sha: String, source: String?) async -> Result<String, KTError> {
        let current = core.currentSnapshot
        do {
            let next = try Self.loadSnapshot(options: options, paths: [], loader: loader, transport: core.transport, text: (content, version))
            try core.ensureAudit(for: next)
            let stateDir = options.resolvedStateDir
            let lkg = LastKnownGood(version: version, sha: next.loaded.fullSHA, source: source, appliedAt: Date().timeIntervalSince1970)
            try lkg.save(content: content, stateDir: stateDir)
            core.swap(next)
            server?.setMaxBodyBytes(next.config.sizeLimits.maxBodyBytes)
            configPaths = [LastKnownGood.contentPath(stateDir)]
            managedVersion = version
            managedSource = source
            core.metrics.recordReload(ok: true)
            core.logger.info("managed config applied", [("version", .string(version)), ("sha", .string(next.loaded.sha)),
                                                         ("previous_sha", .string(current.loaded.sha))])
            return .success(next.loaded.fullSHA)
        } catch let error as ConfigError {
            core.metrics.recordReload(ok: false)
            let text = error.errors.map(\.description).joined(separator: "; ")
            core.logger.warn("managed config rejected; keeping the running config", [("version", .string(version)), ("errors", .string(text))])
            return .failure(KTError(.invalidConfig, "invalid config: \(text)"))
        } catch {
            core.metrics.recordReload(ok: false)
            let message = (error as? KTError)?.message ?? "\(error)"
            core.logger.warn("managed config rejected; keeping the running config", [("version", .string(version)), ("error", .string(message))])
            return .failure(KTError(.invalidConfig, message))
        }
    }

    /// Stops accepting, lets in-flight requests finish (bounded by `drainTimeout`), then stops.
    public func shutdown() async {
        guard let server else { return }
        self.server = nil
        core.logger.info("shutting down; draining in-flight requests", [("in_flight", .int(core.metrics.inFlightCount))])
        await server.shutdown(gracePeriod: options.drainTimeout)
        core.closeAudit()
        core.logger.info("stopped")
    }
}
