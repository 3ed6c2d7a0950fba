import Foundation
import KTModel

/// The in-process `mock` provider: answers like an OpenAI endpoint with no network.
public struct MockTransport: UpstreamTransport {
    public var settings: MockSettings

    public init(settings: MockSettings) { self.settings = settings }

    public func send(_ request: UpstreamRequest) async throws(UpstreamError) -> UpstreamResponse {
        if settings.latencyMs > 0 {
            do { try await Task.sleep(for: .milliseconds(settings.latencyMs)) } catch { throw UpstreamError(.cancelled, "cancelled") }
        }
        if settings.failureRate > 0, Double.random(in: 0..<1) < settings.failureRate {
            let body = OpenAIError.upstream("mock provider failure (failure_rate \(settings.failureRate))", status: 500, code: "mock_failure").body
            return UpstreamResponse(status: 500, headers: [("content-type", "application/json")], body: Self.single(body))
        }
        guard let endpoint = MockCompletions.endpoint(forURL: request.url) else {
            return UpstreamResponse(status: 404, headers: [("content-type", "application/json")],
                                    body: Self.single(OpenAIError.notFound("mock: unknown endpoint", code: "unknown_url").body))
        }
        let parsed = ((try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any]) ?? [:]
        let created = Int(Date().timeIntervalSince1970)
        if request.stream && endpoint != .embeddings {
            let events = MockCompletions.streamEvents(endpoint: endpoint, request: parsed, fixed: settings.response,
                                                     chunkChars: settings.chunkChars, created: created)
            let body = AsyncThrowingStream<[UInt8], any Error> { c in
                for e in events { c.yield(e) }
                c.finish()
            }
            return UpstreamResponse(status: 200, headers: [("content-type", "text/event-stream")], body: body)
        }
        let json = MockCompletions.jsonResponse(endpoint: endpoint, request: parsed, fixed: settings.response, created: created)
        return UpstreamResponse(status: 200, headers: [("content-type", "application/json")], body: Self.single(Array(json.serialized().utf8)))
    }

    static func single(_ bytes: [UInt8]) -> AsyncThrowingStream<[UInt8], any Error> {
        AsyncThrowingStream { c in
            c.yield(bytes)
            c.finish()
        }
    }
}
