import Foundation
import KTModel
import KTConfig
import KTHTTP

extension ControlPlane {
    func handle(_ request: HTTPRequest, _ writer: HTTPResponseWriter) async {
        let started = ContinuousClock.now
        let path = String(request.path)
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        var routeName = "other"
        var status = 200
        do {
            switch (request.method, path) {
            case ("GET", "/healthz"), ("HEAD", "/healthz"):
                routeName = "healthz"
                reply(writer, 200, .object([("status", "ok")]))
            case ("GET", "/readyz"), ("HEAD", "/readyz"):
                routeName = "readyz"
                // Not ready while writes fail: a fresh probe decides (a write succeeding elsewhere clears it too).
                if store.writeFailure != nil { await store.probeWrite() }
                if let f = store.writeFailure {
                    reply(writer, 503, APIError(status: 503, code: "storage_failed",
                                                message: "the control plane cannot store data: could not store \(f.what): \(f.message)").json)
                } else {
                    reply(writer, 200, .object([("status", "ready"), ("gateways", .int(await registry.count))]))
                }
            case ("GET", "/metrics"):
                routeName = "metrics"
                // A token with fleet:read, unless the operator opened it (--metrics-open): a local
                // reverse proxy makes every remote scraper look like loopback.
                if !options.metricsOpen { _ = try authorize(request, .readFleet) }
                let text = await renderMetrics()
                var h = HTTPHeaders()
                h.add("content-type", "text/plain; version=0.0.4; charset=utf-8")
                writer.respond(status: 200, headers: h, body: Array(text.utf8))
            default:
                guard parts.first == "v1" else { throw APIError.notFound("unknown URL \(request.method) \(path)") }
                (routeName, status) = try await routeV1(request, writer, Array(parts.dropFirst()))
            }
        } catch let e as APIError {
            // An unknown method on a known path is a 405 naming the methods that are served.
            if e.status == 405 || (e.status == 404 && e.code == "not_found" && e.message.hasPrefix("unknown URL")),
               let allowed = Self.allowedMethods(parts), !allowed.contains(request.method) {
                status = 405
                var h = HTTPHeaders()
                h.add("content-type", "application/json")
                h.add("allow", allowed.sorted().joined(separator: ", "))
                let err = APIError(status: 405, code: "method_not_allowed", message: "\(request.method) is not served on \(path); use \(allowed.sorted().joined(separator: " or "))")
                if !writer.hasStarted { writer.respond(status: 405, headers: h, body: Array((err.json.serialized() + "\n").utf8)) }
            } else {
                status = e.status
                if !writer.hasStarted { reply(writer, e.status, e.json) }
            }
        } catch let e as APIErrorWithDetails {
            status = e.base.status
            let body = JSONValue.object([("error", .object([("code", .string(e.base.code)), ("message", .string(e.base.message)), ("details", .array(e.details))]))])
            if !writer.hasStarted { reply(writer, e.base.status, body) }
        } catch let e as KTError where e.code == .storage {
            // Nothing was acknowledged that is not stored: the caller retries or gives up.
            status = 503
            logger.error("storage write failed", [("path", .string(path)), ("error", .string(e.message))])
            var h = HTTPHeaders()
            h.add("content-type", "application/json")
            h.add("retry-after", "5")
            if !writer.hasStarted { writer.respond(status: 503, headers: h, body: Array(APIError(status: 503, code: "storage_failed", message: e.message + "; free space on the control plane's data disk (or fix its I/O errors), then retry").json.serialized().utf8)) }
        } catch let e as KTError {
            status = 500
            logger.error("request failed", [("path", .string(path)), ("error", .string(e.description))])
            if !writer.hasStarted { reply(writer, 500, APIError(status: 500, code: "internal", message: e.message).json) }
        } catch {
            status = 500
            if !writer.hasStarted { reply(writer, 500, APIError(status: 500, code: "internal", message: "\(error)").json) }
        }
        metrics.request(routeName, status, seconds: (ContinuousClock.now - started).secondsDouble)
    }

    func reply(_ writer: HTTPResponseWriter, _ status: Int, _ json: JSONValue, pretty: Bool = false) {
        var h = HTTPHeaders()
        h.add("content-type", "application/json")
        writer.respond(status: status, headers: h, body: Array((json.serialized(pretty: pretty) + "\n").utf8))
    }

    /// The principal of a request with `permission`; 401 without a valid token, 403 naming the missing permission.
    func authorize(_ request: HTTPRequest, _ permission: Permission) throws(APIError) -> Principal {
        let p = try authenticate(request)
        guard p.has(permission) else {
            throw APIError(status: 403, code: "forbidden", message: "this token (role \(p.role.rawValue)) lacks the permission '\(permission.rawValue)'")
        }
        return p
    }

    func authenticate(_ request: HTTPRequest) throws(APIError) -> Principal {
        guard let header = request.headers["authorization"], header.hasPrefix("Bearer ") else {
            throw APIError(status: 401, code: "unauthorized", message: "missing token: send 'Authorization: Bearer <token>' (KEEPTRUSTS_API_TOKEN)")
        }
        guard let p = tokens.authenticate(String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)) else {
            throw APIError(status: 401, code: "unauthorized", message: "invalid or revoked token")
        }
        // A stolen gateway token is useless without that gateway's certificate and key.
        if options.tlsBindIdentity, p.role == .gateway, let id = p.gatewayID, !request.peerCertificateNames.contains(id) {
            let names = request.peerCertificateNames.isEmpty ? "none" : request.peerCertificateNames.joined(separator: ", ")
            throw APIError(status: 403, code: "certificate_identity_mismatch",
                           message: "this gateway token is bound to gateway '\(id)', but the client certificate names \(names); present the certificate issued for '\(id)' (KEEPTRUSTS_TLS_CLIENT_CERT)")
        }
        return p
    }

    /// Gateway endpoints: the token must be allowed to act as this gateway.
    func authorizeGateway(_ request: HTTPRequest, _ id: String) throws(APIError) -> Principal {
        let p = try authenticate(request)
        guard p.has(.actAsGateway) else {
            throw APIError(status: 403, code: "forbidden", message: "this token (role \(p.role.rawValue)) lacks the permission '\(Permission.actAsGateway.rawValue)'")
        }
        guard p.mayActAs(gateway: id) else {
            throw APIError(status: 403, code: "forbidden", message: "this gateway token is bound to gateway '\(p.gatewayID ?? "?")'; it cannot act as '\(id)'")
        }
        return p
    }

    func body(_ request: HTTPRequest, limit: Int = 8 << 20) throws(APIError) -> JSONValue {
        guard !request.body.isEmpty else { throw APIError.badRequest("request body is empty; send a JSON object") }
        guard request.body.count <= limit else { throw APIError(status: 413, code: "too_large", message: "request body is larger than \(limit) bytes") }
        do {
            let v = try JSONValue.parse(request.body)
            guard v.objectValue != nil else { throw APIError.badRequest("request body must be a JSON object") }
            return v
        } catch let e as JSONValue.ParseError {
            throw APIError.badRequest("request body is not valid JSON: \(e.description)")
        } catch {
            throw error as! APIError
        }
    }

    static func validGatewayID(_ id: String) -> Bool {
        !id.isEmpty && id.count <= 128 && id.utf8.allSatisfy { c in
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 95 || c == 46
        }
    }

    func seconds(_ text: String?, name: String, default d: Double, max: Double) throws(APIError) -> Double {
        guard let text, !text.isEmpty else { return d }
        switch DurationSyntax.seconds(text) {
        case .success(let s): return min(s, max)
        case .failure(let p): throw APIError.badRequest("\(name): \(p.message)")
        }
    }

    func idsFilter(_ q: [String: String], key: String = "ids") -> Set<String>? {
        guard let raw = q[key] else { return nil }
        return Set(raw.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    // MARK: /v1

    func routeV1(_ request: HTTPRequest, _ writer: HTTPResponseWriter, _ p: [String]) async throws -> (String, Int) {
        let m = request.method
        switch p.count {
        case 1 where p[0] == "gateways" && m == "GET":
            _ = try authorize(request, .readFleet)
            // Pretty: this is also what `kt gateway list --json` prints as is.
            reply(writer, 200, try await listGateways(request.query), pretty: true)
            return ("gateways.list", 200)
        case 2 where p == ["gateways", "register"] && m == "POST":
            return ("register", try await register(request, writer))
        case 2 where p[0] == "gateways" && m == "GET":
            let principal = try authenticate(request)
            guard principal.has(.readFleet) || principal.mayActAs(gateway: p[1]) else {
                throw APIError(status: 403, code: "forbidden", message: "this token (role \(principal.role.rawValue)) lacks the permission 'fleet:read'")
            }
            guard let g = await registry.find(p[1]) else { throw APIError.notFound("no gateway '\(p[1])' is registered") }
            let window = try seconds(request.query["window"], name: "window", default: options.healthWindowSeconds, max: 3600)
            var detail = await g.summary(at: now(), healthWindow: window)
            let recent = try await store.events(.init(gateways: [p[1]], limit: 10))
            detail = detail.setting("recent_events", .array(recent.map(\.json)))
            reply(writer, 200, detail)
            return ("gateways.get", 200)
        case 3 where p[0] == "gateways" && p[2] == "heartbeat" && m == "POST":
            return ("heartbeat", try await heartbeat(request, writer, id: p[1]))
        case 3 where p[0] == "gateways" && p[2] == "config" && m == "GET":
            return ("config.poll", try await pollConfig(request, writer, id: p[1]))
        case 4 where p[0] == "gateways" && p[2] == "config" && p[3] == "ack" && m == "POST":
            return ("config.ack", try await ack(request, writer, id: p[1]))
        case 3 where p[0] == "gateways" && p[2] == "events" && m == "POST":
            return ("events.ingest", try await ingest(request, writer, id: p[1]))
        case 4 where p[0] == "gateways" && p[2] == "tasks" && m == "POST":
            _ = try authorizeGateway(request, p[1])
            let receivedAt = now()
            let result = try body(request)
            guard let g = await registry.find(p[1]) else { throw APIError.notFound("no gateway '\(p[1])' is registered") }
            guard await g.expectsTask(p[3]) else { throw APIError.notFound("no task '\(p[3])' is waiting for gateway '\(p[1])' (it may have timed out)") }
            // Our clock when the answer arrived: the doctor's clock check compares it with the gateway's unix_ms.
            await g.finishTask(p[3], result: result.setting("received_unix_ms", .int(Int((receivedAt * 1000).rounded()))))
            reply(writer, 200, .object([("ok", true)]))
            return ("tasks.result", 200)
        case 1 where p[0] == "version" && m == "GET":
            _ = try authorize(request, .readFleet)
            reply(writer, 200, .object([("version", .string(KTVersion.current)), ("schema_version", .int(ControlPlaneStore.schemaVersion))]))
            return ("version", 200)
        case 1 where p[0] == "health" && m == "GET":
            _ = try authorize(request, .readFleet)
            reply(writer, 200, try await fleetHealth(request.query))
            return ("health", 200)
        case 1 where p[0] == "events" && m == "GET":
            _ = try authorize(request, .readFleet)
            let q = try eventQuery(request.query, defaultLimit: 50)
            let (list, cut) = Self.withinResponseBudget(try await store.events(q), pagingForward: q.afterSeq != nil || q.sinceTime != nil)
            var answer: [(String, JSONValue)] = [("events", .array(list.map(\.json))), ("last_seq", .int(list.last?.seq ?? (q.afterSeq ?? 0)))]
            if cut { answer.append(("truncated", true)) }
            reply(writer, 200, .object(answer))
            return ("events.query", 200)
        case 2 where p == ["events", "stream"] && m == "GET":
            _ = try authorize(request, .readFleet)
            try await streamEvents(request, writer)
            return ("events.stream", 200)
        case 1 where p[0] == "configs" && m == "GET":
            _ = try authorize(request, .readFleet)
            reply(writer, 200, .object([("sources", .array(try await store.configSources().map { .string($0) }))]))
            return ("configs", 200)
        case 3 where p[0] == "configs" && p[2] == "versions" && m == "GET":
            _ = try authorize(request, .readFleet)
            let versions = try await store.configVersions(source: p[1])
            reply(writer, 200, .object([("source", .string(p[1])), ("versions", .array(versions.map(\.summaryJSON)))]))
            return ("configs.versions", 200)
        case 4 where p[0] == "configs" && p[2] == "versions" && m == "GET":
            _ = try authorize(request, .readFleet)
            let n = Int(p[3].split(separator: "v").last.map(String.init) ?? "") ?? -1
            guard let v = try await store.configVersions(source: p[1]).first(where: { $0.number == n }) else {
                throw APIError.notFound("config source '\(p[1])' has no version \(p[3])")
            }
            reply(writer, 200, v.summaryJSON.setting("content", .string(v.content)))
            return ("configs.version", 200)
        case 3 where p[0] == "configs" && p[1] == "sha" && m == "GET":
            _ = try authorize(request, .readFleet)
            guard let v = try await store.config(sha: p[2]) else { throw APIError.notFound("no config version has sha \(p[2])") }
            reply(writer, 200, v.summaryJSON.setting("content", .string(v.content)))
            return ("configs.sha", 200)
        case 1 where p[0] == "tokens":
            _ = try authorize(request, .manageTokens)
            if m == "GET" {
                reply(writer, 200, .object([("tokens", .array(tokens.list().map(\.json)))]))
                return ("tokens.list", 200)
            }
            guard m == "POST" else { throw APIError(status: 405, code: "method_not_allowed", message: "use GET or POST on /v1/tokens") }
            let b = try body(request, limit: 64 << 10)
            guard let roleText = b["role"]?.stringValue, let role = TokenRole(rawValue: roleText) else {
                throw APIError.badRequest("role must be one of viewer, operator, admin, gateway")
            }
            // A field of the wrong type is an error, not "absent" (a token must not be made from a misread body).
            for key in ["gateway_id", "name"] {
                if let v = b[key], v != .null, v.stringValue == nil { throw APIError.badRequest("\(key) must be a string") }
            }
            let gw = b["gateway_id"]?.stringValue
            if role == .gateway {
                guard let gw, Self.validGatewayID(gw) else { throw APIError.badRequest("a gateway token needs gateway_id (letters, digits, '-', '_', '.')") }
            } else if gw != nil {
                throw APIError.badRequest("gateway_id is only for role gateway")
            }
            let name = b["name"]?.stringValue ?? (role == .gateway ? gw! : role.rawValue)
            let (record, value) = try await tokens.create(role: role, name: name, gatewayID: gw)
            logger.info("token created", [("id", .string(record.id)), ("role", .string(role.rawValue)), ("gateway_id", .optional(gw))])
            reply(writer, 201, .object([("id", .string(record.id)), ("token", .string(value)), ("role", .string(role.rawValue)),
                                        ("gateway_id", .optional(gw)), ("name", .string(name))]))
            return ("tokens.create", 201)
        case 2 where p[0] == "tokens" && (m == "DELETE"):
            _ = try authorize(request, .manageTokens)
            guard let r = try await tokens.revoke(id: p[1]) else { throw APIError.notFound("no token '\(p[1])'") }
            logger.info("token revoked", [("id", .string(r.id))])
            reply(writer, 200, r.json)
            return ("tokens.revoke", 200)
        case 3 where p[0] == "tokens" && p[2] == "revoke" && m == "POST":
            _ = try authorize(request, .manageTokens)
            guard let r = try await tokens.revoke(id: p[1]) else { throw APIError.notFound("no token '\(p[1])'") }
            reply(writer, 200, r.json)
            return ("tokens.revoke", 200)
        default:
            if p.first == "rollouts" || p.first == "plans" {
                return try await routeRollouts(request, writer, p)
            }
            if p.first == "doctor" {
                return try await routeDoctor(request, writer, p)
            }
            throw APIError.notFound("unknown URL \(m) /v1/\(p.joined(separator: "/"))")
        }
    }

    // MARK: Gateways

    /// A fleet-protocol message from a body: a strict decode, its first problem a 400 naming the field.
    func message<M>(_ request: HTTPRequest, limit: Int, _ decode: (JSONValue) throws(BoundedFieldError) -> M) throws -> M {
        let b = try body(request, limit: limit)
        do { return try decode(b) } catch { throw APIError.badRequest(error.message) }
    }

    func register(_ request: HTTPRequest, _ writer: HTTPResponseWriter) async throws -> Int {
        let principal = try authenticate(request)
        let m = try message(request, limit: (RunningConfigReport.maxContentBytes + (64 << 10))) { j throws(BoundedFieldError) in try RegistrationMessage(json: j) }
        guard let id = m.id ?? principal.gatewayID else {
            throw APIError.badRequest("id is required (the gateway's id; a gateway token supplies it)")
        }
        guard Self.validGatewayID(id) else { throw APIError.badRequest("id '\(id.prefix(140))' must be 1–128 letters, digits, '-', '_' or '.'") }
        _ = try authorizeGateway(request, id)
        let running = m.config.map { ConfigRef(version: $0.version, sha: $0.sha) }
        // A config from local files is kept (source "local") so previews can diff against it and
        // rollbacks can return to it; it is only stored when its content really has that sha.
        if let r = running, let content = m.config?.content,
           try await store.config(sha: r.sha) == nil, let l = try? ConfigLoader().load(text: content, name: "local"), l.fullSHA == r.sha {
            _ = try await store.internConfig(source: "local", sha: r.sha, content: content)
        }
        let r = RegistrationRequest(name: m.name, region: m.region, labels: m.labels, version: m.version, address: m.address,
                                    heartbeatInterval: m.heartbeatIntervalSeconds, running: try await named(running), source: m.config?.source)
        let g = await registry.findOrCreate(id)
        let answer = try await g.register(r)
        logger.info("gateway registered", [("id", .string(id)), ("version", .optional(r.version)), ("config_sha", .optional(running?.sha))])
        reply(writer, 200, answer)
        return 200
    }

    /// A running config named by its version when the control plane knows its sha.
    func named(_ ref: ConfigRef?) async throws -> ConfigRef? {
        guard var ref else { return nil }
        if !ref.version.contains("-v"), let v = try await store.config(sha: ref.sha), v.source != "local" { ref.version = v.name }
        return ref
    }

    func heartbeat(_ request: HTTPRequest, _ writer: HTTPResponseWriter, id: String) async throws -> Int {
        _ = try authorizeGateway(request, id)
        guard let g = await registry.find(id) else {
            throw APIError(status: 404, code: "not_registered", message: "gateway '\(id)' is not registered; register first")
        }
        let m = try message(request, limit: 1 << 20) { j throws(BoundedFieldError) in try HeartbeatMessage(json: j) }
        var running = m.config.map { ConfigRef(version: $0.version, sha: $0.sha) }
        if let r = running, let known = await g.configState.applied, known.sameSHA(r.sha) { running = known } else { running = try await named(running) }
        await g.heartbeat(m, running: running)
        let desired = await g.configState.desired
        reply(writer, 200, .object([("ok", true), ("desired", desired?.json ?? .null)]))
        return 200
    }

    func pollConfig(_ request: HTTPRequest, _ writer: HTTPResponseWriter, id: String) async throws -> Int {
        _ = try authorizeGateway(request, id)
        guard let g = await registry.find(id) else {
            throw APIError(status: 404, code: "not_registered", message: "gateway '\(id)' is not registered; register first")
        }
        let q = request.query
        let wait = try seconds(q["wait"], name: "wait", default: 30, max: 120)
        let known = q["known_sha"].flatMap { $0.isEmpty ? nil : $0 }
        switch await g.pollConfig(knownSHA: known, wait: .milliseconds(Int64(wait * 1000))) {
        case .unchanged:
            writer.respond(status: 304, headers: HTTPHeaders(), body: [])
            return 304
        case .task(let t):
            let task = (try? TaskRequest(json: t)) ?? TaskRequest(id: t["id"]?.stringValue ?? "", kind: "doctor", parameters: t)
            reply(writer, 200, ConfigPollAnswer(task: task).json)
            return 200
        case .config(let ref, let source):
            guard let v = try await store.config(sha: ref.sha) else {
                throw APIError(status: 500, code: "internal", message: "desired config \(ref.version) is missing from the store")
            }
            reply(writer, 200, ConfigPollAnswer(config: .init(version: ref.version, sha: v.sha, source: source, content: v.content)).json)
            return 200
        }
    }

    func ack(_ request: HTTPRequest, _ writer: HTTPResponseWriter, id: String) async throws -> Int {
        _ = try authorizeGateway(request, id)
        guard let g = await registry.find(id) else { throw APIError(status: 404, code: "not_registered", message: "gateway '\(id)' is not registered") }
        let m = try message(request, limit: 256 << 10) { j throws(BoundedFieldError) in try ConfigAckMessage(json: j) }
        let version = try await named(ConfigRef(version: m.version, sha: m.sha))?.version ?? ""
        try await g.acknowledge(version: version, sha: m.sha, applied: m.status == .applied, error: m.error)
        logger.info("config \(m.status.rawValue)", [("gateway", .string(id)), ("version", .string(version)), ("error", .optional(m.error))])
        reply(writer, 200, .object([("ok", true)]))
        return 200
    }

    /// At most this many bytes of events in one `GET /v1/events` answer (10,000 events of
    /// content-bearing decisions would otherwise be hundreds of megabytes).
    static let eventsResponseBudget = 16 << 20

    /// The events that fit the budget: paging forward keeps the oldest (the caller continues
    /// after `last_seq`); "the latest N" keeps the newest. At least one event is always kept.
    static func withinResponseBudget(_ list: [StoredEvent], pagingForward: Bool) -> ([StoredEvent], Bool) {
        var bytes = 0
        var kept = 0
        for e in pagingForward ? AnyCollection(list) : AnyCollection(list.reversed()) {
            bytes += e.body.utf8.count
            guard kept == 0 || bytes <= eventsResponseBudget else { break }
            kept += 1
        }
        guard kept < list.count else { return (list, false) }
        return (pagingForward ? Array(list.prefix(kept)) : Array(list.suffix(kept)), true)
    }

    func ingest(_ request: HTTPRequest, _ writer: HTTPResponseWriter, id: String) async throws -> Int {
        _ = try authorizeGateway(request, id)
        guard let g = await registry.find(id) else { throw APIError(status: 404, code: "not_registered", message: "gateway '\(id)' is not registered") }
        let b = try body(request)
        let batch: EventBatchMessage
        do { batch = try EventBatchMessage(json: b) } catch {
            if error.field == "events.count" { throw APIError(status: 413, code: "too_large", message: error.message) }
            throw APIError.badRequest(error.message)
        }
        let rows: [(at: Double, verdict: String, body: String)] = batch.events.map { e in
            let stamped = e.setting("gateway", .string(id))
            var body = stamped.serialized()
            // Stored, listed and fanned out to live subscribers: each event within a bound.
            if body.utf8.count > DecisionEventCap.maxBytes { body = DecisionEventCap.capped(stamped, serializedBytes: body.utf8.count).serialized() }
            return (e["time"]?.stringValue.flatMap(Timestamps.parse) ?? now(), e["verdict"]!.stringValue!, body)
        }
        let seqs = try await store.insertEvents(gateway: id, rows, maxBytes: options.eventRetentionBytes)
        await g.noteEvents(rows.count, dropped: batch.dropped)
        metrics.events(rows.count)
        hub.publish(zip(seqs, rows).map { StoredEvent(seq: $0, gateway: id, at: $1.at, verdict: $1.verdict, body: $1.body) })
        reply(writer, 200, .object([("accepted", .int(rows.count)), ("last_seq", .int(seqs.last ?? 0))]))
        return 200
    }

    func listGateways(_ q: [String: String]) async throws -> JSONValue {
        let ids = idsFilter(q)
        let statusFilter = q["status"]
        if let s = statusFilter, GatewayStatus(rawValue: s) == nil { throw APIError.badRequest("status must be online, offline or degraded") }
        let window = try seconds(q["window"], name: "window", default: options.healthWindowSeconds, max: 3600)
        guard q["health"].map({ ["true", "false", "1", "0"].contains($0) }) ?? true else { throw APIError.badRequest("health must be true or false") }
        let includeHealth = q["health"] == "1" || q["health"] == "true"
        let t = now()
        var out: [JSONValue] = []
        for g in await registry.all() where ids.map({ $0.contains(g.id) }) ?? true {
            let s = await g.summary(at: t, healthWindow: window, includeHealth: includeHealth)
            if let f = statusFilter, s["status"]?.stringValue != f { continue }
            out.append(s)
        }
        return .object([("gateways", .array(out)), ("count", .int(out.count)), ("generated_at", .string(Timestamps.iso(t)))])
    }

    func fleetHealth(_ q: [String: String]) async throws -> JSONValue {
        let ids = idsFilter(q)
        let window = try seconds(q["window"], name: "window", default: options.healthWindowSeconds, max: 3600)
        let t = now()
        var rows: [JSONValue] = []
        var total = TrafficSample()
        var counts: [GatewayStatus: Int] = [:]
        var windowSeconds = 0.0
        for g in await registry.all() where ids.map({ $0.contains(g.id) }) ?? true {
            let (st, reason) = await g.status(at: t)
            let h = await g.health(window: window, at: t)
            total.merge(await g.window(window, at: t))
            windowSeconds = max(windowSeconds, h.windowSeconds)
            counts[st, default: 0] += 1
            rows.append(.object([("id", .string(g.id)), ("status", .string(st.rawValue)), ("status_reason", .optional(reason))]
                                + (h.json.objectValue ?? [])))
        }
        let totals = HealthSummary(window: windowSeconds, sample: total)
        return .object([
            ("window_seconds", .double(window)), ("generated_at", .string(Timestamps.iso(t))),
            ("gateways", .array(rows)),
            ("totals", .object([("gateways", .int(rows.count)), ("online", .int(counts[.online] ?? 0)), ("degraded", .int(counts[.degraded] ?? 0)),
                                ("offline", .int(counts[.offline] ?? 0))] + (totals.json.objectValue ?? []))),
        ])
    }

    // MARK: Events

    func eventQuery(_ q: [String: String], defaultLimit: Int) throws(APIError) -> ControlPlaneStore.EventQuery {
        var query = ControlPlaneStore.EventQuery(limit: defaultLimit)
        do throws(BoundedFieldError) {
            if let l = q["limit"] { query.limit = try BoundedField.integer(text: l, "limit", in: 1...10_000) }
            if let a = q["after"] { query.afterSeq = try BoundedField.integer(text: a, "after (an event sequence number)", in: 0...Int.max) }
        } catch {
            throw APIError.badRequest(error.message)
        }
        if let s = q["since"], !s.isEmpty {
            if let t = Timestamps.parse(s) { query.sinceTime = t } else {
                query.sinceTime = now() - (try seconds(s, name: "since", default: 0, max: 365 * 86400))
            }
        }
        if let v = q["verdict"] {
            guard ["allow", "redact", "block"].contains(v) else { throw APIError.badRequest("verdict must be allow, redact or block") }
            query.verdict = v
        }
        if let g = idsFilter(q, key: "gateway") { query.gateways = g.sorted() }
        return query
    }

    /// Server-sent events: matching events after `after` from the store, then live ones.
    func streamEvents(_ request: HTTPRequest, _ writer: HTTPResponseWriter) async throws {
        var q = try eventQuery(request.query, defaultLimit: 1000)
        let sub = hub.subscribe(EventHub.Filter(gateways: q.gateways.map(Set.init), verdict: q.verdict))
        defer { hub.unsubscribe(sub.id) }
        var last = q.afterSeq ?? 0
        if q.afterSeq == nil { q.afterSeq = (try await store.events(.init(limit: 1)).last?.seq) ?? 0; last = q.afterSeq! }
        q.sinceTime = nil
        q.limit = 10_000
        let backlog = try await store.events(q)
        writer.startStream(status: 200, headers: Self.sseHeaders)
        await writer.writeChunk(Array(": kt events stream\n\n".utf8))
        for e in backlog where e.seq > last {
            await writer.writeChunk(Array("id: \(e.seq)\nevent: decision\ndata: \(e.json.serialized())\n\n".utf8))
            last = e.seq
        }
        let stream = sub.stream
        let resumeAfter = last
        await Self.pumpSSE(writer) {
            var lastSent = resumeAfter
            for await e in stream where e.seq > lastSent {
                await writer.writeChunk(Array("id: \(e.seq)\nevent: decision\ndata: \(e.json.serialized())\n\n".utf8))
                lastSent = e.seq
            }
        }
        writer.endStream()
    }

    static let sseHeaders: HTTPHeaders = {
        var h = HTTPHeaders()
        h.add("content-type", "text/event-stream")
        h.add("cache-control", "no-cache")
        h.add("x-accel-buffering", "no")
        return h
    }()

    /// Runs `produce` (writing events) until it ends or the client goes, with keep-alive comments
    /// every 15 s; all three are children of one task group.
    static func pumpSSE(_ writer: HTTPResponseWriter, _ produce: @escaping @Sendable () async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await produce() }
            group.addTask { await writer.waitForClientGone() }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(15))
                    await writer.writeChunk(Array(": keep-alive\n\n".utf8))
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    // MARK: Metrics

    func renderMetrics() async -> String {
        let s = metrics.state.withLock { $0 }
        let t = now()
        var byStatus: [GatewayStatus: Int] = [.online: 0, .degraded: 0, .offline: 0]
        for g in await registry.all() { byStatus[await g.status(at: t).0, default: 0] += 1 }
        var rolloutsByStatus: [String: Int] = [:]
        for r in await rollouts.list() { rolloutsByStatus[r.machine.status.rawValue, default: 0] += 1 }
        var out = PrometheusText()
        out.gauge("kt_cp_gateways", "Registered gateways by status.",
                  [GatewayStatus.online, .degraded, .offline].map { ([("status", $0.rawValue)], Double(byStatus[$0] ?? 0)) })
        out.gauge("kt_cp_rollouts", "Rollouts by status.", rolloutsByStatus.keys.sorted().map { ([("status", $0)], Double(rolloutsByStatus[$0]!)) })
        out.counter("kt_cp_requests_total", "API requests by route and status.", s.requests.keys.sorted().map { k in
            let parts = k.split(separator: "|")
            return ([("route", String(parts[0])), ("status", String(parts[1]))], Double(s.requests[k]!))
        })
        out.histogram("kt_cp_request_duration_seconds", "Time to answer an API request, by route (long-polls and streams included).",
                      s.durations.keys.sorted().map { ([("route", $0)], s.durations[$0]!) })
        out.counter("kt_cp_heartbeats_total", "Heartbeats received.", Double(s.heartbeats))
        out.histogram("kt_cp_heartbeat_duration_seconds", "Time to handle one heartbeat.", [([], s.heartbeatDuration)])
        out.histogram("kt_cp_rollout_step_duration_seconds", "Duration of rollout steps: push (until every ACK), watch (a health window), pause, rollback.",
                      s.rolloutSteps.keys.sorted().map { ([("step", $0)], s.rolloutSteps[$0]!) })
        out.counter("kt_cp_events_ingested_total", "Decision events stored.", Double(s.eventsIngested))
        out.gauge("kt_cp_event_store_bytes", "Bytes of decision events in the store (oldest dropped past --event-retention-mb).", Double(store.storedEventBytes))
        out.gauge("kt_cp_event_subscribers", "Live event streams.", Double(hub.subscriberCount))
        out.gauge("kt_cp_storage_healthy", "1 while the database accepts writes, 0 while they fail.", store.writeFailure == nil ? 1 : 0)
        if let tls = tlsStatistics { out.tls(tls) }
        out.partialRequestsShed(shedRequests)
        out.buildAndProcess(component: "control-plane", version: KTVersion.current)
        return out.text
    }
}

