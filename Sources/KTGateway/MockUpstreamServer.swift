import Foundation
import Synchronization
import KTModel
import KTHTTP

/// An OpenAI-compatible upstream on a real socket for tests and benchmarks, with knobs for
/// latency, error statuses, failing after N stream chunks, and slow, hanging or reset
/// connections. `POST /_mock/behavior` changes the knobs at run time; `GET /_mock/stats`
/// reports what it saw (including streams the client abandoned).
public final class MockUpstreamServer: Sendable {
    public struct Behavior: Sendable {
        public var latencyMs = 0
        /// Answer every request with this status (and an OpenAI error body).
        public var status: Int?
        /// Streams: fail (close the connection) after this many events.
        public var failAfterChunks: Int?
        /// After this many stream events, send nothing more until the client goes away.
        public var stallAfterChunks: Int?
        public var chunkDelayMs = 0
        /// Close the connection without answering.
        public var reset = false
        /// Never answer (for timeout tests).
        public var hang = false
        public var reply: String?
        public var chunkChars = 8
        /// Answer every completion 200 with this content type and raw body (malformed answers).
        public var rawContentType: String?
        public var rawBody: String?
        public init() {}
    }

    public struct Stats: Sendable {
        public var requests = 0
        public var completed = 0
        public var cancelled = 0
        public var lastAuthorization: String?
        public var lastModel: String?
        /// The last Messages API request's version header and body (as JSON text).
        public var lastAnthropicVersion: String?
        public var lastAnthropicBody: String?
    }

    private let behavior: Mutex<Behavior>
    private let stats = Mutex(Stats())
    private let server: Mutex<HTTPServer?> = Mutex(nil)

    public init(behavior: Behavior = Behavior()) {
        self.behavior = Mutex(behavior)
    }

    public var currentStats: Stats { stats.withLock { $0 } }
    public func setBehavior(_ b: Behavior) { behavior.withLock { $0 = b } }

    @discardableResult
    public func start(host: String = "127.0.0.1", port: Int = 0) async throws -> Int {
        let s = try HTTPServer(configuration: .init(host: host, port: port, maxConnections: 20_000, maxBodyBytes: 64 << 20)) { [self] req, w in
            await handle(req, w)
        }
        let bound = try await s.start()
        server.withLock { $0 = s }
        return bound
    }

    public func shutdown() async {
        guard let s = server.withLock({ $0 }) else { return }
        await s.shutdown(gracePeriod: .seconds(1))
    }

    func handle(_ req: HTTPRequest, _ w: HTTPResponseWriter) async {
        let json: (Int, JSONValue) -> Void = { status, value in
            w.respond(status: status, headers: HTTPHeaders([("content-type", "application/json")]), body: Array(value.serialized().utf8))
        }
        switch (req.method, String(req.path)) {
        case ("GET", "/_mock/stats"):
            let s = currentStats
            json(200, .object([("requests", .int(s.requests)), ("completed", .int(s.completed)), ("cancelled", .int(s.cancelled)),
                               ("last_authorization", .optional(s.lastAuthorization)), ("last_model", .optional(s.lastModel)),
                               ("last_anthropic_version", .optional(s.lastAnthropicVersion)), ("last_anthropic_body", .optional(s.lastAnthropicBody))]))
            return
        case ("POST", "/_mock/behavior"):
            let o = ((try? JSONSerialization.jsonObject(with: Data(req.body))) as? [String: Any]) ?? [:]
            var b = Behavior()
            b.latencyMs = o["latency_ms"] as? Int ?? 0
            b.status = o["status"] as? Int
            b.failAfterChunks = o["fail_after_chunks"] as? Int
            b.stallAfterChunks = o["stall_after_chunks"] as? Int
            b.chunkDelayMs = o["chunk_delay_ms"] as? Int ?? 0
            b.reset = o["reset"] as? Bool ?? false
            b.hang = o["hang"] as? Bool ?? false
            b.reply = o["reply"] as? String
            b.chunkChars = o["chunk_chars"] as? Int ?? 8
            b.rawContentType = o["raw_content_type"] as? String
            b.rawBody = o["raw_body"] as? String
            setBehavior(b)
            json(200, .object([("ok", true)]))
            return
        case ("GET", "/v1/models"):
            json(200, .object([("object", "list"), ("data", .array([GatewayCore.modelJSON("mock-model", 0)]))]))
            return
        default:
            break
        }
        let b = behavior.withLock { $0 }
        let body = ((try? JSONSerialization.jsonObject(with: Data(req.body))) as? [String: Any]) ?? [:]
        stats.withLock {
            $0.requests += 1
            $0.lastAuthorization = req.headers["authorization"] ?? req.headers["api-key"] ?? req.headers["x-api-key"]
            $0.lastModel = body["model"] as? String
        }
        if b.hang {
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            stats.withLock { $0.cancelled += 1 }
            return
        }
        if b.latencyMs > 0 { try? await Task.sleep(for: .milliseconds(b.latencyMs)) }
        if b.reset {
            w.startStream(status: 200, headers: HTTPHeaders())
            w.abortStream()
            return
        }
        if let type = b.rawContentType {
            w.respond(status: 200, headers: HTTPHeaders([("content-type", type)]), body: Array((b.rawBody ?? "").utf8))
            stats.withLock { $0.completed += 1 }
            return
        }
        if let status = b.status {
            json(status, OpenAIError.upstream("mock upstream configured to answer \(status)", status: status, code: "mock_status").json)
            stats.withLock { $0.completed += 1 }
            return
        }
        if req.path == "/v1/messages" {
            await anthropic(req, body, b, w)
            return
        }
        guard let endpoint = MockCompletions.endpoint(forURL: String(req.path)) else {
            json(404, OpenAIError.notFound("mock: unknown URL \(req.path)", code: "unknown_url").json)
            return
        }
        let created = Int(Date().timeIntervalSince1970)
        if (body["stream"] as? Bool) == true && endpoint != .embeddings {
            let events = MockCompletions.streamEvents(endpoint: endpoint, request: body, fixed: b.reply, chunkChars: b.chunkChars, created: created)
            w.startStream(status: 200, headers: HTTPHeaders([("content-type", "text/event-stream"), ("cache-control", "no-cache")]))
            for (i, e) in events.enumerated() {
                if let n = b.failAfterChunks, i >= n {
                    w.abortStream()
                    stats.withLock { $0.completed += 1 }
                    return
                }
                if let n = b.stallAfterChunks, i >= n {
                    await w.waitForClientGone()
                    stats.withLock { $0.cancelled += 1 }
                    return
                }
                if Task.isCancelled || w.isClientGone {
                    stats.withLock { $0.cancelled += 1 }
                    return
                }
                await w.writeChunk(e)
                if b.chunkDelayMs > 0 { try? await Task.sleep(for: .milliseconds(b.chunkDelayMs)) }
            }
            if Task.isCancelled || w.isClientGone {
                stats.withLock { $0.cancelled += 1 }
                return
            }
            w.endStream()
            stats.withLock { $0.completed += 1 }
            return
        }
        json(200, MockCompletions.jsonResponse(endpoint: endpoint, request: body, fixed: b.reply, created: created))
        stats.withLock { $0.completed += 1 }
    }
}

extension MockUpstreamServer {
    /// The Anthropic Messages API, as far as a gateway test needs it: an echo (or the fixed
    /// reply) as one text block, a `tool_use` block when the request offers tools, JSON or the
    /// Messages SSE events; 400 in Anthropic's error envelope without `max_tokens`.
    func anthropic(_ req: HTTPRequest, _ body: [String: Any], _ b: Behavior, _ w: HTTPResponseWriter) async {
        stats.withLock {
            $0.lastAnthropicVersion = req.headers["anthropic-version"]
            $0.lastAnthropicBody = String(decoding: req.body, as: UTF8.self)
        }
        func send(_ status: Int, _ o: Any) {
            w.respond(status: status, headers: HTTPHeaders([("content-type", "application/json")]),
                      body: [UInt8]((try? JSONSerialization.data(withJSONObject: o)) ?? Data()))
            stats.withLock { $0.completed += 1 }
        }
        guard body["max_tokens"] is Int else {
            send(400, ["type": "error", "error": ["type": "invalid_request_error", "message": "max_tokens: Field required"]])
            return
        }
        let lastUser = ((body["messages"] as? [[String: Any]]) ?? []).last { $0["role"] as? String == "user" }
        let userText: String = {
            if let s = lastUser?["content"] as? String { return s }
            return ((lastUser?["content"] as? [[String: Any]]) ?? []).compactMap { $0["text"] as? String }.joined(separator: " ")
        }()
        let reply = b.reply ?? "Echo: " + userText
        let tool = (body["tools"] as? [[String: Any]])?.first?["name"] as? String
        let id = "msg_mock\(Int.random(in: 1000...9999))"
        let model = body["model"] as? String ?? "claude"
        if body["stream"] as? Bool == true {
            w.startStream(status: 200, headers: HTTPHeaders([("content-type", "text/event-stream")]))
            func event(_ name: String, _ o: [String: Any]) async {
                let data = String(decoding: (try? JSONSerialization.data(withJSONObject: o)) ?? Data(), as: UTF8.self)
                await w.writeChunk(Array("event: \(name)\ndata: \(data)\n\n".utf8))
                if b.chunkDelayMs > 0 { try? await Task.sleep(for: .milliseconds(b.chunkDelayMs)) }
            }
            await event("message_start", ["type": "message_start", "message": ["id": id, "type": "message", "role": "assistant", "model": model,
                                                                               "content": [], "usage": ["input_tokens": 11, "output_tokens": 1]]])
            await event("content_block_start", ["type": "content_block_start", "index": 0, "content_block": ["type": "text", "text": ""]])
            await event("ping", ["type": "ping"])
            var rest = Substring(reply)
            while !rest.isEmpty {
                let piece = rest.prefix(max(1, b.chunkChars))
                rest = rest.dropFirst(piece.count)
                await event("content_block_delta", ["type": "content_block_delta", "index": 0, "delta": ["type": "text_delta", "text": String(piece)]])
            }
            await event("content_block_stop", ["type": "content_block_stop", "index": 0])
            if let tool {
                await event("content_block_start", ["type": "content_block_start", "index": 1, "content_block": ["type": "tool_use", "id": "toolu_1", "name": tool, "input": [:]]])
                for part in ["{\"query\": ", "\"weather\"}"] {
                    await event("content_block_delta", ["type": "content_block_delta", "index": 1, "delta": ["type": "input_json_delta", "partial_json": part]])
                }
                await event("content_block_stop", ["type": "content_block_stop", "index": 1])
            }
            await event("message_delta", ["type": "message_delta", "delta": ["stop_reason": tool == nil ? "end_turn" : "tool_use"], "usage": ["output_tokens": 7]])
            await event("message_stop", ["type": "message_stop"])
            w.endStream()
            stats.withLock { $0.completed += 1 }
            return
        }
        var content: [[String: Any]] = [["type": "text", "text": reply]]
        if let tool { content.append(["type": "tool_use", "id": "toolu_1", "name": tool, "input": ["query": "weather"]]) }
        send(200, ["id": id, "type": "message", "role": "assistant", "model": model, "content": content,
                   "stop_reason": tool == nil ? "end_turn" : "tool_use", "usage": ["input_tokens": 11, "output_tokens": 7]])
    }
}
