import Foundation
import Synchronization
import KTModel
import KTConfig
import KTHTTP

/// The fleet's source of truth (PRODUCT.md §5): the REST API under /v1 on our HTTP server,
/// the gateway registry, tokens, config versions, events and rollouts, in SQLite.
public final class ControlPlane: Sendable {
    public struct Options: Sendable {
        public var host = "127.0.0.1"
        public var port = 41000
        public var dataDir: String
        /// Default window of health figures.
        public var healthWindowSeconds: Double = 300
        /// Events kept in the store (oldest pruned first).
        public var eventRetention = 1_000_000
        /// Bytes of events kept in the store (oldest pruned first, as they arrive): the count
        /// alone let a gateway token fill the disk with 64 KB events.
        public var eventRetentionBytes = 2 << 30
        public var logLevel = JSONLogger.Level.info
        public var heartbeatFlushInterval: Duration = .seconds(1)
        /// `/metrics` without a token (for scrapers that cannot send one).
        public var metricsOpen = false
        /// HTTPS (with `clientCA`: mutual TLS); SIGHUP reloads the files.
        public var tls: TLSServerContext.Files?
        /// A gateway token needs a client certificate naming its gateway id (SAN or CN).
        public var tlsBindIdentity = false
        public init(dataDir: String) { self.dataDir = dataDir }
    }

    public let options: Options
    public let store: ControlPlaneStore
    public let tokens: TokenAuthority
    public let registry: FleetRegistry
    let persistence: GatewayPersistence
    public let hub = EventHub()
    let metrics = ControlPlaneMetrics()
    let logger: JSONLogger
    let now: @Sendable () -> Double
    /// Set on the first start only: the admin token, to print once.
    public let initialAdminToken: String?
    public let rollouts: RolloutCoordinator
    private let server = Mutex<HTTPServer?>(nil)
    private let background = Mutex<Task<Void, Never>?>(nil)

    public init(options: Options, now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) throws(KTError) {
        self.options = options
        self.now = now
        let logger = JSONLogger(minimum: options.logLevel, component: "control-plane")
        self.logger = logger
        do {
            try FileManager.default.createDirectory(atPath: options.dataDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw KTError(.io, "cannot create the data directory \(options.dataDir): \(error.localizedDescription)")
        }
        store = try ControlPlaneStore(path: (options.dataDir as NSString).appendingPathComponent("kt.db"))
        tokens = try TokenAuthority(store: store)
        if tokens.hasAdmin {
            initialAdminToken = nil
        } else {
            // The file first, durably: a token stored in the database but lost on the way to
            // its file would lock every operator out (the next start sees an admin and prints
            // nothing). A crash between the two leaves a file whose token a restart replaces.
            let value = TokenAuthority.newValue(role: .admin)
            let path = (options.dataDir as NSString).appendingPathComponent("admin-token")
            try AtomicFile.write(Array((value + "\n").utf8), to: path)
            do {
                try tokens.createInitialAdmin(value: value)
            } catch {
                unlink(path)
                throw error
            }
            initialAdminToken = value
        }
        persistence = GatewayPersistence(store: store, logger: { logger.warn($0) })
        registry = FleetRegistry(persistence: persistence, now: now)
        let metrics = self.metrics
        rollouts = RolloutCoordinator(store: store, registry: registry, logger: logger, now: now,
                                      stepObserved: { step, seconds in metrics.rolloutStep(step, seconds: seconds) })
    }

    public var port: Int { server.withLock { $0?.port ?? 0 } }

    /// SIGHUP: re-reads the certificate files; a pair that does not load keeps the running one.
    public func reloadCertificate() async {
        guard let files = options.tls, let server = server.withLock({ $0 }) else { return }
        do throws(TLSError) {
            server.replaceTLS(try TLSServerContext(files))
            logger.info("TLS certificate reloaded", [("certificate", .string(files.certificate))])
        } catch {
            logger.warn("TLS certificate reload failed; keeping the running certificate", [("error", .string(error.message))])
        }
    }

    var tlsStatistics: TLSStatistics? { server.withLock { $0 }.flatMap { $0.isTLS ? $0.tlsStatistics : nil } }
    var shedRequests: Int { server.withLock { $0 }?.shedRequests ?? 0 }

    /// Restores state, binds, serves, and starts the background work (heartbeat flushes,
    /// event pruning, unfinished rollouts).
    @discardableResult
    public func start() async throws -> Int {
        await registry.restore(try store.loadGateways(samplesPerGateway: ManagedGateway.maxSamples))
        try await rollouts.restore()
        var config = HTTPServer.Configuration(host: options.host, port: options.port, maxConnections: 20_000,
                                              idleTimeout: .seconds(120), maxBodyBytes: 8 << 20)
        let logger = self.logger
        config.warn = { message in logger.warn(message, []) }
        if let files = options.tls {
            do throws(TLSError) { config.tls = try TLSServerContext(files) } catch {
                throw KTError(.invalidUsage, "TLS: \(error.message); check --tls-cert, --tls-key and --tls-client-ca")
            }
        }
        let server = try HTTPServer(configuration: config, errorResponder: { status, message in
            ("application/json", Array(APIError(status: status, code: "bad_request", message: message).json.serialized().utf8))
        }) { [self] request, writer in
            await self.handle(request, writer)
        }
        let port = try await server.start()
        self.server.withLock { $0 = server }
        let persistence = self.persistence, store = self.store, retention = options.eventRetention, flush = options.heartbeatFlushInterval
        let rollouts = self.rollouts
        background.withLock {
            $0 = Task {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await persistence.run(interval: flush) }
                    group.addTask {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: .seconds(60))
                            try? await store.pruneEvents(keep: retention)
                        }
                    }
                    group.addTask { await rollouts.runResumed() }
                    await group.waitForAll()
                }
            }
        }
        logger.log(.info, "control plane listening", [("address", .string("\(options.host):\(port)")), ("scheme", .string(options.tls == nil ? "http" : "https")),
                                                      ("mutual_tls", .bool(options.tls?.clientCA != nil)), ("version", .string(KTVersion.current)),
                                                      ("data", .string(options.dataDir)), ("gateways", .int(await registry.count)),
                                                      ("schema_version", .int(ControlPlaneStore.schemaVersion))], always: true)
        return port
    }

    /// Stops accepting, finishes in-flight requests (long-polls end with "unchanged"), flushes
    /// queued heartbeats, and closes the database.
    public func shutdown() async {
        guard let server = self.server.withLock({ s -> HTTPServer? in let x = s; s = nil; return x }) else { return }
        await rollouts.stop()
        let task = background.withLock { $0 }
        task?.cancel()
        await task?.value
        await server.shutdown(gracePeriod: .seconds(2))
        await persistence.flush()
        store.close()
        logger.info("control plane stopped")
    }
}

/// An API error: `{"error":{"code","message"}}` with an HTTP status.
public struct APIError: Error, Sendable {
    public var status: Int
    public var code: String
    public var message: String
    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }
    public var json: JSONValue { .object([("error", .object([("code", .string(code)), ("message", .string(message))]))]) }

    static func badRequest(_ m: String) -> APIError { APIError(status: 400, code: "invalid_request", message: m) }
    static func notFound(_ m: String) -> APIError { APIError(status: 404, code: "not_found", message: m) }
    static func conflict(_ m: String) -> APIError { APIError(status: 409, code: "conflict", message: m) }
    /// A write that failed: nothing was done that is not stored.
    static func storage(_ e: KTError) -> APIError {
        APIError(status: 503, code: "storage_failed", message: e.message + "; free space on the control plane's data disk (or fix its I/O errors), then retry")
    }
}

/// Counters and histograms for the control plane's `/metrics`.
final class ControlPlaneMetrics: Sendable {
    struct State {
        var requests: [String: Int] = [:]
        var durations: [String: PrometheusHistogram] = [:]
        var heartbeats = 0
        var eventsIngested = 0
        var heartbeatDuration = PrometheusHistogram()
        var rolloutSteps: [String: PrometheusHistogram] = [:]
    }
    let state = Mutex(State())

    /// `route` is one of the API's route names (a bounded set), never a raw path.
    func request(_ route: String, _ status: Int, seconds: Double) {
        state.withLock { s in
            s.requests["\(route)|\(status)", default: 0] += 1
            s.durations[route, default: PrometheusHistogram()].observe(seconds)
            if route == "heartbeat" {
                s.heartbeats += 1
                s.heartbeatDuration.observe(seconds)
            }
        }
    }
    func events(_ n: Int) { state.withLock { $0.eventsIngested += n } }
    /// A rollout step (push, watch, pause, rollback) took this long.
    func rolloutStep(_ step: String, seconds: Double) {
        state.withLock { $0.rolloutSteps[step, default: PrometheusHistogram(bounds: [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600])].observe(seconds) }
    }
}
