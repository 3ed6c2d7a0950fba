import KTTestSupport
import Testing
import KTModel
@testable import KTConfig

@Suite struct PolicyConfigDecoderTests {
    let loader = ConfigLoader()

    @Test(arguments: ["valid/quick-launch.yaml", "valid/mock-quick-launch.yaml", "valid/multi-provider.yaml",
                      "valid/full.yaml", "valid/passthrough.json"])
    func validFixturesLoad(_ file: String) throws {
        let loaded = try loader.load(paths: [Fixtures.path(file)])
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.sha.count == 12)
    }

    @Test func seedConfigDecodesToTheSpecValues() throws {
        let c = try loader.load(paths: [Fixtures.path("valid/quick-launch.yaml")]).config
        #expect(c.pack.name == "quick-launch" && c.pack.version == "0.1.0" && c.pack.id == "cfg_quick_launch")
        #expect(c.chain == [.promptInjection, .piiDetector, .auditLogger])
        #expect(c.policies.promptInjection?.threshold == 0.8)
        #expect(c.policies.auditLogger?.retentionDays == 30)
        let t = try #require(c.providers.targets.first)
        #expect(t.secretKeyRef == .env("OPENAI_API_KEY") && t.apiKeyPrefix == "Bearer ")
        #expect(c.userRateLimit?.headerNames == ["x-user-id"])
        #expect(c.providers.fallback.triggers == [.rateLimit, .serverError, .timeout, .connectError])
    }

    @Test func everyFieldOfTheFullConfigIsDecoded() throws {
        let c = try loader.load(paths: [Fixtures.path("valid/full.yaml")]).config
        #expect(c.providers.routing.strategy == .lowestLatency)
        #expect(c.providers.circuitBreaker == CircuitBreakerSettings(failureThreshold: 3, cooldownSeconds: 10))
        let azure = try #require(c.providers.targets.first { $0.id == "azure-us" })
        #expect(azure.deployment == "gpt54" && azure.apiVersion == "2024-10-21" && azure.apiKeyHeader == "api-key")
        #expect(azure.secretKeyRef == .file("/run/secrets/azure"))
        let mock = try #require(c.providers.targets.first { $0.provider == .mock }?.mock)
        #expect(mock.latencyMs == 5 && mock.chunkChars == 8 && mock.response?.hasPrefix("The service") == true)
        #expect(c.policies.promptInjection?.attackPatterns.map(\.name) == ["attack_pattern_0", "dan_mode"])
        #expect(c.policies.piiDetector?.scanResponses == true && c.policies.piiDetector?.detectPatterns.first?.name == "employee_id")
        #expect(c.policies.dlpFilter?.action == .block && c.policies.dlpFilter?.blockedTerms.count == 2)
        #expect(c.policies.safetyFilter?.blockIf.count == 2)
        #expect(c.policies.responseRewriter?.rules.map(\.position) == [.append, .replace])
        #expect(c.policies.auditLogger?.durability == .strict)
        #expect(c.sizeLimits.maxBodyBytes == 2_097_152)
        #expect(c.userRateLimit?.headerNames == ["x-user-id", "x-api-user"])
    }

    @Test func defaultsApplyToEmptyBlocks() throws {
        let c = try loader.load(paths: [Fixtures.path("valid/multi-provider.yaml")]).config
        #expect(c.policies.piiDetector == PIIDetectorSettings())
        #expect(c.policies.auditLogger?.retentionDays == 365)
        #expect(c.providers.targets[1].apiKeyHeader == "api-key")  // azure default
        #expect(c.pack.id == "cfg_multi_provider")
    }

    struct Expected: Sendable, CustomStringConvertible {
        var file: String, code: String, path: String, line: Int, column: Int, suggestion: String?
        var description: String { file }
    }

    @Test(arguments: [
        Expected(file: "E001-unknown-policy-kind.yaml", code: "E001", path: "policies.chain[0]", line: 9, column: 7, suggestion: "prompt-injection"),
        Expected(file: "E002-unknown-key.yaml", code: "E002", path: "policy.prompt-injection.treshold", line: 11, column: 5, suggestion: "threshold"),
        Expected(file: "E003-missing-policy-block.yaml", code: "E003", path: "policies.chain[1]", line: 8, column: 29, suggestion: nil),
        Expected(file: "E004-yaml-syntax.yaml", code: "E004", path: "", line: 8, column: 6, suggestion: nil),
        Expected(file: "E005-duplicate-target.yaml", code: "E005", path: "providers.targets[1].id", line: 10, column: 11, suggestion: nil),
        Expected(file: "E005-missing-secret.yaml", code: "E005", path: "providers.targets[0].secret_key_ref", line: 6, column: 7, suggestion: nil),
        Expected(file: "E005-bad-base-url.yaml", code: "E005", path: "providers.targets[0].base_url", line: 9, column: 17, suggestion: nil),
        Expected(file: "E006-out-of-range.yaml", code: "E006", path: "policy.prompt-injection.threshold", line: 10, column: 34, suggestion: nil),
    ])
    func invalidFixtureReportsCodePathAndPosition(_ e: Expected) throws {
        let report = try ConfigLinter.lint(paths: [Fixtures.path("invalid/\(e.file)")])
        #expect(!report.valid && report.exitCode == 2)
        let first = try #require(report.errors.first)
        #expect(first.code.rawValue == e.code)
        #expect(first.path == e.path)
        #expect(first.location?.line == e.line)
        #expect(first.location?.column == e.column)
        #expect(first.suggestion == e.suggestion)
    }

    @Test func allErrorsAreReportedNotJustTheFirst() throws {
        let report = try ConfigLinter.lint(paths: [Fixtures.path("invalid/E006-out-of-range.yaml")])
        #expect(report.errors.map(\.path) == ["policy.prompt-injection.threshold", "policy.audit-logger.retention_days"])
    }

    @Test func auditLoggerNotLastWarns() throws {
        let report = try ConfigLinter.lint(paths: [Fixtures.path("warnings/W001-audit-not-last.yaml")])
        #expect(report.valid && report.exitCode == 0)
        #expect(report.warnings.map(\.code) == [.auditLoggerNotLast])
    }

    @Test func nestedQuantifiersWarnW005() throws {
        let report = try ConfigLinter.lint(paths: [Fixtures.path("warnings/W005-nested-quantifier.yaml")])
        #expect(report.valid)
        #expect(report.warnings.map(\.code) == [.riskyRegex])
        #expect(report.warnings.first?.path == "policy.dlp-filter.detect_patterns[0].pattern")
    }

    @Test func regexRiskFindsNestedQuantifiersOnly() {
        for risky in ["(a+)+$", "(\\w*)*x", "((ab)+c)*", "(x+y?){2,}", "(?:a{2,})+", "(a|b+)*"] {
            #expect(RegexRisk.nestedQuantifier(in: risky) != nil, "\(risky)")
        }
        for safe in ["a+b+", "(ab)+", "[a+]+", "\\(a+\\)+", "(a{2})+", "\\d{3}-\\d{4}", "(?:ab|cd)?", "(a+)?"] {
            #expect(RegexRisk.nestedQuantifier(in: safe) == nil, "\(safe)")
        }
    }

    func diagnostics(_ yaml: String) -> [ConfigDiagnostic] {
        do {
            _ = try loader.load(text: yaml, name: "t.yaml")
            return []
        } catch {
            return error.diagnostics
        }
    }

    static let base = """
        pack: { name: t, version: 1.0.0 }
        providers:
          targets:
            - { id: m, provider: mock, model: x }

        """

    @Test func wrongTypesAndMissingFieldsAreE002() {
        let d = diagnostics(Self.base + "policies: { chain: [audit-logger] }\npolicy:\n  audit-logger: { immutable: maybe, retention_days: ten }\n")
        #expect(d.map(\.code) == [.invalidKeyOrValue, .invalidKeyOrValue])
        #expect(d[0].message.contains("true or false") && d[1].message.contains("integer"))
        let missing = diagnostics("pack: { name: t }\nproviders: { targets: [ { id: m, provider: mock, model: x } ] }\n")
        #expect(missing.first?.path == "pack.version" && missing.first?.message.contains("missing required") == true)
    }

    @Test func enumValuesSuggestTheIntendedOne() {
        let d = diagnostics(Self.base + "policies: { chain: [pii-detector] }\npolicy:\n  pii-detector: { action: redcat, entities: [emial] }\n")
        #expect(d.map(\.suggestion) == ["redact", "email"])
    }

    @Test func unknownPolicyBlockKindIsE001() {
        let d = diagnostics(Self.base + "policy:\n  pii-detecter: {}\n")
        #expect(d.first?.code == .unknownPolicyKind && d.first?.suggestion == "pii-detector")
    }

    @Test func invalidRegexAndSemVerAreReported() {
        let d = diagnostics("""
            pack: { name: t, version: "1.0" }
            providers: { targets: [ { id: m, provider: mock, model: x } ] }
            policies: { chain: [dlp-filter] }
            policy: { dlp-filter: { detect_patterns: ["([a-z"] } }
            """)
        #expect(d.map(\.path) == ["pack.version", "policy.dlp-filter.detect_patterns[0]"])
    }

    @Test func emptyChainIsAValidPassthrough() throws {
        let loaded = try loader.load(text: Self.base + "policies: { chain: [] }\npolicy: {}\n", name: "t")
        #expect(loaded.config.chain.isEmpty)
    }

    @Test func providerWiringRules() {
        let both = diagnostics("""
            pack: { name: t, version: 1.0.0 }
            providers:
              targets:
                - { id: a, provider: openai, model: x, secret_key_ref: { env: A, file: /x } }
                - { id: b, provider: openai-compatible, model: x }
                - { id: c, provider: openai, model: x, base_url: "https://u:p@h.example", secret_key_ref: { env: "1BAD" } }
            """)
        #expect(both.allSatisfy { $0.code == .providerWiring })
        #expect(both.count == 4)
    }

    @Test func layeringMergesMapsAndReplacesLists() throws {
        let dir = try Fixtures.tempDir()
        let overlay = (dir as NSString).appendingPathComponent("overlay.yaml")
        try "policy:\n  prompt-injection: { threshold: 0.9 }\npolicies:\n  chain: [prompt-injection]\n"
            .write(toFile: overlay, atomically: true, encoding: .utf8)
        let loaded = try loader.load(paths: [Fixtures.path("valid/quick-launch.yaml"), overlay])
        #expect(loaded.config.policies.promptInjection?.threshold == 0.9)
        #expect(loaded.config.policies.promptInjection?.action == .block)  // merged, not replaced
        #expect(loaded.config.chain == [.promptInjection])                  // list replaced
        #expect(loaded.config.pack.name == "quick-launch")
        // The layered result now has unused blocks: a warning, not an error.
        #expect(loaded.warnings.map(\.code).contains(.unusedPolicyBlock))
    }
}

import Foundation
