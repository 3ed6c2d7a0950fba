import Foundation
import KTModel

/// Decodes a (merged) policy-config node tree into `PolicyConfig`, strictly, collecting every
/// problem as a diagnostic. Warnings are reported alongside a successful decode.
public enum PolicyConfigDecoder {
    public static let topLevelKeys = ["pack", "providers", "policies", "policy", "size_limits", "global_rate_limit", "user_rate_limit", "client_auth"]

    public struct Result: Sendable {
        public var config: PolicyConfig?
        public var diagnostics: [ConfigDiagnostic]
        public var errors: [ConfigDiagnostic] { diagnostics.filter { $0.severity == .error } }
        public var warnings: [ConfigDiagnostic] { diagnostics.filter { $0.severity == .warning } }
    }

    public static func decode(_ root: YAMLNode) -> Result {
        let d = NodeDecoder()
        let config = decode(root, d)
        return Result(config: d.hasErrors ? nil : config, diagnostics: inFileOrder(d.diagnostics))
    }

    /// Sorted by file position (stable), so errors read top to bottom like the file.
    static func inFileOrder(_ diagnostics: [ConfigDiagnostic]) -> [ConfigDiagnostic] {
        diagnostics.enumerated().sorted { a, b in
            let la = a.element.location.map { ($0.line, $0.column) } ?? (Int.max, 0)
            let lb = b.element.location.map { ($0.line, $0.column) } ?? (Int.max, 0)
            return la != lb ? la < lb : a.offset < b.offset
        }.map(\.element)
    }

    private static func decode(_ root: YAMLNode, _ d: NodeDecoder) -> PolicyConfig? {
        guard let top = d.mapping(root, "", keys: topLevelKeys, required: ["pack", "providers"]) else { return nil }
        let pack = top["pack"].flatMap { decodePack($0, d) }
        let providers = top["providers"].flatMap { decodeProviders($0, d) }
        let errorsBeforeChain = d.diagnostics.filter { $0.code == .unknownPolicyKind }.count
        let (chain, chainNodes) = top["policies"].map { decodeChain($0, d) } ?? ([], [])
        let chainHadUnknownKinds = d.diagnostics.filter { $0.code == .unknownPolicyKind }.count > errorsBeforeChain
        let policies = decodePolicyBlocks(top["policy"], d)
        checkChain(chain, chainNodes, policies, policyNode: top["policy"], reportUnused: !chainHadUnknownKinds, d)
        let sizeLimits = top["size_limits"].map { decodeSizeLimits($0, d) } ?? SizeLimits()
        let global = top["global_rate_limit"].flatMap { decodeRateLimit($0, "global_rate_limit", d) }
        let user = top["user_rate_limit"].flatMap { decodeUserRateLimit($0, d) }
        let clientAuth = top["client_auth"].flatMap { decodeClientAuth($0, d) }
        if let user, user.keyBy == .clientKey, top["client_auth"] == nil {
            d.report(.invalidKeyOrValue, "user_rate_limit.key_by", top["user_rate_limit"],
                     "key_by: client_key needs a client_auth block (clients without keys have no key id to count by)")
        }
        guard let pack, let providers else { return nil }
        return PolicyConfig(pack: pack, providers: providers, chain: chain, policies: policies,
                            sizeLimits: sizeLimits, globalRateLimit: global, userRateLimit: user, clientAuth: clientAuth)
    }

    // MARK: pack

    static func decodePack(_ node: YAMLNode, _ d: NodeDecoder) -> Pack? {
        guard let m = d.mapping(node, "pack", keys: ["name", "version", "enabled", "id", "description"],
                                required: ["name", "version"]) else { return nil }
        let name = d.string(m["name"], "pack.name", maxLength: 200)
        var version = d.string(m["version"], "pack.version")
        if let v = version, !isSemVer(v) {
            d.report(.invalidKeyOrValue, "pack.version", m["version"], "'\(v)' is not a SemVer version (e.g. 1.2.0)")
            version = nil
        }
        let enabled = m["enabled"].map { d.bool($0, "pack.enabled") } ?? true
        var id = m["id"].flatMap { d.string($0, "pack.id", maxLength: 200) }
        if let i = id, !isIdentifier(i) {
            d.report(.invalidKeyOrValue, "pack.id", m["id"], "'\(i)' may only hold letters, digits, '.', '_' and '-'")
            id = nil
        }
        let description = m["description"].flatMap { d.string($0, "pack.description", allowEmpty: true, maxLength: 2000) }
        guard let name, let version, let enabled else { return nil }
        return Pack(name: name, version: version, enabled: enabled, id: id, description: description)
    }

    static func isSemVer(_ s: String) -> Bool {
        // MAJOR.MINOR.PATCH with optional -prerelease and +build, numeric parts without leading zeros.
        var core = Substring(s)
        if let plus = core.firstIndex(of: "+") {
            let build = core[core.index(after: plus)...]
            guard !build.isEmpty, build.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isSemVerIdentifier) else { return false }
            core = core[..<plus]
        }
        if let dash = core.firstIndex(of: "-") {
            let pre = core[core.index(after: dash)...]
            guard !pre.isEmpty, pre.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isSemVerIdentifier) else { return false }
            core = core[..<dash]
        }
        let parts = core.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 3 && parts.allSatisfy { p in
            !p.isEmpty && p.allSatisfy(\.isASCII) && p.allSatisfy(\.isNumber) && (p == "0" || p.first != "0")
        }
    }

    private static func isSemVerIdentifier(_ s: Substring) -> Bool {
        !s.isEmpty && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
    }

    static func isIdentifier(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 128 && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }

    // MARK: providers

    static let targetKeys = ["id", "provider", "model", "aliases", "base_url", "secret_key_ref", "timeout_ms",
                             "api_key_header", "api_key_prefix", "deployment", "api_version", "mock", "max_tokens"]

    static func decodeProviders(_ node: YAMLNode, _ d: NodeDecoder) -> Providers? {
        guard let m = d.mapping(node, "providers", keys: ["targets", "routing", "fallback", "circuit_breaker"],
                                required: ["targets"]) else { return nil }
        var targets: [ProviderTarget] = []
        var seen: [String: SourceLocation] = [:]
        var targetsOK = true
        if let items = d.list(m["targets"], "providers.targets") {
            if items.isEmpty {
                d.report(.providerWiring, "providers.targets", m["targets"], "at least one provider target is required")
                targetsOK = false
            }
            for (item, path) in items {
                guard let target = decodeTarget(item, path, d) else { targetsOK = false; continue }
                if let first = seen[target.id] {
                    d.report(.providerWiring, "\(path).id", item["id"] ?? item,
                             "duplicate target id '\(target.id)' (first defined at line \(first.line))")
                    targetsOK = false
                    continue
                }
                seen[target.id] = item["id"]?.location ?? item.location
                targets.append(target)
            }
        } else {
            targetsOK = false
        }

        var routing = Routing()
        if let r = m["routing"], let rm = d.mapping(r, "providers.routing", keys: ["strategy"]) {
            if let s = d.enumValue(rm["strategy"], "providers.routing.strategy", as: Routing.Strategy.self) { routing.strategy = s }
        }
        var fallback = Fallback()
        if let f = m["fallback"], let fm = d.mapping(f, "providers.fallback", keys: ["triggers", "max_fallback_attempts", "retry_within_ms"]) {
            if let items = d.list(fm["triggers"], "providers.fallback.triggers") {
                let triggers = items.compactMap { d.enumValue($0.0, $0.1, as: Fallback.Trigger.self) }
                if triggers.count == items.count { fallback.triggers = triggers }
            }
            if let n = d.int(fm["max_fallback_attempts"], "providers.fallback.max_fallback_attempts", range: 0...10) { fallback.maxFallbackAttempts = n }
            if let n = d.int(fm["retry_within_ms"], "providers.fallback.retry_within_ms", range: 0...600_000) { fallback.retryWithinMs = n }
        }
        var breaker = CircuitBreakerSettings()
        if let c = m["circuit_breaker"], let cm = d.mapping(c, "providers.circuit_breaker", keys: ["failure_threshold", "cooldown_seconds"]) {
            if let n = d.int(cm["failure_threshold"], "providers.circuit_breaker.failure_threshold", range: 1...10_000) { breaker.failureThreshold = n }
            if let n = d.int(cm["cooldown_seconds"], "providers.circuit_breaker.cooldown_seconds", range: 1...86_400) { breaker.cooldownSeconds = n }
        }
        guard targetsOK else { return nil }
        return Providers(targets: targets, routing: routing, fallback: fallback, circuitBreaker: breaker)
    }

    static func decodeTarget(_ node: YAMLNode, _ path: String, _ d: NodeDecoder) -> ProviderTarget? {
        guard let m = d.mapping(node, path, keys: targetKeys, required: ["id", "provider", "model"]) else { return nil }
        let before = d.diagnostics.count
        var id = d.string(m["id"], "\(path).id", maxLength: 128)
        if let i = id, !isIdentifier(i) {
            d.report(.invalidKeyOrValue, "\(path).id", m["id"], "target id '\(i)' may only hold letters, digits, '.', '_' and '-'")
            id = nil
        }
        let kind = d.enumValue(m["provider"], "\(path).provider", as: ProviderKind.self)
        let model = d.string(m["model"], "\(path).model", maxLength: 256)
        let aliases = m["aliases"].flatMap { d.stringList($0, "\(path).aliases") } ?? []
        let timeout = m["timeout_ms"].flatMap { d.int($0, "\(path).timeout_ms", range: 1...3_600_000) } ?? 60_000
        let header = m["api_key_header"].flatMap { d.string($0, "\(path).api_key_header") }
        if let h = header, !h.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) {
            d.report(.invalidKeyOrValue, "\(path).api_key_header", m["api_key_header"], "'\(h)' is not a valid HTTP header name")
        }
        let prefix = m["api_key_prefix"].flatMap { d.string($0, "\(path).api_key_prefix", allowEmpty: true) }

        // Wiring rules depend on the provider kind.
        var baseURL: String?
        if let b = m["base_url"] {
            if let text = d.string(b, "\(path).base_url") {
                if let problem = baseURLProblem(text) {
                    d.report(.providerWiring, "\(path).base_url", b, "bad base_url '\(text)': \(problem)")
                } else {
                    baseURL = text
                }
            }
        } else if let kind, kind == .openaiCompatible || kind == .azureOpenAI {
            d.report(.providerWiring, "\(path).base_url", node, "target '\(id ?? "?")' (\(kind.rawValue)) needs a base_url")
        }
        var secret: SecretRef?
        if let s = m["secret_key_ref"] {
            secret = decodeSecretRef(s, "\(path).secret_key_ref", d)
        } else if let kind, kind.requiresSecret {
            d.report(.providerWiring, "\(path).secret_key_ref", node,
                     "target '\(id ?? "?")' (\(kind.rawValue)) has no secret_key_ref; add { env: VAR } or { file: PATH }")
        }
        var deployment: String?, apiVersion: String?
        for key in ["deployment", "api_version"] where m[key] != nil && kind != nil && kind != .azureOpenAI {
            d.report(.invalidKeyOrValue, "\(path).\(key)", m[key], "'\(key)' only applies to provider azure-openai")
        }
        if kind == .azureOpenAI {
            deployment = m["deployment"].flatMap { d.string($0, "\(path).deployment") }
            apiVersion = m["api_version"].flatMap { d.string($0, "\(path).api_version") }
        }
        var maxTokens: Int?
        if let mt = m["max_tokens"] {
            if kind != nil && kind != .anthropic {
                d.report(.invalidKeyOrValue, "\(path).max_tokens", mt, "'max_tokens' only applies to provider anthropic (its Messages API requires one)")
            } else {
                maxTokens = d.int(mt, "\(path).max_tokens", range: 1...1_000_000)
            }
        }
        var mock: MockSettings?
        if let mn = m["mock"] {
            if kind != nil && kind != .mock {
                d.report(.invalidKeyOrValue, "\(path).mock", mn, "'mock' settings only apply to provider mock")
            } else {
                mock = decodeMock(mn, "\(path).mock", d)
            }
        } else if kind == .mock {
            mock = MockSettings()
        }
        guard d.diagnostics.count == before || !d.diagnostics[before...].contains(where: { $0.severity == .error }),
              let id, let kind, let model else { return nil }
        return ProviderTarget(id: id, provider: kind, model: model, aliases: aliases, baseURL: baseURL, secretKeyRef: secret,
                              timeoutMs: timeout, apiKeyHeader: header, apiKeyPrefix: prefix, deployment: deployment,
                              apiVersion: apiVersion, mock: mock, maxTokens: maxTokens)
    }

    public static func baseURLProblem(_ text: String) -> String? {
        guard let url = URLComponents(string: text) else { return "not a URL" }
        guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            return "the scheme must be http or https"
        }
        guard let host = url.host, !host.isEmpty else { return "it has no host" }
        if url.query != nil || url.fragment != nil { return "it must not carry a query or fragment" }
        if url.user != nil || url.password != nil { return "credentials belong in secret_key_ref, not the URL" }
        return nil
    }

    static func decodeSecretRef(_ node: YAMLNode, _ path: String, _ d: NodeDecoder, name: String = "secret_key_ref") -> SecretRef? {
        guard let m = d.mapping(node, path, keys: ["env", "file"]) else { return nil }
        switch (m["env"], m["file"]) {
        case (let e?, nil):
            guard let name = d.string(e, "\(path).env") else { return nil }
            guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }), !(name.first?.isNumber ?? true) else {
                d.report(.providerWiring, "\(path).env", e, "'\(name)' is not a valid environment variable name")
                return nil
            }
            return .env(name)
        case (nil, let f?):
            return d.string(f, "\(path).file").map(SecretRef.file)
        case (.some, .some):
            d.report(.providerWiring, path, node, "\(name) takes exactly one of 'env' or 'file', not both")
        case (nil, nil):
            d.report(.providerWiring, path, node, "\(name) needs 'env' or 'file'")
        }
        return nil
    }

    static func decodeMock(_ node: YAMLNode, _ path: String, _ d: NodeDecoder) -> MockSettings? {
        guard let m = d.mapping(node, path, keys: ["response", "latency_ms", "failure_rate", "chunk_chars"]) else { return nil }
        var s = MockSettings()
        s.response = m["response"].flatMap { d.string($0, "\(path).response", allowEmpty: true) }
        if let n = d.int(m["latency_ms"], "\(path).latency_ms", range: 0...600_000) { s.latencyMs = n }
        if let r = d.double(m["failure_rate"], "\(path).failure_rate", range: 0...1) { s.failureRate = r }
        if let c = d.int(m["chunk_chars"], "\(path).chunk_chars", range: 1...65_536) { s.chunkChars = c }
        return s
    }

    // MARK: policies

    static func decodeChain(_ node: YAMLNode, _ d: NodeDecoder) -> ([PolicyKind], [YAMLNode]) {
        guard let m = d.mapping(node, "policies", keys: ["chain"]) else { return ([], []) }
        guard let items = d.list(m["chain"], "policies.chain") else { return ([], []) }
        var chain: [PolicyKind] = [], nodes: [YAMLNode] = []
        let known = PolicyKind.allCases.map(\.rawValue)
        for (item, path) in items {
            guard let name = d.string(item, path) else { continue }
            guard let kind = PolicyKind(rawValue: name) else {
                d.report(.unknownPolicyKind, path, item, "unknown policy kind '\(name)'",
                         suggestion: Suggestion.closest(to: name, in: known))
                continue
            }
            if chain.contains(kind) {
                d.report(.invalidKeyOrValue, path, item, "policy '\(name)' appears twice in the chain")
                continue
            }
            chain.append(kind)
            nodes.append(item)
        }
        return (chain, nodes)
    }

    static func checkChain(_ chain: [PolicyKind], _ nodes: [YAMLNode], _ policies: PolicySettingsSet,
                           policyNode: YAMLNode?, reportUnused: Bool, _ d: NodeDecoder) {
        for (index, kind) in chain.enumerated() where !policies.has(kind) {
            // A block that failed to decode was already reported; only flag blocks that are absent.
            if policyNode?[kind.rawValue] == nil {
                d.report(.missingPolicyBlock, "policies.chain[\(index)]", nodes[index],
                         "chain entry '\(kind.rawValue)' has no policy.\(kind.rawValue) block; add one (`{}` for all defaults)")
            }
        }
        if let last = chain.firstIndex(of: .auditLogger), last != chain.count - 1 {
            d.report(.auditLoggerNotLast, "policies.chain[\(last)]", nodes[last],
                     "audit-logger is not last in the chain; decisions of later policies will not be recorded",
                     severity: .warning)
        }
        // After a misspelt chain entry the "unused block" warning would only repeat the E001.
        if reportUnused, let pairs = policyNode?.mappingPairs {
            for pair in pairs {
                if let kind = PolicyKind(rawValue: pair.key), !chain.contains(kind) {
                    d.report(.unusedPolicyBlock, "policy.\(pair.key)", at: pair.keyLocation,
                             "policy.\(pair.key) is configured but not in policies.chain; it has no effect", severity: .warning)
                }
            }
        }
        if let pi = policies.promptInjection, pi.threshold < 0.5, chain.contains(.promptInjection) {
            d.report(.lowInjectionThreshold, "policy.prompt-injection.threshold", policyNode?["prompt-injection"]?["threshold"],
                     "threshold \(pi.threshold) is below 0.5; expect many benign prompts to be blocked", severity: .warning)
        }
    }

    static func decodePolicyBlocks(_ node: YAMLNode?, _ d: NodeDecoder) -> PolicySettingsSet {
        var set = PolicySettingsSet()
        guard let node else { return set }
        guard let m = d.mapping(node, "policy", keys: PolicyKind.allCases.map(\.rawValue),
                                unknownCode: .unknownPolicyKind, what: "policy kind") else { return set }
        for kind in PolicyKind.allCases {
            guard let block = m[kind.rawValue] else { continue }
            let path = "policy.\(kind.rawValue)"
            switch kind {
            case .promptInjection: set.promptInjection = decodePromptInjection(block, path, d)
            case .piiDetector: set.piiDetector = decodePII(block, path, d)
            case .dlpFilter: set.dlpFilter = decodeDLP(block, path, d)
            case .safetyFilter: set.safetyFilter = decodeSafety(block, path, d)
            case .responseRewriter: set.responseRewriter = decodeRewriter(block, path, d)
            case .auditLogger: set.auditLogger = decodeAudit(block, path, d)
            }
        }
        return set
    }

    static func decodePromptInjection(_ node: YAMLNode, _ path: String, _ d: NodeDecoder) -> PromptInjectionSettings? {
        guard let m = d.mapping(node, path, keys: ["threshold", "action", "message", "attack_patterns", "encoding", "scan_roles"]) else { return nil }
        var s = PromptInjectionSettings()
        if let t = d.double(m["threshold"], "\(path).threshold", range: 0...1) { s.threshold = t }
        if let a = d.enumValue(m["action"], "\(path).action", as: PromptInjectionSettings.Action.self) { s.action = a }
        s.message = m["message"].flatMap { d.string($0, "\(path).message", maxLength: 2000) }
        if let p = d.namedPatterns(m["attack_patterns"], "\(path).attack_patterns", defaultPrefix: "attack_pattern") { s.attackPatterns = p }
        if let e = m["encoding"], let em = d.mapping(e, "\(path).encoding", keys: ["decode_base64", "normalize_unicode", "detect_homoglyphs"]) {
            if let b = d.bool(em["decode_base64"], "\(path).encoding.decode_base64") { s.encoding.decodeBase64 = b }
            if let b = d.bool(em["normalize_unicode"], "\(path).encoding.normalize_unicode") { s.encoding.normalizeUnicode = b }
            if let b = d.bool(em["detect_homoglyphs"], "\(path).encoding.detect_homoglyphs") { s.encoding.detectHomoglyphs = b }
        }
        if let items = d.list(m["scan_roles"], "\(path).scan_roles") {
            let roles = ["system", "developer", "user", "assistant", "tool"]
            var out: [String] = []
            for (item, p) in items {
                guard let r = d.string(item, p) else { continue }
                if roles.contains(r) { out.append(r) } else {
                    d.report(.invalidKeyOrValue, p, item, "'\(r)' is not a message role (\(roles.joined(separator: ", ")))",
                             suggestion: Suggestion.closest(to: r, in: roles))
                }
            }
            s.scanRoles = out
        }
        return s
    }

    static func decodePII(_ node: YAMLNode, _ path: String, _ d: NodeDecoder) -> PIIDetectorSettings? {
        guard let m = d.mapping(node, path, keys: ["action", "entities", "pci_mode", "detect_patterns", "redaction", "scan_responses"]) else { return nil }
        var s = PIIDetectorSettings()
        if let a = d.enumValue(m["action"], "\(path).action", as: PIIDetectorSettings.Action.self) { s.action = a }
        if let items = d.list(m["entities"], "\(path).entities") {
            s.entities = items.compactMap { d.enumValue($0.0, $0.1, as: PIIEntity.self) }
        }
        if let b = d.bool(m["pci_mode"], "\(path).pci_mode") { s.pciMode = b }
        if let p = d.namedPatterns(m["detect_patterns"], "\(path).detect_patterns", defaultPrefix: "custom") { s.detectPatterns = p }
        if let r = m["redaction"], let rm = d.mapping(r, "\(path).redaction", keys: ["marker_format"]) {
            if let f = d.enumValue(rm["marker_format"], "\(path).redaction.marker_format", as: RedactionMarkerFormat.self) { s.markerFormat = f }
        }
        if let b = d.bool(m["scan_responses"], "\(path).scan_responses") { s.scanResponses = b }
        return s
    }

    static func decodeDLP(_ node: YAMLNode, _ path: String, _ d: NodeDecoder) -> DLPFilterSettings? {
        guard let m = d.mapping(node, path, keys: ["detect_patterns", "blocked_terms", "action", "fuzzy_matching", "max_distance"]) else { return nil }
        var s = DLPFilterSettings()
        if let p = d.namedPatterns(m["detect_patterns"], "\(path).detect_patterns", defaultPrefix: "dlp") { s.detectPatterns = p }
        if let t = d.stringList(m["blocked_terms"], "\(path).blocked_terms") { s.blockedTerms = t }
        if let a = d.enumValue(m["action"], "\(path).action", as: DLPFilterSettings.Action.self) { s.action = a }
        if let b = d.bool(m["fuzzy_matching"], "\(path).fuzzy_matching") { s.fuzzyMatching = b }
        if let n = d.int(m["max_distance"], "\(path).max_distance", range: 0...3) { s.maxDistance = n }
        return s
    }

    static func decodeSafety(_ node: YAMLNode, _ path: String, _ d: NodeDecoder) -> SafetyFilterSettings? {
        guard let m = d.mapping(node, path, keys: ["block_if", "action"]) else { return nil }
        var s = SafetyFilterSettings()
        if let items = d.list(m["block_if"], "\(path).block_if") {
            for (item, p) in items {
                guard let term = d.string(item, p) else { continue }
                // `/.../` marks a regex; check it compiles.
                if term.count >= 2, term.hasPrefix("/"), term.hasSuffix("/") {
                    if (try? NSRegularExpression(pattern: String(term.dropFirst().dropLast()))) == nil {
                        d.report(.invalidKeyOrValue, p, item, "invalid regular expression \(term)")
                        continue
                    }
                    d.warnIfRisky(String(term.dropFirst().dropLast()), p, item)
                }
                s.blockIf.append(term)
            }
        }
        if let a = d.enumValue(m["action"], "\(path).action", as: SafetyFilterSettings.Action.self) { s.action = a }
        return s
    }

    static func decodeRewriter(_ node: YAMLNode, _ path: String, _ d: NodeDecoder) -> ResponseRewriterSettings? {
        guard let m = d.mapping(node, path, keys: ["rules"]) else { return nil }
        var s = ResponseRewriterSettings()
        for (item, p) in d.list(m["rules"], "\(path).rules") ?? [] {
            guard let rm = d.mapping(item, p, keys: ["name", "pattern", "replacement", "position"], required: ["name", "replacement"]) else { continue }
            let name = d.string(rm["name"], "\(p).name")
            let replacement = d.string(rm["replacement"], "\(p).replacement", allowEmpty: true)
            let position = rm["position"].map { d.enumValue($0, "\(p).position", as: ResponseRewriterSettings.Rule.Position.self) } ?? .replace
            let pattern = rm["pattern"].flatMap { d.regex($0, "\(p).pattern") }
            if position == .replace, rm["pattern"] == nil {
                d.report(.invalidKeyOrValue, "\(p).pattern", item, "a rule with position 'replace' needs a pattern")
            }
            if let name, let replacement, let position {
                s.rules.append(.init(name: name, pattern: pattern, replacement: replacement, position: position))
            }
        }
        return s
    }

    static func decodeAudit(_ node: YAMLNode, _ path: String, _ d: NodeDecoder) -> AuditLoggerSettings? {
        guard let m = d.mapping(node, path, keys: ["retention_days", "immutable", "include_content", "durability"]) else { return nil }
        var s = AuditLoggerSettings()
        if let n = d.int(m["retention_days"], "\(path).retention_days", range: 1...36_500) { s.retentionDays = n }
        if let b = d.bool(m["immutable"], "\(path).immutable") { s.immutable = b }
        if let b = d.bool(m["include_content"], "\(path).include_content") { s.includeContent = b }
        if let v = d.enumValue(m["durability"], "\(path).durability", as: AuditLoggerSettings.Durability.self) { s.durability = v }
        return s
    }

    // MARK: limits

    static func decodeSizeLimits(_ node: YAMLNode, _ d: NodeDecoder) -> SizeLimits {
        var s = SizeLimits()
        guard let m = d.mapping(node, "size_limits", keys: ["max_body_bytes", "max_response_bytes"]) else { return s }
        if let n = d.int(m["max_body_bytes"], "size_limits.max_body_bytes", range: 1...(256 << 20)) { s.maxBodyBytes = n }
        if let n = d.int(m["max_response_bytes"], "size_limits.max_response_bytes", range: 1...(1 << 30)) { s.maxResponseBytes = n }
        return s
    }

    static func decodeRateLimit(_ node: YAMLNode, _ path: String, _ d: NodeDecoder) -> RateLimit? {
        guard let m = d.mapping(node, path, keys: ["max_requests", "window_seconds"], required: ["max_requests", "window_seconds"]) else { return nil }
        guard let n = d.int(m["max_requests"], "\(path).max_requests", range: 1...100_000_000),
              let w = d.int(m["window_seconds"], "\(path).window_seconds", range: 1...86_400) else { return nil }
        return RateLimit(maxRequests: n, windowSeconds: w)
    }

    static func decodeUserRateLimit(_ node: YAMLNode, _ d: NodeDecoder) -> UserRateLimit? {
        let path = "user_rate_limit"
        guard let m = d.mapping(node, path, keys: ["max_requests", "window_seconds", "header_names", "key_by"], required: ["max_requests", "window_seconds"]) else { return nil }
        let n = d.int(m["max_requests"], "\(path).max_requests", range: 1...100_000_000)
        let w = d.int(m["window_seconds"], "\(path).window_seconds", range: 1...86_400)
        var headers = ["x-user-id"]
        if let h = d.stringList(m["header_names"], "\(path).header_names") {
            if h.isEmpty { d.report(.outOfRange, "\(path).header_names", m["header_names"], "needs at least one header name") }
            else { headers = h.map { $0.lowercased() } }
        }
        var keyBy = UserRateLimit.KeyBy.header
        if let k = m["key_by"], let text = d.string(k, "\(path).key_by") {
            if let parsed = UserRateLimit.KeyBy(rawValue: text) { keyBy = parsed }
            else { d.report(.invalidKeyOrValue, "\(path).key_by", k, "key_by must be header or client_key, not '\(text.prefix(40))'") }
        }
        if keyBy == .clientKey, m["header_names"] != nil {
            d.report(.invalidKeyOrValue, "\(path).header_names", m["header_names"], "header_names is not used with key_by: client_key; remove one of them")
        }
        guard let n, let w else { return nil }
        return UserRateLimit(maxRequests: n, windowSeconds: w, headerNames: headers, keyBy: keyBy)
    }

    // MARK: client_auth

    static let maxClientKeys = 10_000

    static func decodeClientAuth(_ node: YAMLNode, _ d: NodeDecoder) -> ClientAuth? {
        let path = "client_auth"
        guard let m = d.mapping(node, path, keys: ["header", "keys"], required: ["keys"]) else { return nil }
        var header = ClientAuth.Header.authorization
        if let h = m["header"], let text = d.string(h, "\(path).header") {
            if let parsed = ClientAuth.Header(rawValue: text.lowercased()) { header = parsed }
            else { d.report(.invalidKeyOrValue, "\(path).header", h, "header must be authorization or x-api-key, not '\(text.prefix(40))'") }
        }
        guard let list = m["keys"], let items = d.list(list, "\(path).keys")?.map(\.0) else { return nil }
        if items.isEmpty { d.report(.outOfRange, "\(path).keys", list, "needs at least one key; remove client_auth to leave the gateway open") }
        if items.count > maxClientKeys { d.report(.outOfRange, "\(path).keys", list, "has \(items.count) keys; at most \(maxClientKeys) are accepted") }
        var keys: [ClientAuth.Key] = []
        var seenIDs: Set<String> = [], seenHashes: Set<String> = []
        for (i, item) in items.enumerated() {
            let kp = "\(path).keys[\(i)]"
            guard let km = d.mapping(item, kp, keys: ["id", "sha256", "key_ref"], required: ["id"]) else { continue }
            guard let id = d.string(km["id"], "\(kp).id", maxLength: 128) else { continue }
            guard isIdentifier(id) else {
                d.report(.invalidKeyOrValue, "\(kp).id", km["id"], "'\(id)' may only hold letters, digits, '.', '_' and '-'")
                continue
            }
            if !seenIDs.insert(id).inserted { d.report(.invalidKeyOrValue, "\(kp).id", km["id"], "key id '\(id)' is used twice") }
            switch (km["sha256"], km["key_ref"]) {
            case (let h?, nil):
                guard let text = d.string(h, "\(kp).sha256") else { continue }
                let hex = text.lowercased()
                guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
                    d.report(.invalidKeyOrValue, "\(kp).sha256", h, "must be the 64 hex digits of the key's SHA-256 (printf %s \"$KEY\" | sha256sum), never the key itself")
                    continue
                }
                if !seenHashes.insert(hex).inserted { d.report(.invalidKeyOrValue, "\(kp).sha256", h, "the same key hash is listed twice") }
                keys.append(.init(id: id, source: .sha256(hex)))
            case (nil, let r?):
                guard let ref = decodeSecretRef(r, "\(kp).key_ref", d, name: "key_ref") else { continue }
                keys.append(.init(id: id, source: .ref(ref)))
            case (.some, .some):
                d.report(.invalidKeyOrValue, kp, item, "a key takes exactly one of sha256 or key_ref, not both")
            case (nil, nil):
                d.report(.invalidKeyOrValue, kp, item, "a key needs sha256: <hex SHA-256 of the key> or key_ref: { env: VAR } / { file: PATH }")
            }
        }
        return ClientAuth(header: header, keys: keys)
    }
}
