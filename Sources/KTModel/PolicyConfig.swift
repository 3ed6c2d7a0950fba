/// The typed form of a policy-config.yaml (PRODUCT.md §2), after strict decoding and defaults.
public struct PolicyConfig: Sendable, Equatable {
    public var pack: Pack
    public var providers: Providers
    /// The ordered policy chain; every entry has a settings block in `policies`.
    public var chain: [PolicyKind]
    public var policies: PolicySettingsSet
    public var sizeLimits: SizeLimits
    public var globalRateLimit: RateLimit?
    public var userRateLimit: UserRateLimit?
    /// nil: the gateway is open to anyone who reaches it.
    public var clientAuth: ClientAuth?

    public init(pack: Pack, providers: Providers, chain: [PolicyKind], policies: PolicySettingsSet,
                sizeLimits: SizeLimits = SizeLimits(), globalRateLimit: RateLimit? = nil,
                userRateLimit: UserRateLimit? = nil, clientAuth: ClientAuth? = nil) {
        self.pack = pack
        self.providers = providers
        self.chain = chain
        self.policies = policies
        self.sizeLimits = sizeLimits
        self.globalRateLimit = globalRateLimit
        self.userRateLimit = userRateLimit
        self.clientAuth = clientAuth
    }
}

public struct Pack: Sendable, Equatable {
    public var name: String
    public var version: String
    public var enabled: Bool
    public var id: String
    public var description: String?

    public init(name: String, version: String, enabled: Bool = true, id: String? = nil, description: String? = nil) {
        self.name = name
        self.version = version
        self.enabled = enabled
        self.id = id ?? Pack.derivedID(from: name)
        self.description = description
    }

    /// `cfg_` + the name lower-cased with every run of non-alphanumerics folded to `_`.
    public static func derivedID(from name: String) -> String {
        var out = "cfg_"
        var lastUnderscore = true
        for ch in name.lowercased() {
            if ch.isASCII && (ch.isLetter || ch.isNumber) {
                out.append(ch)
                lastUnderscore = false
            } else if !lastUnderscore {
                out.append("_")
                lastUnderscore = true
            }
        }
        while out.hasSuffix("_") && out.count > 4 { out.removeLast() }
        return out
    }
}

// MARK: - Providers

public struct Providers: Sendable, Equatable {
    public var targets: [ProviderTarget]
    public var routing: Routing
    public var fallback: Fallback
    public var circuitBreaker: CircuitBreakerSettings

    public init(targets: [ProviderTarget], routing: Routing = Routing(), fallback: Fallback = Fallback(),
                circuitBreaker: CircuitBreakerSettings = CircuitBreakerSettings()) {
        self.targets = targets
        self.routing = routing
        self.fallback = fallback
        self.circuitBreaker = circuitBreaker
    }
}

public enum ProviderKind: String, Sendable, CaseIterable, Equatable {
    case openai
    case azureOpenAI = "azure-openai"
    case anthropic
    case openaiCompatible = "openai-compatible"
    case mock

    /// Providers that cannot work without an API key.
    public var requiresSecret: Bool {
        switch self {
        case .openai, .azureOpenAI, .anthropic: return true
        case .openaiCompatible, .mock: return false
        }
    }
}

/// Where an API key comes from. Exactly one of env or file.
public enum SecretRef: Sendable, Equatable, CustomStringConvertible {
    case env(String)
    case file(String)

    public var description: String {
        switch self {
        case .env(let name): return "env:\(name)"
        case .file(let path): return "file:\(path)"
        }
    }
}

public struct ProviderTarget: Sendable, Equatable {
    public var id: String
    public var provider: ProviderKind
    public var model: String
    /// Extra model names this target answers to (besides `model`).
    public var aliases: [String]
    public var baseURL: String?
    public var secretKeyRef: SecretRef?
    public var timeoutMs: Int
    public var apiKeyHeader: String
    public var apiKeyPrefix: String
    /// azure-openai only.
    public var deployment: String?
    public var apiVersion: String?
    /// mock only.
    public var mock: MockSettings?
    /// anthropic only: `max_tokens` for requests that do not set one (the Messages API requires it).
    public var maxTokens: Int?

    public init(id: String, provider: ProviderKind, model: String, aliases: [String] = [], baseURL: String? = nil,
                secretKeyRef: SecretRef? = nil, timeoutMs: Int = 60_000, apiKeyHeader: String? = nil,
                apiKeyPrefix: String? = nil, deployment: String? = nil, apiVersion: String? = nil,
                mock: MockSettings? = nil, maxTokens: Int? = nil) {
        self.id = id
        self.provider = provider
        self.model = model
        self.aliases = aliases
        self.baseURL = baseURL
        self.secretKeyRef = secretKeyRef
        self.timeoutMs = timeoutMs
        // azure-openai authenticates with `api-key: <key>`; everyone else with a bearer token.
        self.apiKeyHeader = apiKeyHeader ?? (provider == .azureOpenAI ? "api-key" : (provider == .anthropic ? "x-api-key" : "Authorization"))
        self.apiKeyPrefix = apiKeyPrefix ?? (self.apiKeyHeader.lowercased() == "authorization" ? "Bearer " : "")
        self.deployment = deployment
        self.apiVersion = apiVersion
        self.mock = mock
        self.maxTokens = maxTokens
    }

    public func answers(model name: String) -> Bool { name == model || aliases.contains(name) }
}

/// The in-process `mock` provider: echo or fixed text, with optional latency and failure rate.
public struct MockSettings: Sendable, Equatable {
    /// Fixed reply; nil means echo the last user message.
    public var response: String?
    public var latencyMs: Int
    /// Fraction of requests in [0,1] that fail with a 500.
    public var failureRate: Double
    /// Characters per streamed chunk.
    public var chunkChars: Int

    public init(response: String? = nil, latencyMs: Int = 0, failureRate: Double = 0, chunkChars: Int = 16) {
        self.response = response
        self.latencyMs = latencyMs
        self.failureRate = failureRate
        self.chunkChars = chunkChars
    }
}

public struct Routing: Sendable, Equatable {
    public enum Strategy: String, Sendable, CaseIterable { case ordered, roundRobin = "round_robin", lowestLatency = "lowest_latency" }
    public var strategy: Strategy
    public init(strategy: Strategy = .ordered) { self.strategy = strategy }
}

public struct Fallback: Sendable, Equatable {
    public enum Trigger: String, Sendable, CaseIterable { case rateLimit = "rate_limit", serverError = "server_error", timeout, connectError = "connect_error" }
    public var triggers: [Trigger]
    public var maxFallbackAttempts: Int
    public var retryWithinMs: Int

    public init(triggers: [Trigger] = Trigger.allCases, maxFallbackAttempts: Int = 3, retryWithinMs: Int = 10_000) {
        self.triggers = triggers
        self.maxFallbackAttempts = maxFallbackAttempts
        self.retryWithinMs = retryWithinMs
    }
}

public struct CircuitBreakerSettings: Sendable, Equatable {
    public var failureThreshold: Int
    public var cooldownSeconds: Int
    public init(failureThreshold: Int = 5, cooldownSeconds: Int = 30) {
        self.failureThreshold = failureThreshold
        self.cooldownSeconds = cooldownSeconds
    }
}

// MARK: - Limits

public struct SizeLimits: Sendable, Equatable {
    public var maxBodyBytes: Int
    public var maxResponseBytes: Int
    public init(maxBodyBytes: Int = 1_048_576, maxResponseBytes: Int = 10_485_760) {
        self.maxBodyBytes = maxBodyBytes
        self.maxResponseBytes = maxResponseBytes
    }
}

public struct RateLimit: Sendable, Equatable {
    public var maxRequests: Int
    public var windowSeconds: Int
    public init(maxRequests: Int, windowSeconds: Int) {
        self.maxRequests = maxRequests
        self.windowSeconds = windowSeconds
    }
}

public struct UserRateLimit: Sendable, Equatable {
    /// What identifies the user: a request header, or the client key's id (`client_auth`).
    public enum KeyBy: String, Sendable, Equatable {
        case header
        case clientKey = "client_key"
    }
    public var maxRequests: Int
    public var windowSeconds: Int
    /// Request headers whose first present value identifies the user.
    public var headerNames: [String]
    public var keyBy: KeyBy
    public init(maxRequests: Int, windowSeconds: Int, headerNames: [String] = ["x-user-id"], keyBy: KeyBy = .header) {
        self.maxRequests = maxRequests
        self.windowSeconds = windowSeconds
        self.headerNames = headerNames
        self.keyBy = keyBy
    }
}
