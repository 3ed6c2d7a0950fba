/// The six built-in policy kinds of PRODUCT.md §3.
public enum PolicyKind: String, Sendable, CaseIterable, Hashable, Comparable {
    case promptInjection = "prompt-injection"
    case piiDetector = "pii-detector"
    case dlpFilter = "dlp-filter"
    case safetyFilter = "safety-filter"
    case responseRewriter = "response-rewriter"
    case auditLogger = "audit-logger"

    public enum Phase: String, Sendable { case request, response }

    /// The phases a policy of this kind can run in (pii-detector's response phase is opt-in).
    public var phases: Set<Phase> {
        switch self {
        case .promptInjection: return [.request]
        case .piiDetector: return [.request, .response]
        case .dlpFilter, .safetyFilter, .auditLogger: return [.request, .response]
        case .responseRewriter: return [.response]
        }
    }

    public static func < (a: PolicyKind, b: PolicyKind) -> Bool { a.rawValue < b.rawValue }
}
