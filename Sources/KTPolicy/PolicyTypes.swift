import Foundation
import KTModel

public enum Verdict: String, Sendable, Comparable {
    case allow, redact, block
    public static func < (a: Verdict, b: Verdict) -> Bool {
        let order: [Verdict] = [.allow, .redact, .block]
        return order.firstIndex(of: a)! < order.firstIndex(of: b)!
    }
}

/// A piece of text a policy looks at: one message's content (or a prompt, or the answer).
public struct TextSegment: Sendable, Equatable {
    public var role: String
    public var text: String
    /// Where the text lives in the request or response JSON (message index, part index), so a
    /// rewritten segment can be written back.
    public var location: [Int]
    public init(role: String, text: String, location: [Int] = []) {
        self.role = role
        self.text = text
        self.location = location
    }

    /// Roles an operator writes (not scanned for PII/DLP/safety: they are part of the reviewed setup).
    public var isOperatorAuthored: Bool { role == "system" || role == "developer" }
}

/// Where in the traffic an evaluation happens.
public struct EvaluationContext: Sendable {
    public var phase: PolicyKind.Phase
    /// For responses: true on the whole answer or the last window of a stream (append/prepend
    /// rules act only then).
    public var isFinal: Bool
    /// Uptime nanoseconds by which the chain must be done; config regexes stop at it and the
    /// policy that ran out fails (fail_mode decides the request).
    public var deadline: UInt64
    public init(phase: PolicyKind.Phase, isFinal: Bool = true, deadline: UInt64 = EvaluationContext.noDeadline) {
        self.phase = phase
        self.isFinal = isFinal
        self.deadline = deadline
    }

    /// A context whose deadline is `budget` from now.
    public static func within(_ budget: Duration, phase: PolicyKind.Phase, isFinal: Bool = true) -> EvaluationContext {
        let ns = budget.components.seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let total = ns.overflow ? UInt64.max : UInt64(max(0, ns.partialValue)) &+ UInt64(budget.components.attoseconds / 1_000_000_000)
        let now = DispatchTime.now().uptimeNanoseconds
        let (deadline, o) = now.addingReportingOverflow(total)
        return EvaluationContext(phase: phase, isFinal: isFinal, deadline: o ? .max : deadline)
    }
    public static let request = EvaluationContext(phase: .request)
    public static let response = EvaluationContext(phase: .response)
}

/// What one policy decided.
public struct PolicyResult: Sendable {
    public enum Status: String, Sendable { case allow, redact, block, skipped, error }
    public var policy: PolicyKind
    public var status: Status
    public var reasonCode: String?
    public var message: String?
    public var micros: Int
    /// Detector details recorded in the event: score, strongest signals, entity counts.
    public var details: [(String, JSONValue)]

    public init(policy: PolicyKind, status: Status, reasonCode: String? = nil, message: String? = nil, micros: Int = 0,
                details: [(String, JSONValue)] = []) {
        self.policy = policy
        self.status = status
        self.reasonCode = reasonCode
        self.message = message
        self.micros = micros
        self.details = details
    }

    public var json: JSONValue { json(includeContent: true) }

    /// Without content (audit `include_content: false`), signals that quote the prompt (the
    /// detector's n-grams) are replaced by their count: events and audit records must not carry
    /// prompt words the operator chose not to store.
    public func json(includeContent: Bool) -> JSONValue {
        var shown = details
        if !includeContent {
            shown = details.map { key, value in
                guard key == "signals", let list = value.arrayValue else { return (key, value) }
                let quoting = list.filter { $0.stringValue.map(Self.quotesContent) ?? false }
                let kept = list.filter { !($0.stringValue.map(Self.quotesContent) ?? false) }
                return (key, .array(kept + (quoting.isEmpty ? [] : [.string("ngrams:\(quoting.count)")])))
            }
        }
        return .object([("policy", .string(policy.rawValue)), ("status", .string(status.rawValue)), ("reason_code", .optional(reasonCode)),
                        ("message", .optional(message)), ("duration_us", .int(micros)), ("details", .object(shown))])
    }

    static func quotesContent(_ signal: String) -> Bool { signal.hasPrefix("ngram:") }
}

/// The outcome of running the chain over one phase.
public struct ChainDecision: Sendable {
    public var verdict: Verdict
    public var reasonCode: String
    public var blockedBy: PolicyKind?
    public var message: String?
    public var results: [PolicyResult]

    public var json: JSONValue {
        .object([("verdict", .string(verdict.rawValue)), ("reason_code", .string(reasonCode)),
                 ("blocked_by", .optional(blockedBy?.rawValue)), ("policy_results", .array(results.map(\.json)))])
    }
}

/// What a policy returns from one evaluation.
public struct PolicyVerdict: Sendable {
    public var verdict: Verdict
    public var reasonCode: String?
    public var message: String?
    public var details: [(String, JSONValue)]
    public init(_ verdict: Verdict, reasonCode: String? = nil, message: String? = nil, details: [(String, JSONValue)] = []) {
        self.verdict = verdict
        self.reasonCode = reasonCode
        self.message = message
        self.details = details
    }
    public static let allow = PolicyVerdict(.allow)
}

/// One compiled policy. `evaluate` may rewrite the segments (redaction).
public protocol CompiledPolicy: Sendable {
    var kind: PolicyKind { get }
    /// Whether the policy runs in this phase under its settings.
    func runs(in phase: PolicyKind.Phase) -> Bool
    func evaluate(_ segments: inout [TextSegment], context: EvaluationContext) throws -> PolicyVerdict
    /// The longest span (in characters) a match can cover; streams hold back this much so a
    /// match split across two chunks is still caught.
    var maxMatchLength: Int { get }
    /// How many trailing characters of a stream's text so far could still become part of a
    /// match (never more than `maxMatchLength`); a stream releases everything before them.
    func pendingTail(_ text: String) -> Int
    /// Whether the policy could match or change anything in `text` in a non-final stream
    /// evaluation; false lets a stream skip the chain for text with nothing match-shaped in it.
    func couldMatch(_ text: String) -> Bool
    /// Whether `evaluate` may change the segments (redaction, rewriting). A policy that never
    /// does sees the same text wherever it stands in a chain's read-only lead.
    var rewritesText: Bool { get }
}

extension CompiledPolicy {
    /// Without knowledge of the shapes it matches (regexes), a policy holds its longest match.
    public func pendingTail(_ text: String) -> Int { maxMatchLength }
    public func couldMatch(_ text: String) -> Bool { true }
    public var rewritesText: Bool { true }
}

public struct PolicyError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
