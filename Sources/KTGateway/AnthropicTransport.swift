import Foundation

/// A provider target of kind `anthropic`: the gateway speaks chat completions to it, this
/// transport speaks the Messages API (`POST /v1/messages`, `x-api-key`, `anthropic-version`).
struct AnthropicTransport: UpstreamTransport {
    let inner: any UpstreamTransport
    let maxTokens: Int?

    func send(_ request: UpstreamRequest) async throws(UpstreamError) -> UpstreamResponse {
        guard request.url.hasSuffix("/v1/messages") else {
            throw UpstreamError(.protocolError, "anthropic targets serve chat completions only (not \(request.url))")
        }
        guard let openAI = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any] else {
            throw UpstreamError(.protocolError, "the request body is not a JSON object")
        }
        let body: [String: Any]
        do { body = try AnthropicTranslation.request(openAI, defaultMaxTokens: maxTokens) } catch let e as AnthropicTranslation.Failure {
            throw UpstreamError(.protocolError, e.message)
        } catch { throw UpstreamError(.protocolError, "\(error)") }
        var outgoing = request
        outgoing.body = [UInt8]((try? JSONSerialization.data(withJSONObject: body)) ?? Data())
        outgoing.headers = request.headers.filter { $0.0.lowercased() != "anthropic-version" } + [("anthropic-version", AnthropicTranslation.apiVersion)]
        let response = try await inner.send(outgoing)
        let created = Int(Date().timeIntervalSince1970)
        let isSSE = response.header("content-type")?.lowercased().hasPrefix("text/event-stream") == true
        let status = response.status
        let (stream, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
        let task = Task {
            do {
                if isSSE && status == 200 {
                    var translator = AnthropicStreamTranslator(created: created)
                    for try await chunk in response.body {
                        let out: [UInt8]
                        do throws(AnthropicStreamTranslator.EventTooLarge) { out = try translator.feed(chunk) } catch {
                            throw UpstreamError(.protocolError, "anthropic stream event larger than \(error.limit) bytes")
                        }
                        if !out.isEmpty { continuation.yield(out) } else { response.consumed(chunk.count) }
                    }
                } else {
                    let all = try await response.collect(limit: request.maxResponseBytes)
                    if (200..<300).contains(status), let a = (try? JSONSerialization.jsonObject(with: Data(all))) as? [String: Any] {
                        continuation.yield([UInt8]((try? JSONSerialization.data(withJSONObject: AnthropicTranslation.response(a, created: created))) ?? Data()))
                    } else if status >= 400 {
                        continuation.yield(AnthropicTranslation.error(all, status: status))
                    } else {
                        continuation.yield(all)
                    }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        var headers = response.headers.filter { $0.0.lowercased() != "content-length" }
        if !isSSE { headers = headers.filter { $0.0.lowercased() != "content-type" } + [("content-type", "application/json")] }
        return UpstreamResponse(status: status, headers: headers, body: stream, consumed: response.consumed)
    }
}
