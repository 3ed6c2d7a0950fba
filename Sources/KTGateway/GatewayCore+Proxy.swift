import Foundation
import KTModel
import KTHTTP
import KTPolicy
import KTConfig

extension GatewayCore {
    /// One attempt's failure, kept for the final error message and status.
    struct AttemptFailure {
        var target: String
        var trigger: Fallback.Trigger?
        var message: String
        var status: Int?
        var body: [UInt8]?
        var contentType: String?
    }

    func proxy(_ request: HTTPRequest, _ writer: any ResponseWriting, _ ctx: inout RequestContext,
               endpoint: MockCompletions.Endpoint) async {
        let inFlight = metrics.beginRequest()
        defer { metrics.endRequest() }
        if inFlight > options.maxConcurrency {
            var e = OpenAIError.unavailable("the gateway is handling \(options.maxConcurrency) requests; retry shortly", code: "overloaded")
            e.headers = [("retry-after", "1")]
            await respondError(writer, &ctx, e)
            return
        }
        let snap = currentSnapshot
        // Strict audit that cannot store records refuses work before it reaches a policy or
        // an upstream (the writer keeps retrying; its outage record counts these refusals).
        if snap.engine.auditSettings?.durability == .strict, let log = audit, let failure = log.health.failure {
            log.noteRejectedRequest()
            ctx.auditExempt = true
            await respondError(writer, &ctx, Self.auditUnavailable(failure))
            return
        }
        guard snap.config.pack.enabled else {
            await respondError(writer, &ctx, .unavailable("policy pack '\(snap.config.pack.name)' is disabled; the gateway forwards nothing",
                                                    code: "policy_pack_disabled"))
            return
        }
        if let refusal = Self.compressedBodyRefusal(request) { await respondError(writer, &ctx, refusal); return }
        var parsed: ParsedRequest
        switch ParsedRequest.parse(request.body, endpoint: endpoint) {
        case .success(let p): parsed = p
        case .failure(let e): await respondError(writer, &ctx, e); return
        }
        ctx.model = parsed.model
        ctx.stream = parsed.stream
        let routing = snap.config.providers
        let candidates = ordered(snap.candidates(for: parsed.model), strategy: routing.routing.strategy)
        guard !candidates.isEmpty else {
            await respondError(writer, &ctx, .notFound("The model '\(BoundedField.excerpt(parsed.model))' does not exist or is not routed by this gateway", code: "model_not_found"))
            return
        }

        // Rate limits, then the request phase of the chain: both before any upstream call.
        let userLimit = snap.config.userRateLimit.flatMap { limit -> (String, UserRateLimit)? in
            switch limit.keyBy {
            case .clientKey:
                return ctx.clientKeyID.map { ("key:" + $0, limit) }
            case .header:
                for h in limit.headerNames { if let v = request.headers[h], !v.isEmpty { return (v, limit) } }
                return nil
            }
        }
        if let (scope, retry) = rateLimiter.check(snap.config.globalRateLimit, user: userLimit, now: Date().timeIntervalSince1970) {
            ctx.verdict = "block"
            ctx.reasonCode = "rate_limit.exceeded"
            var e = OpenAIError(status: 429, type: "rate_limit_error", message: "\(scope) rate limit exceeded; retry in \(retry)s",
                                code: "rate_limit_exceeded")
            e.headers = [("retry-after", String(retry))]
            await respondError(writer, &ctx, e)
            return
        }
        let engine = snap.engine
        var segments = PolicySegments.request(parsed.object, endpoint: endpoint)
        guard segments.count <= ParsedRequest.maxSegments else {
            await respondError(writer, &ctx, .invalidRequest("the request has \(segments.count) text parts; at most \(ParsedRequest.maxSegments) are accepted",
                                                          status: 422, code: "too_many_parts"))
            return
        }
        ctx.unscannedParts = PolicySegments.unscannedParts(parsed.object, endpoint: endpoint)
        let promptText = segments.map(\.text).joined(separator: "\n")
        ctx.promptSHA = SHA256.hex(promptText)
        ctx.promptChars = promptText.count
        if !engine.isEmpty {
            let before = segments
            guard let (decision, checked) = await evaluateOffPool(engine, segments, phase: .request, writer, &ctx) else { return }
            segments = checked
            apply(decision, phase: "request", to: &ctx)
            if decision.verdict == .block {
                await respondError(writer, &ctx, Self.policyBlocked(decision, output: false))
                return
            }
            if segments != before {
                PolicySegments.writeRequest(segments, into: &parsed.object, endpoint: endpoint)
                parsed.modified = true
            }
        }
        if engine.auditSettings?.includeContent == true { ctx.promptContent = segments.map(\.text) }

        var failures: [AttemptFailure] = []
        var skippedOpen: [String] = []
        let fallbackStarted = ContinuousClock.now
        for target in candidates {
            if ctx.attempts > routing.fallback.maxFallbackAttempts { break }
            if ctx.attempts > 0, (ContinuousClock.now - fallbackStarted) > .milliseconds(routing.fallback.retryWithinMs) { break }
            guard allow(target.target, settings: routing.circuitBreaker) else {
                skippedOpen.append(target.target.id)
                continue
            }
            if ctx.attempts > 0 { metrics.recordFallback() }
            ctx.attempts += 1
            ctx.target = target.target.id
            var upstreamRequest = UpstreamRequest(
                url: target.url(for: endpoint.rawValue), headers: upstreamHeaders(target, stream: parsed.stream),
                body: parsed.body(forTargetModel: target.target.model), timeoutMs: target.target.timeoutMs, stream: parsed.stream,
                maxResponseBytes: snap.config.sizeLimits.maxResponseBytes)
            upstreamRequest.pausesForConsumer = true
            upstreamRequest.tls = target.tls
            let attemptStart = ContinuousClock.now
            let response: UpstreamResponse
            do throws(UpstreamError) {
                response = try await target.transport.send(upstreamRequest)
            } catch {
                ctx.upstreamSeconds += (ContinuousClock.now - attemptStart).secondsDouble
                if error.kind == .cancelled || Task.isCancelled || writer.isClientGone {
                    recordOutcome(target.target, success: nil)
                    await clientGone(&ctx)
                    return
                }
                recordOutcome(target.target, success: false)
                metrics.recordUpstreamError(target: target.target.id, kind: error.kind.rawValue)
                let trigger: Fallback.Trigger = error.kind == .timeout ? .timeout : (error.kind == .connectError ? .connectError : .serverError)
                failures.append(AttemptFailure(target: target.target.id, trigger: trigger, message: error.message))
                if routing.fallback.triggers.contains(trigger) { continue }
                break
            }
            // An error status: fall back if it is a configured trigger, otherwise pass it through.
            if response.status == 429 || response.status >= 500 {
                let body = (try? await response.collect(limit: 64 * 1024)) ?? []
                ctx.upstreamSeconds += (ContinuousClock.now - attemptStart).secondsDouble
                let trigger: Fallback.Trigger = response.status == 429 ? .rateLimit : .serverError
                // 429 says the target is busy, not broken: it does not count against the breaker.
                recordOutcome(target.target, success: response.status == 429 ? true : false)
                metrics.recordUpstreamError(target: target.target.id, kind: trigger.rawValue)
                failures.append(AttemptFailure(target: target.target.id, trigger: trigger, message: "HTTP \(response.status)",
                                               status: response.status, body: body, contentType: response.header("content-type")))
                if routing.fallback.triggers.contains(trigger) { continue }
                break
            }
            recordOutcome(target.target, success: true)
            await relay(response, from: target, attemptStart: attemptStart, parsed: parsed, snap: snap, writer, &ctx)
            return
        }
        await respondAfterFailures(failures, skippedOpen: skippedOpen, writer, &ctx)
    }

    /// Below this much text one thread does the whole chain (a second hop costs more than the overlap saves).
    static let concurrentPolicyBytes = 2048

    /// Runs the chain for one phase on the policy executor, within the gateway's policy budget
    /// (counted from when evaluation starts). nil when the executor's queue is full: the client
    /// has been answered 503.
    func evaluateOffPool(_ engine: PolicyEngine, _ segments: [TextSegment], phase: PolicyKind.Phase,
                         _ writer: any ResponseWriting, _ ctx: inout RequestContext) async -> (ChainDecision, [TextSegment])? {
        let budget = options.policyBudget
        do {
            let context = EvaluationContext.within(budget, phase: phase)
            // A long text's read-only lead (prompt-injection) and the rest of the chain run at
            // once on two policy threads: the request waits for the slower, not for the sum.
            if let split = engine.concurrentSplit(for: phase), segments.reduce(0, { $0 + $1.text.utf8.count }) >= Self.concurrentPolicyBytes {
                async let lead = policyExecutor.run {
                    var s = segments
                    return engine.evaluate(&s, context: context, policies: 0..<split)
                }
                async let rest = policyExecutor.run {
                    var s = segments
                    let d = engine.evaluate(&s, context: context, policies: split..<engine.chain.count)
                    return (d, s)
                }
                let (l, (r, rewritten)) = try await (lead, rest)
                return (engine.merge(lead: l, rest: r, split: split), l.verdict == .block ? segments : rewritten)
            }
            return try await policyExecutor.run {
                var s = segments
                let d = engine.evaluate(&s, context: context)
                return (d, s)
            }
        } catch {
            var e = OpenAIError.unavailable("the gateway's policy workers are saturated; retry shortly", code: "overloaded")
            e.headers = [("retry-after", "1")]
            await respondError(writer, &ctx, e)
            return nil
        }
    }

    /// Bodies are read as sent: a compressed one would be scanned as bytes, so it is refused
    /// with what to do instead of an "invalid JSON at byte 0".
    static func compressedBodyRefusal(_ request: HTTPRequest) -> OpenAIError? {
        guard let coding = request.headers["content-encoding"]?.trimmingCharacters(in: .whitespaces), !coding.isEmpty,
              coding.lowercased() != "identity" else { return nil }
        return OpenAIError(status: 415, type: "invalid_request_error",
                           message: "request bodies must be sent uncompressed (Content-Encoding '\(coding.prefix(40))' is not supported)",
                           code: "unsupported_content_encoding", param: nil)
    }

    func upstreamHeaders(_ target: CompiledTarget, stream: Bool) -> [(String, String)] {
        var h: [(String, String)] = [("content-type", "application/json"), ("accept", stream ? "text/event-stream" : "application/json"),
                                     ("user-agent", "kt-gateway/\(KTVersion.current)")]
        if let auth = target.authHeader { h.append(auth) }
        return h
    }

    /// Sends a successful upstream response on to the client: whole, or as a stream.
    func relay(_ response: UpstreamResponse, from target: CompiledTarget, attemptStart: ContinuousClock.Instant,
               parsed: ParsedRequest, snap: GatewaySnapshot, _ writer: any ResponseWriting, _ ctx: inout RequestContext) async {
        let contentType = response.header("content-type") ?? "application/json"
        let isSSE = contentType.lowercased().hasPrefix("text/event-stream")
        if parsed.stream && isSSE && response.status == 200 {
            ctx.upstreamSeconds += (ContinuousClock.now - attemptStart).secondsDouble
            ctx.status = 200
            var h = baseHeaders(ctx, contentType: "text/event-stream")
            h.add("cache-control", "no-cache")
            h.add("x-accel-buffering", "no")
            h.add("x-kt-target", target.target.id)
            writer.startStream(status: 200, headers: h)
            // From here on there is no fallback: the client has bytes.
            let streamStart = ContinuousClock.now
            var relayed = 0
            let engine = snap.engine
            // Without response-phase policies the bytes pass through untouched; with them the
            // guard holds back a window and re-emits checked (possibly redacted) text.
            var guardian: StreamGuard? = engine.hasPolicies(for: .response) ? StreamGuard(engine: engine) : nil
            // Strict audit: the client sees [DONE] only once the record is durable.
            var terminatorHold: StreamTerminatorHold? = engine.auditSettings?.durability == .strict ? StreamTerminatorHold() : nil
            func send(_ bytes: [UInt8]) async {
                if terminatorHold != nil {
                    let now = terminatorHold!.feed(bytes)
                    if !now.isEmpty { await writer.writeChunk(now) }
                } else {
                    await writer.writeChunk(bytes)
                }
            }
            func release(_ outputs: [StreamGuard.Output]) async throws(UpstreamError) -> ChainDecision? {
                for o in outputs {
                    switch o {
                    case .send(let bytes): await send(bytes)
                    case .blocked(let d): return d
                    case .invalidEvent(let why): throw UpstreamError(.protocolError, why)
                    }
                }
                return nil
            }
            do {
                var blocked: ChainDecision?
                for try await chunk in response.body {
                    relayed += chunk.count
                    if relayed > snap.config.sizeLimits.maxResponseBytes {
                        throw UpstreamError(.responseTooLarge, "the upstream stream exceeded \(snap.config.sizeLimits.maxResponseBytes) bytes")
                    }
                    if guardian != nil {
                        if let d = try await release(guardian!.feed(chunk)) { blocked = d; break }
                    } else {
                        await send(chunk)
                    }
                    // Written (the writer waited for a slow client): the upstream may send more.
                    response.consumed(chunk.count)
                }
                ctx.upstreamSeconds += (ContinuousClock.now - streamStart).secondsDouble
                if Task.isCancelled || writer.isClientGone { await clientGone(&ctx); return }
                if blocked == nil, guardian != nil { blocked = try await release(guardian!.finish()) }
                if let g = guardian {
                    for d in g.decisions { apply(d, phase: "response", to: &ctx) }
                    if engine.auditSettings?.includeContent == true { ctx.responseContent = g.answer }
                }
                if let d = blocked {
                    apply(d, phase: "response", to: &ctx)
                    ctx.errorCode = "output_blocked"
                    let failure = await recordDecision(&ctx)
                    // An error event and no [DONE]: the client must not take this for a complete answer.
                    let error = failure.map(Self.auditUnavailable) ?? Self.policyBlocked(d, output: true)
                    await writer.writeChunk(Array("data: \(error.json.serialized())\n\n".utf8))
                } else {
                    if let rest = terminatorHold?.finish(), !rest.isEmpty { await writer.writeChunk(rest) }
                    if let failure = await recordDecision(&ctx) {
                        // The text went out but its record did not: no [DONE], an error event instead.
                        await writer.writeChunk(Array("data: \(Self.auditUnavailable(failure).json.serialized())\n\n".utf8))
                    } else if let held = terminatorHold?.held, !held.isEmpty {
                        await writer.writeChunk(held)
                    }
                }
                writer.endStream()
            } catch {
                ctx.upstreamSeconds += (ContinuousClock.now - streamStart).secondsDouble
                if Task.isCancelled || writer.isClientGone { await clientGone(&ctx); return }
                let message = (error as? UpstreamError)?.message ?? "\(error)"
                metrics.recordUpstreamError(target: target.target.id, kind: "stream_interrupted")
                ctx.errorCode = "upstream_stream_error"
                await recordDecision(&ctx)
                let event = OpenAIError.upstream("the upstream stream from '\(target.target.id)' failed: \(message)", code: "upstream_stream_error")
                // An error event and no [DONE]: the client must not mistake this for a complete answer.
                await writer.writeChunk(Array("data: \(event.json.serialized())\n\n".utf8))
                writer.endStream()
            }
            metrics.recordUpstream(target: target.target.id, seconds: ctx.upstreamSeconds)
            recordLatency(target.target.id, seconds: (streamStart - attemptStart).secondsDouble)
            finish(&ctx)
            return
        }
        // An answer that is not what the request asked for would pass the response policies by
        // (they read JSON, or the event stream of a stream request): refuse it.
        if isSSE, (200..<300).contains(response.status) {
            ctx.upstreamSeconds += (ContinuousClock.now - attemptStart).secondsDouble
            metrics.recordUpstreamError(target: target.target.id, kind: "invalid_response")
            await respondError(writer, &ctx, .upstream("upstream '\(target.target.id)' answered a non-stream request with an event stream", code: "upstream_invalid_response"))
            return
        }
        let body: [UInt8]
        do {
            body = try await response.collect(limit: snap.config.sizeLimits.maxResponseBytes)
        } catch {
            ctx.upstreamSeconds += (ContinuousClock.now - attemptStart).secondsDouble
            if Task.isCancelled || writer.isClientGone { await clientGone(&ctx); return }
            let message = (error as? UpstreamError)?.message ?? "\(error)"
            await respondError(writer, &ctx, .upstream("upstream '\(target.target.id)' failed while sending its answer: \(message)"))
            return
        }
        let upstreamTime = (ContinuousClock.now - attemptStart).secondsDouble
        ctx.upstreamSeconds += upstreamTime
        metrics.recordUpstream(target: target.target.id, seconds: upstreamTime)
        recordLatency(target.target.id, seconds: upstreamTime)
        var outBody = body
        var object = contentType.lowercased().contains("json") ? (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] : nil
        // An answer the response policies read one way (Foundation keeps the last of two equal
        // keys) may reach the client unchanged: it must read the same to every parser.
        if (200..<300).contains(response.status), object != nil, (try? JSONValue.parse(body, maxDepth: 256)) == nil { object = nil }
        if (200..<300).contains(response.status), object == nil {
            metrics.recordUpstreamError(target: target.target.id, kind: "invalid_response")
            await respondError(writer, &ctx, .upstream("upstream '\(target.target.id)' answered \(response.status) with a body that is not a JSON object (\(contentType.prefix(60)))",
                                                       code: "upstream_invalid_response"))
            return
        }
        if response.status == 200, var object {
            if let usage = object["usage"] as? [String: Any] {
                ctx.promptTokens = usage["prompt_tokens"] as? Int
                ctx.completionTokens = usage["completion_tokens"] as? Int
            }
            let engine = snap.engine
            if engine.hasPolicies(for: .response) {
                if let field = PolicySegments.unreadableAnswerField(object, stream: false) {
                    metrics.recordUpstreamError(target: target.target.id, kind: "invalid_response")
                    await respondError(writer, &ctx, .upstream("upstream '\(target.target.id)' answered with \(field) of a type the API never sends; the response policies cannot read it",
                                                               code: "upstream_invalid_response"))
                    return
                }
                let before = PolicySegments.response(object)
                guard let (decision, segments) = await evaluateOffPool(engine, before, phase: .response, writer, &ctx) else { return }
                apply(decision, phase: "response", to: &ctx)
                if decision.verdict == .block {
                    await respondError(writer, &ctx, Self.policyBlocked(decision, output: true))
                    return
                }
                if segments != before {
                    PolicySegments.writeResponse(segments, into: &object)
                    outBody = FoundationJSON.bytes(object) ?? body
                }
                if engine.auditSettings?.includeContent == true { ctx.responseContent = segments.map(\.text).joined(separator: "\n") }
            }
        }
        await respond(writer, &ctx, response.status, contentType: contentType, body: outBody, extraHeaders: [("x-kt-target", target.target.id)])
    }

    func respondAfterFailures(_ failures: [AttemptFailure], skippedOpen: [String], _ writer: any ResponseWriting, _ ctx: inout RequestContext) async {
        guard let last = failures.last else {
            var e = OpenAIError.unavailable("every target for this model has an open circuit breaker (\(skippedOpen.joined(separator: ", "))); retry later",
                                            code: "upstream_unavailable")
            e.headers = [("retry-after", "5")]
            await respondError(writer, &ctx, e)
            return
        }
        // A single non-retriable upstream error status (e.g. a 4xx-like 429 with fallback off) passes through as-is.
        if failures.count == 1, let status = last.status, let body = last.body, !body.isEmpty {
            ctx.errorCode = "upstream_\(status)"
            await respond(writer, &ctx, status, contentType: last.contentType ?? "application/json", body: body)
            return
        }
        let summary = failures.map { "\($0.target): \($0.message)" }.joined(separator: "; ")
        let timedOut = last.trigger == .timeout
        let status = timedOut ? 504 : 502
        let what = failures.count == 1 ? "the upstream failed" : "all \(failures.count) attempts failed"
        await respondError(writer, &ctx, .upstream("\(what) (\(summary))", status: status, code: timedOut ? "upstream_timeout" : "upstream_error"))
    }

    func clientGone(_ ctx: inout RequestContext) async {
        // nginx's convention for "client closed the request": the status never reaches anyone.
        ctx.status = 499
        ctx.errorCode = "client_disconnected"
        await recordDecision(&ctx)
        finish(&ctx)
    }

    /// One decision event per request: to the audit log (awaiting the fsync in strict mode,
    /// before the caller releases the response), then to the local ring and the heartbeat.
    /// Returns why strict audit could not store it (the caller answers 503 instead), else nil;
    /// the ring and heartbeat then see the 503 the client gets.
    @discardableResult
    func recordDecision(_ ctx: inout RequestContext) async -> String? {
        guard !ctx.recorded else { return nil }
        ctx.recorded = true
        let snap = currentSnapshot
        var event = decisionEvent(ctx, snap)
        var failure: String?
        if !ctx.auditExempt, let settings = snap.engine.auditSettings, let log = self.audit {
            if case .failed(let why) = await log.append(event), settings.durability == .strict { failure = why }
        }
        if failure != nil {
            ctx.status = 503
            ctx.errorCode = "audit_unavailable"
            event = decisionEvent(ctx, snap)
        }
        let total = (ContinuousClock.now - ctx.started).secondsDouble
        // The audit log has the whole record; the ring and the control-plane queue hold copies
        // within a size bound (only content can make an event large).
        if snap.engine.auditSettings?.includeContent == true { event = DecisionEventCap.capped(event) }
        events.append(event)
        telemetry.record(status: ctx.status, verdict: ctx.verdict, latencyMs: total * 1000,
                         overheadMs: max(0, total - ctx.upstreamSeconds) * 1000, configSHA: snap.loaded.fullSHA, event: event)
        return failure
    }

    func decisionEvent(_ ctx: RequestContext, _ snap: GatewaySnapshot) -> JSONValue {
        let total = (ContinuousClock.now - ctx.started).secondsDouble
        var fields: [(String, JSONValue)] = [
            ("id", .string(ctx.requestID)),
            ("client_request_id", .optional(ctx.clientRequestID)),
            ("client_key", .optional(ctx.clientKeyID)),
            ("time", .string(Date().formatted(.iso8601.year().month().day().timeSeparator(.colon).time(includingFractionalSeconds: true)) + "Z")),
            ("gateway", .string(options.gatewayID)),
            ("config_version", .string(snap.config.pack.version)), ("config_sha", .string(snap.loaded.sha)),
            ("route", .string(ctx.route)), ("model", .optional(ctx.model)), ("target", .optional(ctx.target)),
            ("stream", .bool(ctx.stream)), ("status", .int(ctx.status)),
            ("verdict", .string(ctx.verdict)), ("reason_code", .string(ctx.reasonCode)),
            ("blocked_by", .optional(ctx.blockedBy)), ("phase", .string(ctx.phase)),
            ("error_code", .optional(ctx.errorCode)),
            ("latency_ms", .double((total * 100_000).rounded() / 100)),
            ("overhead_ms", .double((max(0, total - ctx.upstreamSeconds) * 100_000).rounded() / 100)),
            ("policy_results", .array(ctx.policyResults)),
            ("tokens", .object([("prompt", ctx.promptTokens.map { .int($0) } ?? .null), ("completion", ctx.completionTokens.map { .int($0) } ?? .null)])),
            ("prompt_sha256", .optional(ctx.promptSHA)), ("prompt_chars", .int(ctx.promptChars)),
        ]
        if !ctx.unscannedParts.isEmpty {
            fields.append(("unscanned_parts", .object(ctx.unscannedParts.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })))
        }
        if snap.engine.auditSettings?.includeContent == true {
            fields.append(("content", .object([("prompt", ctx.promptContent.map { .array($0.map { .string($0) }) } ?? .null),
                                               ("response", .optional(ctx.responseContent))])))
        }
        return .object(fields)
    }

    /// The answer when strict audit cannot store a request's record.
    static func auditUnavailable(_ reason: String) -> OpenAIError {
        var e = OpenAIError.unavailable("the gateway cannot store audit records (\(reason)); it answers nothing it cannot audit — retry shortly",
                                        code: "audit_unavailable")
        e.headers = [("retry-after", "5")]
        return e
    }

    func apply(_ decision: ChainDecision, phase: String, to ctx: inout RequestContext) {
        let includeContent = currentSnapshot.engine.auditSettings?.includeContent == true
        for r in decision.results { metrics.recordDecision(policy: r.policy.rawValue, verdict: r.status.rawValue, reason: r.reasonCode ?? "none") }
        ctx.policyResults += decision.results.map { r in
            var j = r.json(includeContent: includeContent)
            if case .object(var f) = j { f.insert(("phase", .string(phase)), at: 1); j = .object(f) }
            return j
        }
        let order = ["allow": 0, "redact": 1, "block": 2]
        if order[decision.verdict.rawValue]! > order[ctx.verdict]! || (ctx.verdict == "allow" && decision.verdict == .allow) {
            ctx.verdict = decision.verdict.rawValue
            if decision.verdict != .allow || ctx.reasonCode == "all_policies_passed" { ctx.reasonCode = decision.reasonCode }
            ctx.blockedBy = decision.blockedBy?.rawValue
            if decision.verdict != .allow { ctx.phase = phase }
        }
    }

    static func policyBlocked(_ decision: ChainDecision, output: Bool) -> OpenAIError {
        OpenAIError(status: 409, type: "policy_violation",
                    message: decision.message ?? "blocked by policy \(decision.blockedBy?.rawValue ?? "?") (\(decision.reasonCode))",
                    code: output ? "output_blocked" : "input_blocked", policy: decision.blockedBy?.rawValue)
    }
}

/// The parts of an OpenAI request the gateway needs, validated, with the original bytes kept.
struct ParsedRequest {
    static let maxMessages = 4096
    /// Text parts the policies scan in one request (messages, content parts, tool arguments).
    static let maxSegments = 16_384
    var model: String
    var stream: Bool
    var object: [String: Any]
    var rawBody: [UInt8]
    /// Set when a policy rewrote the request (redaction): the body is re-serialised.
    var modified = false

    /// The chat roles of the OpenAI API.
    static let messageRoles = ["system", "developer", "user", "assistant", "tool", "function"]

    static func parse(_ body: [UInt8], endpoint: MockCompletions.Endpoint) -> Result<ParsedRequest, OpenAIError> {
        guard !body.isEmpty else { return .failure(.invalidRequest("the request body is empty; expected a JSON object")) }
        // One strict reading first (RFC 8259: no trailing comma, no key given twice, valid UTF-8,
        // bounded depth). The body may go upstream byte for byte, so it must read the same to every
        // parser; Foundation's alone accepts trailing commas and keeps one of two equal keys.
        do throws(JSONValue.ParseError) { _ = try JSONValue.parse(body, maxDepth: 256) } catch {
            return .failure(.invalidRequest("the request body is not valid JSON: \(error.description)",
                                            code: error.message.hasPrefix("duplicate key") ? "duplicate_key" : "invalid_json"))
        }
        let any: Any
        do {
            any = try JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
        } catch {
            return .failure(.invalidRequest("the request body is not valid JSON", code: "invalid_json"))
        }
        guard let object = any as? [String: Any] else {
            return .failure(.invalidRequest("the request body must be a JSON object", code: "invalid_json"))
        }
        guard let model = object["model"] as? String, !model.isEmpty else {
            return .failure(.invalidRequest("you must provide a model parameter (a string)", param: "model", code: "missing_required_parameter"))
        }
        var stream = false
        if let s = object["stream"], !(s is NSNull) {
            guard let b = s as? Bool else {
                return .failure(.invalidRequest("'stream' must be a boolean", param: "stream", code: "invalid_type"))
            }
            stream = b
        }
        switch endpoint {
        case .chat:
            guard let messages = object["messages"] as? [Any], !messages.isEmpty else {
                return .failure(.invalidRequest("'messages' must be a non-empty array", param: "messages", code: "missing_required_parameter"))
            }
            // Each message is scanned by every policy: a cap keeps one request's work bounded.
            guard messages.count <= Self.maxMessages else {
                return .failure(.invalidRequest("'messages' has \(messages.count) entries; at most \(Self.maxMessages) are accepted", status: 422,
                                                param: "messages", code: "too_many_messages"))
            }
            for (i, m) in messages.enumerated() {
                guard let msg = m as? [String: Any], let role = msg["role"] as? String else {
                    return .failure(.invalidRequest("messages[\(i)] must be an object with a string 'role'", status: 400, param: "messages[\(i)]",
                                                    code: "invalid_value"))
                }
                // Which policies read a message depends on its role (`scan_roles`); a role outside
                // the API's set ("User", "human") would be read by none of them, yet some
                // OpenAI-compatible servers render any role into the prompt.
                guard Self.messageRoles.contains(role) else {
                    return .failure(.invalidRequest("messages[\(i)].role '\(BoundedField.excerpt(role, max: 40))' is not supported; use one of "
                                                    + Self.messageRoles.joined(separator: ", "), param: "messages[\(i)].role", code: "invalid_value"))
                }
                // Content the policies would not read must not reach the model: a string, an
                // array of parts, or null — and a part's `text` is a string.
                switch msg["content"] {
                case nil, is NSNull, is String: break
                case let parts as [Any]:
                    for (j, part) in parts.enumerated() {
                        guard let p = part as? [String: Any] else {
                            return .failure(.invalidRequest("messages[\(i)].content[\(j)] must be an object (a content part)", param: "messages[\(i)].content[\(j)]",
                                                            code: "invalid_type"))
                        }
                        if let t = p["text"], !(t is String) {
                            return .failure(.invalidRequest("messages[\(i)].content[\(j)].text must be a string", param: "messages[\(i)].content[\(j)].text",
                                                            code: "invalid_type"))
                        }
                    }
                default:
                    return .failure(.invalidRequest("messages[\(i)].content must be a string, an array of content parts or null",
                                                    param: "messages[\(i)].content", code: "invalid_type"))
                }
            }
        case .completions:
            guard object["prompt"] != nil else {
                return .failure(.invalidRequest("you must provide a prompt parameter", param: "prompt", code: "missing_required_parameter"))
            }
        case .embeddings:
            guard object["input"] != nil else {
                return .failure(.invalidRequest("you must provide an input parameter", param: "input", code: "missing_required_parameter"))
            }
            stream = false
        }
        return .success(ParsedRequest(model: model, stream: stream, object: object, rawBody: body))
    }

    /// The body for a target: unchanged when it serves the requested name, else with its model.
    func body(forTargetModel targetModel: String) -> [UInt8] {
        let rename = targetModel != model && targetModel != "*"
        guard rename || modified else { return rawBody }
        var copy = object
        if rename { copy["model"] = targetModel }
        return FoundationJSON.bytes(copy) ?? rawBody
    }
}
