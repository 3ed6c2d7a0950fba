import Testing
import KTModel
@testable import KTGateway

@Suite struct CircuitBreakerTests {
    let t0 = ContinuousClock.now
    func fresh() -> CircuitBreaker { CircuitBreaker(settings: CircuitBreakerSettings(failureThreshold: 3, cooldownSeconds: 30)) }

    @Test func opensAfterConsecutiveFailuresOnly() {
        var breaker = fresh()
        breaker.recordFailure(now: t0)
        breaker.recordFailure(now: t0)
        breaker.recordSuccess()  // resets the count
        breaker.recordFailure(now: t0)
        breaker.recordFailure(now: t0)
        let allowed1 = breaker.allowRequest(now: t0)
        #expect(breaker.name == "closed" && allowed1)
        breaker.recordFailure(now: t0)
        #expect(breaker.name == "open" && breaker.gaugeValue == 1)
        let allowed2 = breaker.allowRequest(now: t0 + .seconds(29))
        #expect(!allowed2)
    }

    @Test func halfOpenAllowsOneProbeAtATime() {
        var breaker = fresh()
        for _ in 0..<3 { breaker.recordFailure(now: t0) }
        let allowed3 = breaker.allowRequest(now: t0 + .seconds(30))
        #expect(allowed3)   // the probe
        #expect(breaker.name == "half_open")
        let allowed4 = breaker.allowRequest(now: t0 + .seconds(31))
        #expect(!allowed4)  // a second request waits
        breaker.recordSuccess()
        let allowed5 = breaker.allowRequest(now: t0 + .seconds(31))
        #expect(breaker.name == "closed" && allowed5)
    }

    @Test func failedProbeReopensForAnotherCooldown() {
        var breaker = fresh()
        for _ in 0..<3 { breaker.recordFailure(now: t0) }
        _ = breaker.allowRequest(now: t0 + .seconds(30))
        breaker.recordFailure(now: t0 + .seconds(30))
        #expect(breaker.name == "open")
        let allowed6 = breaker.allowRequest(now: t0 + .seconds(59))
        #expect(!allowed6)
        let allowed7 = breaker.allowRequest(now: t0 + .seconds(60))
        #expect(allowed7)
    }

    @Test func abandonedProbeLetsTheNextRequestProbe() {
        var breaker = fresh()
        for _ in 0..<3 { breaker.recordFailure(now: t0) }
        _ = breaker.allowRequest(now: t0 + .seconds(30))
        breaker.recordAbandoned()
        let allowed8 = breaker.allowRequest(now: t0 + .seconds(30))
        #expect(allowed8)
    }
}

@Suite struct RequestParsingTests {
    @Test func validatesPerEndpoint() {
        func code(_ body: String, _ e: MockCompletions.Endpoint = .chat) -> String? {
            if case .failure(let err) = ParsedRequest.parse(Array(body.utf8), endpoint: e) { return err.code }
            return nil
        }
        #expect(code("") == nil)  // an empty body has no code, only a message
        #expect(code("[1]") == "invalid_json")
        #expect(code(#"{"model":1,"messages":[]}"#) == "missing_required_parameter")
        #expect(code(#"{"model":"m","messages":[{"content":"x"}]}"#) == "invalid_value")
        #expect(code(#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#) == "invalid_type")
        #expect(code(#"{"model":"m"}"#, .completions) == "missing_required_parameter")
        #expect(code(#"{"model":"m","input":"x","stream":true}"#, .embeddings) == nil)
    }

    @Test func bodyIsForwardedUnchangedUnlessTheTargetRenamesTheModel() throws {
        let raw = #"{"model":"alias","messages":[{"role":"user","content":"x"}],"temperature":0.2}"#
        guard case .success(let p) = ParsedRequest.parse(Array(raw.utf8), endpoint: .chat) else { Issue.record("parse"); return }
        #expect(p.body(forTargetModel: "alias") == Array(raw.utf8))
        #expect(p.body(forTargetModel: "*") == Array(raw.utf8))
        let renamed = String(decoding: p.body(forTargetModel: "real-model"), as: UTF8.self)
        #expect(renamed.contains(#""model":"real-model""#) && renamed.contains("temperature"))
    }
}

@Suite struct TargetURLTests {
    func compiled(_ t: ProviderTarget) -> CompiledTarget { CompiledTarget(target: t, apiKey: "k", transport: MockTransport(settings: .init())) }

    @Test func baseURLsWithAndWithoutV1() {
        let a = compiled(ProviderTarget(id: "a", provider: .openai, model: "m", baseURL: "https://api.openai.com"))
        let b = compiled(ProviderTarget(id: "b", provider: .openaiCompatible, model: "m", baseURL: "http://h:8000/v1/"))
        let c = compiled(ProviderTarget(id: "c", provider: .openai, model: "m"))
        #expect(a.url(for: "/chat/completions") == "https://api.openai.com/v1/chat/completions")
        #expect(b.url(for: "/embeddings") == "http://h:8000/v1/embeddings")
        #expect(c.url(for: "/completions") == "https://api.openai.com/v1/completions")
        #expect(a.authHeader! == ("Authorization", "Bearer k"))
    }

    @Test func azureUsesDeploymentPathApiVersionAndApiKeyHeader() {
        let t = compiled(ProviderTarget(id: "az", provider: .azureOpenAI, model: "gpt", baseURL: "https://x.openai.azure.com/",
                                        deployment: "prod", apiVersion: "2024-10-21"))
        #expect(t.url(for: "/chat/completions") == "https://x.openai.azure.com/openai/deployments/prod/chat/completions?api-version=2024-10-21")
        #expect(t.authHeader! == ("api-key", "k"))
    }
}

@Suite struct MockProviderTests {
    @Test func echoesAndStreamsInTheOpenAIFormat() async throws {
        let mock = MockTransport(settings: MockSettings(chunkChars: 4))
        let body = Array(#"{"model":"m","messages":[{"role":"user","content":"abcdefghij"}]}"#.utf8)
        let r = try await mock.send(UpstreamRequest(url: "mock://x/v1/chat/completions", headers: [], body: body, timeoutMs: 1000, stream: true))
        var events: [String] = []
        for try await e in r.body { events.append(String(decoding: e, as: UTF8.self)) }
        // role chunk, "Echo", ": ab", "cdef", "ghij", finish chunk, [DONE]
        #expect(events.count == 7 && events.last == "data: [DONE]\n\n")
        #expect(events[1].contains(#""delta":{"content":"Echo"}"#))
    }

    @Test func failureRateOneAlwaysFails() async throws {
        let mock = MockTransport(settings: MockSettings(failureRate: 1))
        let r = try await mock.send(UpstreamRequest(url: "mock://x/v1/chat/completions", headers: [], body: Array("{}".utf8), timeoutMs: 1000, stream: false))
        #expect(r.status == 500)
    }
}
