import Foundation
import KTModel
import KTConfig
import KTPolicy
import KTHTTP

/// Debug overrides of `kt gateway run` (`--upstream*` / `KEEPTRUSTS_UPSTREAM*`): send every
/// request to one OpenAI-compatible base URL.
public struct UpstreamOverride: Sendable {
    public var baseURL: String
    public var apiKey: String?
    public var apiKeyHeader: String?
    public var apiKeyPrefix: String?
    public init(baseURL: String, apiKey: String? = nil, apiKeyHeader: String? = nil, apiKeyPrefix: String? = nil) {
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.apiKeyHeader = apiKeyHeader
        self.apiKeyPrefix = apiKeyPrefix
    }
}

/// One provider target ready to call: URL, credentials and transport resolved.
public struct CompiledTarget: Sendable {
    public var target: ProviderTarget
    public var apiKey: String?
    public var transport: any UpstreamTransport
    /// HTTPS trust for this provider: the system store, plus KEEPTRUSTS_CA_FILE when set.
    public var tls: TLSClientOptions?

    public init(target: ProviderTarget, apiKey: String?, transport: any UpstreamTransport, tls: TLSClientOptions? = nil) {
        self.target = target
        self.apiKey = apiKey
        self.transport = transport
        self.tls = tls
    }

    /// The upstream URL for an OpenAI path such as `/chat/completions`.
    public func url(for path: String) -> String {
        switch target.provider {
        case .azureOpenAI:
            let base = Self.trimmed(target.baseURL ?? "")
            let deployment = target.deployment ?? target.model
            return "\(base)/openai/deployments/\(deployment)\(path)?api-version=\(target.apiVersion ?? "2024-10-21")"
        case .mock:
            return "mock://\(target.id)/v1\(path)"
        case .anthropic:
            var base = Self.trimmed(target.baseURL ?? "https://api.anthropic.com")
            if base.hasSuffix("/v1") { base.removeLast(3) }
            // Chat completions become the Messages API (AnthropicTransport translates the bodies).
            return base + (path == "/chat/completions" ? "/v1/messages" : "/v1" + path)
        default:
            var base = Self.trimmed(target.baseURL ?? "https://api.openai.com")
            if !base.hasSuffix("/v1") { base += "/v1" }
            return base + path
        }
    }

    static func trimmed(_ s: String) -> String {
        var s = s
        while s.hasSuffix("/") { s.removeLast() }
        return s
    }

    public var authHeader: (String, String)? {
        guard let apiKey else { return nil }
        return (target.apiKeyHeader, target.apiKeyPrefix + apiKey)
    }
}

/// Everything a request needs from the config, built once per (re)load and swapped atomically.
public final class GatewaySnapshot: Sendable {
    public let loaded: LoadedConfig
    public let targets: [CompiledTarget]
    public let engine: PolicyEngine
    /// nil: no `client_auth` block, the gateway is open.
    public let clientKeys: ClientKeyring?
    public let loadedAt: Date

    public var config: PolicyConfig { loaded.config }

    init(loaded: LoadedConfig, targets: [CompiledTarget], engine: PolicyEngine, clientKeys: ClientKeyring?) {
        self.loaded = loaded
        self.targets = targets
        self.engine = engine
        self.clientKeys = clientKeys
        self.loadedAt = Date()
    }

    /// Targets that serve `model`, in config order (`model: "*"` serves any model).
    public func candidates(for model: String) -> [CompiledTarget] {
        targets.filter { $0.target.answers(model: model) || $0.target.model == "*" }
    }

    /// Model ids this gateway serves (for /v1/models).
    public var modelIDs: [String] {
        var seen = Set<String>(), out: [String] = []
        for t in targets {
            for m in [t.target.model] + t.target.aliases where m != "*" && seen.insert(m).inserted { out.append(m) }
        }
        return out
    }

    /// Builds a snapshot: resolves secrets, applies the debug override, picks transports.
    public static func build(_ loaded: LoadedConfig, override: UpstreamOverride?, secrets: SecretResolver,
                             httpTransport: any UpstreamTransport, failMode: PolicyEngine.FailMode = .block) throws(KTError) -> GatewaySnapshot {
        let engine: PolicyEngine
        do { engine = try PolicyEngine(config: loaded.config, failMode: failMode) } catch {
            throw KTError(.invalidConfig, "the policy chain could not be compiled: \(error.message)")
        }
        var compiled: [CompiledTarget] = []
        var problems: [String] = []
        for var target in loaded.config.providers.targets {
            if let o = override, target.provider != .mock, target.provider != .anthropic {
                target.baseURL = o.baseURL
                target.provider = .openaiCompatible
                if let h = o.apiKeyHeader { target.apiKeyHeader = h }
                if let p = o.apiKeyPrefix { target.apiKeyPrefix = p } else if o.apiKeyHeader != nil { target.apiKeyPrefix = "" }
                compiled.append(CompiledTarget(target: target, apiKey: o.apiKey, transport: httpTransport,
                                               tls: TLSClientOptions.fromEnvironment(secrets.environment, clientCertificate: false)))
                continue
            }
            switch compile(target, secrets: secrets, httpTransport: httpTransport) {
            case .success(let t): compiled.append(t)
            case .failure(let e): problems.append(e.message)
            }
        }
        var clientKeys: ClientKeyring?
        if let auth = loaded.config.clientAuth {
            do throws(KTError) { clientKeys = try ClientKeyring(auth, secrets: secrets) } catch { problems.append(error.message) }
        }
        if !problems.isEmpty { throw KTError(.secretUnresolved, problems.joined(separator: "\n")) }
        return GatewaySnapshot(loaded: loaded, targets: compiled, engine: engine, clientKeys: clientKeys)
    }

    /// One target ready to call: its secret resolved, its transport chosen (no debug override).
    /// The local doctor uses it target by target, so one bad secret does not hide the others.
    public static func compile(_ target: ProviderTarget, secrets: SecretResolver, httpTransport: any UpstreamTransport) -> Result<CompiledTarget, KTError> {
        var key: String?
        if let ref = target.secretKeyRef {
            do throws(KTError) { key = try secrets.resolve(ref, for: target.id) } catch { return .failure(error) }
        }
        let transport: any UpstreamTransport
        switch target.provider {
        case .mock: transport = MockTransport(settings: target.mock ?? MockSettings())
        case .anthropic: transport = AnthropicTransport(inner: httpTransport, maxTokens: target.maxTokens)
        case .openai, .openaiCompatible, .azureOpenAI: transport = httpTransport
        }
        return .success(CompiledTarget(target: target, apiKey: key, transport: transport,
                                       tls: TLSClientOptions.fromEnvironment(secrets.environment, clientCertificate: false)))
    }
}
