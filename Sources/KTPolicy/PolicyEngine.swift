import Foundation
import KTModel

/// The chain of one config, compiled once (regexes compiled, the detector loaded) and shared by
/// every request until a reload swaps in a new engine.
public final class PolicyEngine: Sendable {
    public enum FailMode: String, Sendable { case block, allow }

    public let chain: [any CompiledPolicy]
    public let failMode: FailMode
    public let auditSettings: AuditLoggerSettings?

    public init(config: PolicyConfig, failMode: FailMode = .block) throws(PolicyError) {
        var compiled: [any CompiledPolicy] = []
        for kind in config.chain {
            let s = config.policies
            switch kind {
            case .promptInjection: compiled.append(try PromptInjectionPolicy(settings: s.promptInjection ?? .init()))
            case .piiDetector: compiled.append(try PIIPolicy(settings: s.piiDetector ?? .init()))
            case .dlpFilter: compiled.append(try DLPPolicy(settings: s.dlpFilter ?? .init()))
            case .safetyFilter: compiled.append(try SafetyPolicy(settings: s.safetyFilter ?? .init()))
            case .responseRewriter: compiled.append(try RewriterPolicy(settings: s.responseRewriter ?? .init()))
            case .auditLogger: compiled.append(AuditPolicy())
            }
        }
        self.chain = compiled
        self.failMode = failMode
        self.auditSettings = config.chain.contains(.auditLogger) ? (config.policies.auditLogger ?? .init()) : nil
    }

    public var isEmpty: Bool { chain.isEmpty }

    public func hasPolicies(for phase: PolicyKind.Phase) -> Bool {
        chain.contains { $0.kind != .auditLogger && $0.runs(in: phase) }
    }

    /// The hold-back a stream needs so a match spanning two chunks is caught before release.
    public var streamHoldBack: Int {
        chain.filter { $0.runs(in: .response) }.map(\.maxMatchLength).max() ?? 0
    }

    /// The trailing characters of a stream's text that must wait for more text: the most any
    /// response policy could still match there.
    public func streamPendingTail(_ text: String) -> Int {
        chain.lazy.filter { $0.runs(in: .response) }.map { min($0.pendingTail(text), $0.maxMatchLength) }.max() ?? 0
    }

    /// Whether a non-final stream evaluation of `text` could block or change anything.
    public func streamCouldMatch(_ text: String) -> Bool {
        chain.contains { $0.runs(in: .response) && $0.couldMatch(text) }
    }

    /// Runs the chain for one phase; a block short-circuits (later policies are `skipped`).
    public func evaluate(_ segments: inout [TextSegment], context: EvaluationContext) -> ChainDecision {
        evaluate(&segments, context: context, policies: chain.indices)
    }

    /// Where the chain can be cut in two for `phase` so both parts run at once on the same
    /// input: the lead is the policies that never rewrite text (they see the request as it came
    /// whatever follows), the rest is everything after. nil when there is nothing to overlap
    /// (no read-only lead, or nothing after it that runs in this phase).
    public func concurrentSplit(for phase: PolicyKind.Phase) -> Int? {
        var lead = 0
        while lead < chain.count, !chain[lead].rewritesText, chain[lead].kind != .auditLogger { lead += 1 }
        guard chain[..<lead].contains(where: { $0.runs(in: phase) }),
              chain[lead...].contains(where: { $0.kind != .auditLogger && $0.runs(in: phase) }) else { return nil }
        return lead
    }

    /// The decision the whole chain would have reached, from its lead's (`0..<split`) and the
    /// rest's (`split...`), each evaluated on the same input: the lead's block stands and the
    /// rest is then `skipped` (the chain would not have run it); otherwise the rest carries on
    /// from the lead's verdict exactly as one pass would.
    public func merge(lead: ChainDecision, rest: ChainDecision, split: Int) -> ChainDecision {
        if lead.verdict == .block {
            var d = lead
            d.results += chain[split...].map { PolicyResult(policy: $0.kind, status: .skipped) }
            return d
        }
        var d = rest
        d.results = lead.results + rest.results
        if rest.verdict != .block, lead.verdict == .redact {
            d.verdict = .redact
            d.reasonCode = lead.reasonCode
        }
        return d
    }

    /// Runs the policies at `indices` of the chain, in order, as one chain.
    public func evaluate(_ segments: inout [TextSegment], context: EvaluationContext, policies indices: Range<Int>) -> ChainDecision {
        let phase = context.phase
        var results: [PolicyResult] = []
        var verdict = Verdict.allow
        var reason = "all_policies_passed"
        var blockedBy: PolicyKind?
        var message: String?
        for policy in chain[indices] {
            if verdict == .block {
                results.append(PolicyResult(policy: policy.kind, status: .skipped))
                continue
            }
            guard policy.runs(in: phase) else { continue }
            let start = DispatchTime.now().uptimeNanoseconds
            do {
                if start > context.deadline { throw PolicyError("the policy evaluation budget was used up before \(policy.kind.rawValue) ran") }
                let v = try policy.evaluate(&segments, context: context)
                let micros = Int((DispatchTime.now().uptimeNanoseconds - start) / 1000)
                let status: PolicyResult.Status = v.verdict == .allow ? .allow : (v.verdict == .redact ? .redact : .block)
                results.append(PolicyResult(policy: policy.kind, status: status, reasonCode: v.reasonCode, message: v.message,
                                            micros: micros, details: v.details))
                switch v.verdict {
                case .block:
                    verdict = .block
                    reason = v.reasonCode ?? "policy.blocked"
                    blockedBy = policy.kind
                    message = v.message
                case .redact where verdict == .allow:
                    verdict = .redact
                    reason = v.reasonCode ?? "policy.redacted"
                default:
                    break
                }
            } catch {
                let micros = Int((DispatchTime.now().uptimeNanoseconds - start) / 1000)
                results.append(PolicyResult(policy: policy.kind, status: .error, reasonCode: "policy.error",
                                            message: "\(error)", micros: micros))
                if failMode == .block {
                    verdict = .block
                    reason = "policy.error"
                    blockedBy = policy.kind
                    message = "policy \(policy.kind.rawValue) failed and fail-mode is block"
                }
            }
        }
        return ChainDecision(verdict: verdict, reasonCode: reason, blockedBy: blockedBy, message: message, results: results)
    }
}

/// audit-logger takes part in the chain (it is reported) but its work happens when the
/// decision is recorded, after every other policy has spoken.
struct AuditPolicy: CompiledPolicy {
    var kind: PolicyKind { .auditLogger }
    func runs(in phase: PolicyKind.Phase) -> Bool { true }
    func evaluate(_ segments: inout [TextSegment], context: EvaluationContext) throws -> PolicyVerdict { .allow }
    var maxMatchLength: Int { 0 }
}
