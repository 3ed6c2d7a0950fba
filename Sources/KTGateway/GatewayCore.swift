import Foundation
import Synchronization
import KTModel
import KTConfig
import KTHTTP
import KTPolicy

/// The request path of a gateway: routes, the proxy with fallback, and the ops endpoints.
/// Shared by every request task; its mutable state sits behind locks or atomics.
public final class GatewayCore: Sendable {
    let options: Gateway.Options
    let transport: any UpstreamTransport
    public let metrics = GatewayMetrics()
    public let logger: JSONLogger
    let startedAt = Date()
    private let snapshot: Mutex<GatewaySnapshot>
    private let breakers = Mutex<[String: CircuitBreaker]>([:])
    private let latencyEWMA = Mutex<[String: Double]>([:])
    private let roundRobin = Atomic<Int>(0)
    private let reload = Mutex<(@Sendable () async -> Gateway.ReloadOutcome)?>(nil)
    /// The listener, once started (for its TLS handshake counts in /metrics).
    private let listener = Mutex<HTTPServer?>(nil)
    let rateLimiter = RateLimiter()
    let policyExecutor = PolicyExecutor.shared
    let events = EventRing()
    /// Heartbeat traffic and the event upload queue (managed mode only).
    public let telemetry: ManagedTelemetry
    private let auditLog = Mutex<AuditLog?>(nil)

    var audit: AuditLog? { auditLog.withLock { $0 } }

    /// Opens the audit log when a chain has audit-logger (or updates its settings on reload).
    func ensureAudit(for snapshot: GatewaySnapshot) throws(KTError) {
        guard let settings = snapshot.engine.auditSettings else { return }
        if let existing = audit { existing.update(settings); return }
        let log = try AuditLog(stateDir: options.resolvedStateDir, settings: settings, gatewayID: options.gatewayID)
        auditLog.withLock { $0 = log }
    }

    func closeAudit() { audit?.close() }

    init(options: Gateway.Options, snapshot: GatewaySnapshot, transport: any UpstreamTransport) {
        self.options = options
        self.transport = transport
        self.snapshot = Mutex(snapshot)
        self.logger = JSONLogger(minimum: options.logLevel)
        self.telemetry = ManagedTelemetry(capacity: options.eventQueueCapacity)
    }

    var reloadAction: (@Sendable () async -> Gateway.ReloadOutcome)? {
        get { reload.withLock { $0 } }
        set { reload.withLock { $0 = newValue } }
    }

    public var currentSnapshot: GatewaySnapshot { snapshot.withLock { $0 } }

    func attach(_ server: HTTPServer) { listener.withLock { $0 = server } }

    /// In-flight requests keep the snapshot they started with; new ones get this one.
    func swap(_ next: GatewaySnapshot) {
        snapshot.withLock { $0 = next }
        // Breakers of targets that are gone are dropped; the rest keep their state.
        let ids = Set(next.targets.map(\.target.id))
        breakers.withLock { b in b = b.filter { ids.contains($0.key) } }
    }

    // MARK: Breakers and ordering

    func allow(_ target: ProviderTarget, settings: CircuitBreakerSettings) -> Bool {
        breakers.withLock { b in
            var breaker = b[target.id] ?? CircuitBreaker(settings: settings)
            breaker.failureThreshold = settings.failureThreshold
            breaker.cooldown = .seconds(settings.cooldownSeconds)
            let ok = breaker.allowRequest(now: .now)
            b[target.id] = breaker
            return ok
        }
    }

    func recordOutcome(_ target: ProviderTarget, success: Bool?) {
        breakers.withLock { b in
            guard var breaker = b[target.id] else { return }
            switch success {
            case true?: breaker.recordSuccess()
            case false?: breaker.recordFailure(now: .now)
            case nil: breaker.recordAbandoned()
            }
            b[target.id] = breaker
        }
    }

    func recordLatency(_ target: String, seconds: Double) {
        latencyEWMA.withLock { m in m[target] = m[target].map { $0 * 0.8 + seconds * 0.2 } ?? seconds }
    }

    public func breakerStates() -> [(String, Int)] {
        let names = currentSnapshot.targets.map(\.target.id)
        return breakers.withLock { b in names.map { ($0, b[$0]?.gaugeValue ?? 0) } }
    }

    func breakerName(_ id: String) -> String { breakers.withLock { $0[id]?.name ?? "closed" } }

    /// Candidates in the order the routing strategy wants to try them.
    func ordered(_ candidates: [CompiledTarget], strategy: Routing.Strategy) -> [CompiledTarget] {
        guard candidates.count > 1 else { return candidates }
        switch strategy {
        case .ordered:
            return candidates
        case .roundRobin:
            let start = roundRobin.wrappingAdd(1, ordering: .relaxed).oldValue % candidates.count
            return Array(candidates[start...] + candidates[..<start])
        case .lowestLatency:
            let ewma = latencyEWMA.withLock { $0 }
            // Unmeasured targets go first so every target gets measured.
            return candidates.enumerated().sorted { a, b in
                let la = ewma[a.element.target.id] ?? -1, lb = ewma[b.element.target.id] ?? -1
                return la != lb ? la < lb : a.offset < b.offset
            }.map(\.element)
        }
    }

    // MARK: Routing of HTTP requests

    func handle(_ request: HTTPRequest, _ writer: HTTPResponseWriter) async {
        let started = ContinuousClock.now
        // The audit and event id is always the gateway's own (a client's could be forged or
        // repeated); a well-formed client id is kept beside it for correlation.
        var ctx = RequestContext(requestID: RequestID.make(), started: started, route: Self.routeLabel(request.path))
        ctx.clientRequestID = RequestID.sanitizedClientID(request.headers["x-request-id"])
        let path = request.path
        // /v1/messages and /v1/responses answer in their own API's shapes, refusals included.
        let messagesWriter = path == "/v1/messages" ? AnthropicMessagesWriter(inner: writer) : nil
        let responsesWriter = path == "/v1/responses" ? ReshapingWriter<ResponsesAPIShape>(inner: writer) : nil
        // The OpenAI surface needs a client key when the config lists them (ops routes have the admin token).
        if path.hasPrefix("/v1/"), let keyring = currentSnapshot.clientKeys {
            let verdict = keyring.verify(request.headers)
            guard case .accepted(let id) = verdict else {
                await refuseClientKey(messagesWriter ?? writer, &ctx, missing: verdict == .missing)
                return
            }
            ctx.clientKeyID = id
        }
        switch (request.method, path) {
        case ("GET", "/healthz"), ("HEAD", "/healthz"):
            await respondJSON(writer, &ctx, 200, .object([("status", "ok")]))
        case ("GET", "/readyz"), ("HEAD", "/readyz"):
            let s = currentSnapshot
            if s.engine.auditSettings?.durability == .strict, let failure = audit?.health.failure {
                await respondError(writer, &ctx, Self.auditUnavailable(failure))
            } else if s.config.pack.enabled {
                await respondJSON(writer, &ctx, 200, .object([("status", "ready"), ("sha", .string(s.loaded.sha))]))
            } else {
                await respondError(writer, &ctx, .unavailable("policy pack '\(s.config.pack.name)' is disabled", code: "policy_pack_disabled"))
            }
        case ("GET", "/health"):
            await respondJSON(writer, &ctx, 200, healthJSON())
        case ("GET", "/metrics"):
            let s = currentSnapshot
            let events = telemetry.isEnabled ? GatewayMetrics.EventQueue(queued: telemetry.queued, dropped: telemetry.dropped, uploaded: telemetry.uploaded) : nil
            let server = listener.withLock { $0 }
            let tls = server.flatMap { $0.isTLS ? $0.tlsStatistics : nil }
            let text = metrics.render(breakers: breakerStates(), configInfo: (s.config.pack.version, s.loaded.sha),
                                      audit: s.engine.auditSettings != nil ? audit?.health : nil, events: events, tls: tls,
                                      shedRequests: server?.shedRequests ?? 0)
            await respond(writer, &ctx, 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: Array(text.utf8), log: false)
        case ("GET", "/keeptrusts/events"):
            // Events describe other users' requests (with content when the audit keeps it).
            if let refusal = opsRefusal(request, what: "the event log") { await respondError(writer, &ctx, refusal); return }
            let q = request.query
            let after: Int, limit: Int
            do throws(BoundedFieldError) {
                after = try q["since"].map { v throws(BoundedFieldError) in try BoundedField.integer(text: v, "since", in: 0...Int.max) } ?? 0
                limit = try q["limit"].map { v throws(BoundedFieldError) in try BoundedField.integer(text: v, "limit", in: 1...1000) } ?? 100
            } catch {
                await respondError(writer, &ctx, .invalidRequest(error.message, param: error.field, code: "invalid_value")); return
            }
            let (list, last) = events.list(after: after, limit: limit)
            await respondJSON(writer, &ctx, 200, .object([("events", .array(list)), ("next_since", .int(last))]))
        case ("GET", "/keeptrusts/config"):
            if let refusal = opsRefusal(request, what: "the effective config") { await respondError(writer, &ctx, refusal); return }
            await respondJSON(writer, &ctx, 200, configJSON())
        case ("POST", "/keeptrusts/config/reload"):
            await handleReload(request, writer, &ctx)
        case ("POST", "/v1/chat/completions"):
            await proxy(request, writer, &ctx, endpoint: .chat)
        case ("POST", "/v1/completions"):
            await proxy(request, writer, &ctx, endpoint: .completions)
        case ("POST", "/v1/embeddings"):
            await proxy(request, writer, &ctx, endpoint: .embeddings)
        case ("POST", "/v1/messages"):
            await proxyTranslated(request, messagesWriter!, &ctx, AnthropicInbound.chatRequest)
        case ("POST", "/v1/responses"):
            await proxyTranslated(request, responsesWriter!, &ctx, ResponsesInbound.chatRequest)
        case ("GET", "/v1/models"):
            let created = Int(currentSnapshot.loadedAt.timeIntervalSince1970)
            await respondJSON(writer, &ctx, 200, .object([("object", "list"), ("data", .array(currentSnapshot.modelIDs.map { Self.modelJSON($0, created) }))]))
        case ("GET", _) where path.hasPrefix("/v1/models/"):
            let id = String(path.dropFirst("/v1/models/".count)).removingPercentEncoding ?? ""
            if currentSnapshot.modelIDs.contains(id) {
                await respondJSON(writer, &ctx, 200, Self.modelJSON(id, Int(currentSnapshot.loadedAt.timeIntervalSince1970)))
            } else {
                await respondError(writer, &ctx, .notFound("The model '\(BoundedField.excerpt(id))' does not exist on this gateway", code: "model_not_found"))
            }
        default:
            let label = Self.routeLabel(path)
            if let route = Self.routeTable.first(where: { $0.path == label }) {
                var e = OpenAIError.invalidRequest("method \(request.method) is not allowed on \(path)", status: 405, code: "method_not_allowed")
                e.headers = [("allow", route.methods.joined(separator: ", "))]
                await respondError((messagesWriter as (any ResponseWriting)?) ?? responsesWriter ?? writer, &ctx, e)
            } else {
                await respondError(writer, &ctx, .notFound("Unknown request URL: \(request.method) \(BoundedField.excerpt(String(path), max: 256))", code: "unknown_url"))
            }
        }
    }

    /// `POST /v1/messages` and `POST /v1/responses`: the request translated to chat completions
    /// takes the one proxy path; `writer` writes the answer back in the route's own shapes.
    func proxyTranslated<Shape: AnswerReshaping>(_ request: HTTPRequest, _ writer: ReshapingWriter<Shape>, _ ctx: inout RequestContext,
                                                 _ translate: ([UInt8]) throws(InboundRequestInvalid) -> [String: Any]) async {
        if let refusal = Self.compressedBodyRefusal(request) { await respondError(writer, &ctx, refusal); return }
        let chat: [String: Any]
        do throws(InboundRequestInvalid) { chat = try translate(request.body) } catch {
            await respondError(writer, &ctx, .invalidRequest(error.message, code: "invalid_request"))
            return
        }
        writer.model.withLock { $0 = chat["model"] as? String ?? "" }
        var translated = request
        translated.body = FoundationJSON.bytes(chat) ?? []
        await proxy(translated, writer, &ctx, endpoint: .chat)
    }

    static func modelJSON(_ id: String, _ created: Int) -> JSONValue {
        .object([("id", .string(id)), ("object", "model"), ("created", .int(created)), ("owned_by", "keeptrusts")])
    }

    /// Every route this gateway serves, with its methods; docs/gateway-openapi.yaml lists the
    /// same (a test compares them). A wrong method on one is a 405 with `Allow`.
    static let routeTable: [(path: String, methods: [String])] = [
        ("/healthz", ["GET", "HEAD"]), ("/readyz", ["GET", "HEAD"]), ("/health", ["GET"]), ("/metrics", ["GET"]),
        ("/keeptrusts/config", ["GET"]), ("/keeptrusts/events", ["GET"]), ("/keeptrusts/config/reload", ["POST"]),
        ("/v1/chat/completions", ["POST"]), ("/v1/completions", ["POST"]), ("/v1/embeddings", ["POST"]),
        ("/v1/messages", ["POST"]), ("/v1/responses", ["POST"]), ("/v1/models", ["GET"]), ("/v1/models/{id}", ["GET"]),
    ]

    /// The routes this gateway serves; anything else is `other` in metrics and logs, so a scanner
    /// cannot create label values (and memory) without bound.
    static let knownRoutes: Set<String> = Set(routeTable.map(\.path).filter { !$0.contains("{") })

    static func routeLabel(_ path: Substring) -> String {
        if knownRoutes.contains(String(path)) { return String(path) }
        if path.hasPrefix("/v1/models/") { return "/v1/models/{id}" }
        return "other"
    }

    // MARK: Ops

    public func healthJSON() -> JSONValue {
        let s = currentSnapshot
        let states = breakerStates()
        let openCount = states.filter { $0.1 == 1 }.count
        let auditHealth = s.engine.auditSettings != nil ? audit?.health : nil
        let status: String
        if !s.config.pack.enabled || (openCount == states.count && !states.isEmpty) { status = "unhealthy" }
        else if openCount > 0 || auditHealth?.ok == false { status = "degraded" }
        else { status = "healthy" }
        var reasons: [JSONValue] = []
        if let a = auditHealth, let f = a.failure { reasons.append(.string("audit log cannot store records: \(f)")) }
        if openCount > 0 { reasons.append(.string("\(openCount) provider target\(openCount == 1 ? "" : "s") with an open circuit breaker")) }
        let providers: [JSONValue] = s.targets.map { t in
            .object([("id", .string(t.target.id)), ("provider", .string(t.target.provider.rawValue)),
                     ("model", .string(t.target.model)), ("circuit", .string(breakerName(t.target.id))),
                     ("reachable", .bool(breakerName(t.target.id) != "open"))])
        }
        return .object([
            ("status", .string(status)),
            ("reasons", .array(reasons)),
            ("audit", auditHealth.map { Self.auditJSON($0, durability: s.engine.auditSettings!.durability) } ?? .null),
            ("uptime_seconds", .int(Int(Date().timeIntervalSince(startedAt)))),
            ("version", .string(KTVersion.current)),
            ("config", .object([("name", .string(s.config.pack.name)), ("version", .string(s.config.pack.version)),
                                ("sha", .string(s.loaded.sha)), ("loaded_at", .string(ISO8601DateFormatter().string(from: s.loadedAt)))])),
            ("providers", .array(providers)),
            ("requests_processed", .int(metrics.requestsProcessed)),
            ("requests_in_flight", .int(metrics.inFlightCount)),
        ])
    }

    static func auditJSON(_ a: AuditLog.Health, durability: AuditLoggerSettings.Durability) -> JSONValue {
        .object([("status", .string(a.ok ? "ok" : "failing")), ("durability", .string(durability.rawValue)), ("reason", .optional(a.failure)),
                 ("failing_since", a.failingSince.map { .string(ISO8601DateFormatter().string(from: $0)) } ?? .null),
                 ("records_written", .int(a.recordsWritten)), ("records_failed", .int(a.recordsFailed)),
                 ("records_dropped", .int(a.recordsDropped)), ("requests_rejected", .int(a.requestsRejected))])
    }

    /// The effective (layered) config. Secrets never live in it; the debug override key is shown redacted.
    func configJSON() -> JSONValue {
        let s = currentSnapshot
        var override: JSONValue = .null
        if let o = options.upstreamOverride {
            override = .object([("base_url", .string(o.baseURL)), ("api_key", o.apiKey == nil ? .null : "[redacted]")])
        }
        return .object([
            ("version", .string(s.config.pack.version)),
            ("sha", .string(s.loaded.sha)),
            ("files", .array(s.loaded.files.map { .string($0) })),
            ("upstream_override", override),
            ("config", s.loaded.tree.jsonValue),
        ])
    }

    /// The request carries the admin token (false when the gateway has none).
    func hasAdminToken(_ request: HTTPRequest) -> Bool {
        let bearer = request.headers["authorization"].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        return options.adminToken.map { token in bearer.map { ConstantTime.equal($0, token) } ?? false } ?? false
    }

    /// 401 in the OpenAI envelope. No decision event: the request reached no policy and no
    /// upstream, and an unauthenticated caller must not be able to fill the audit log; it is
    /// counted in `/metrics` and has its log line.
    func refuseClientKey(_ writer: any ResponseWriting, _ ctx: inout RequestContext, missing: Bool) async {
        ctx.recorded = true
        metrics.recordClientAuthFailure(missing ? "missing" : "unknown")
        var e = OpenAIError(status: 401, type: "invalid_request_error",
                            message: missing
                                ? "You didn't provide an API key. This gateway needs a client key: Authorization: Bearer <key> (or x-api-key: <key>)."
                                : "Incorrect API key provided. The key is not one of this gateway's client keys.",
                            code: "invalid_api_key")
        e.headers = [("www-authenticate", "Bearer realm=\"keeptrusts\"")]
        await respondError(writer, &ctx, e)
    }

    /// Why an ops endpoint (`/keeptrusts/*`) refuses this request, nil when it may proceed.
    /// With an admin token every caller needs it, loopback included (a local reverse proxy makes
    /// any remote client look local); without one only loopback callers are served.
    func opsRefusal(_ request: HTTPRequest, what: String) -> OpenAIError? {
        var refusal: OpenAIError
        if options.adminToken != nil {
            guard !hasAdminToken(request) else { return nil }
            refusal = OpenAIError(status: 401, type: "authentication_error",
                                  message: "\(what) needs the gateway's admin token: send Authorization: Bearer <token> (the --admin-token / KEEPTRUSTS_ADMIN_TOKEN the gateway was started with)",
                                  code: "invalid_admin_token")
        } else {
            guard !request.peerIsLoopback else { return nil }
            refusal = OpenAIError(status: 403, type: "permission_error",
                                  message: "\(what) is served to loopback only; start the gateway with --admin-token (or KEEPTRUSTS_ADMIN_TOKEN) to use it remotely",
                                  code: "forbidden")
        }
        if refusal.status == 401 { refusal.headers = [("www-authenticate", "Bearer realm=\"keeptrusts\"")] }
        return refusal
    }

    func handleReload(_ request: HTTPRequest, _ writer: any ResponseWriting, _ ctx: inout RequestContext) async {
        if let refusal = opsRefusal(request, what: "config reload") { await respondError(writer, &ctx, refusal); return }
        guard let action = reloadAction else {
            await respondError(writer, &ctx, .unavailable("the gateway is not ready to reload", code: "not_ready"))
            return
        }
        let outcome = await action()
        let errors: [JSONValue] = outcome.errors.map { d in
            .object([("code", .string(d.code.rawValue)), ("path", .string(d.path)), ("line", d.location.map { .int($0.line) } ?? .null),
                     ("column", d.location.map { .int($0.column) } ?? .null), ("message", .string(d.message)), ("suggestion", .optional(d.suggestion))])
        }
        let body: JSONValue = .object([("applied", .bool(outcome.applied)), ("version", .string(outcome.version)), ("sha", .string(outcome.sha)),
                                       ("message", .string(outcome.message)), ("errors", .array(errors))])
        await respondJSON(writer, &ctx, outcome.applied ? 200 : 422, body)
    }

    // MARK: Responding

    func baseHeaders(_ ctx: RequestContext, contentType: String) -> HTTPHeaders {
        var h = HTTPHeaders()
        h.add("content-type", contentType)
        h.add("x-request-id", ctx.requestID)
        if let client = ctx.clientRequestID { h.add("x-client-request-id", client) }
        h.add("x-kt-overhead-ms", ctx.overheadMsText())
        return h
    }

    func respond(_ writer: any ResponseWriting, _ ctx: inout RequestContext, _ status: Int, contentType: String, body: [UInt8],
                 extraHeaders: [(String, String)] = [], log: Bool = true) async {
        ctx.status = status
        // The decision is recorded before the answer leaves (strict audit durability needs that order).
        if ctx.isProxy, let failure = await recordDecision(&ctx) {
            let e = Self.auditUnavailable(failure)
            var h = baseHeaders(ctx, contentType: "application/json")
            for (n, v) in e.headers { h.add(n, v) }
            writer.respond(status: e.status, headers: h, body: e.body)
            finish(&ctx, log: log)
            return
        }
        var h = baseHeaders(ctx, contentType: contentType)
        for (n, v) in extraHeaders { h.add(n, v) }
        if let hint = RetryHint.header(forStatus: status), !extraHeaders.contains(where: { $0.0 == hint.0 }) { h.add(hint.0, hint.1) }
        writer.respond(status: status, headers: h, body: body)
        finish(&ctx, log: log)
    }

    func respondJSON(_ writer: any ResponseWriting, _ ctx: inout RequestContext, _ status: Int, _ json: JSONValue) async {
        await respond(writer, &ctx, status, contentType: "application/json", body: Array(json.serialized().utf8))
    }

    func respondError(_ writer: any ResponseWriting, _ ctx: inout RequestContext, _ error: OpenAIError) async {
        ctx.errorCode = error.code
        await respond(writer, &ctx, error.status, contentType: "application/json", body: error.body, extraHeaders: error.headers)
    }

    /// Metrics and the one log line per request.
    func finish(_ ctx: inout RequestContext, log: Bool = true) {
        let total = (ContinuousClock.now - ctx.started).secondsDouble
        let isProxy = ctx.isProxy
        metrics.recordRequest(route: ctx.route, status: ctx.status, target: ctx.target, seconds: total,
                              overheadSeconds: isProxy ? max(0, total - ctx.upstreamSeconds) : nil)
        guard log else { return }
        var fields: [(String, JSONValue)] = [("request_id", .string(ctx.requestID)), ("client_request_id", .optional(ctx.clientRequestID)), ("route", .string(ctx.route)),
                                             ("status", .int(ctx.status)), ("duration_ms", .double((total * 1000 * 100).rounded() / 100))]
        if let key = ctx.clientKeyID { fields.append(("client_key", .string(key))) }
        if isProxy {
            fields.append(("overhead_ms", .double((max(0, total - ctx.upstreamSeconds) * 1000 * 100).rounded() / 100)))
            fields.append(("model", .optional(ctx.model)))
            fields.append(("target", .optional(ctx.target)))
            fields.append(("attempts", .int(ctx.attempts)))
            fields.append(("stream", .bool(ctx.stream)))
        }
        if let code = ctx.errorCode { fields.append(("error_code", .string(code))) }
        logger.info("request", fields)
    }
}

/// Per-request bookkeeping for metrics, headers and the log line.
struct RequestContext {
    var requestID: String
    /// The `client_auth` key id the request authenticated with (never the key).
    var clientKeyID: String?
    /// The client's own `x-request-id`, sanitised (≤ 128 visible ASCII characters).
    var clientRequestID: String?
    var started: ContinuousClock.Instant
    var route: String
    var status = 0
    var model: String?
    var target: String?
    var attempts = 0
    var stream = false
    var errorCode: String?
    /// Time spent waiting on upstreams (excluded from the overhead).
    var upstreamSeconds = 0.0
    // Decision event fields.
    var verdict = "allow"
    var reasonCode = "all_policies_passed"
    var blockedBy: String?
    var phase = "request"
    var policyResults: [JSONValue] = []
    var promptSHA: String?
    var promptChars = 0
    var promptTokens: Int?
    var completionTokens: Int?
    var promptContent: [String]?
    /// Content parts no policy could read (images, audio), by type.
    var unscannedParts: [String: Int] = [:]
    var responseContent: String?
    var recorded = false
    /// Refused because strict audit is failing: no record is attempted (the outage record counts it).
    var auditExempt = false

    var isProxy: Bool { route == "/v1/chat/completions" || route == "/v1/completions" || route == "/v1/embeddings" || route == "/v1/messages" || route == "/v1/responses" }

    func overheadMsText() -> String {
        let ms = max(0, (ContinuousClock.now - started).secondsDouble - upstreamSeconds) * 1000
        return String(format: "%.3f", ms)
    }
}


/// Comparison that takes the same time whatever the inputs share.
enum ConstantTime {
    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var diff = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return diff == 0
    }
}
