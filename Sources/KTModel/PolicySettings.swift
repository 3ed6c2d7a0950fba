/// Settings blocks (`policy.<kind>`) for each policy kind, with the defaults of PRODUCT.md §3.
public struct PolicySettingsSet: Sendable, Equatable {
    public var promptInjection: PromptInjectionSettings?
    public var piiDetector: PIIDetectorSettings?
    public var dlpFilter: DLPFilterSettings?
    public var safetyFilter: SafetyFilterSettings?
    public var responseRewriter: ResponseRewriterSettings?
    public var auditLogger: AuditLoggerSettings?

    public init(promptInjection: PromptInjectionSettings? = nil, piiDetector: PIIDetectorSettings? = nil,
                dlpFilter: DLPFilterSettings? = nil, safetyFilter: SafetyFilterSettings? = nil,
                responseRewriter: ResponseRewriterSettings? = nil, auditLogger: AuditLoggerSettings? = nil) {
        self.promptInjection = promptInjection
        self.piiDetector = piiDetector
        self.dlpFilter = dlpFilter
        self.safetyFilter = safetyFilter
        self.responseRewriter = responseRewriter
        self.auditLogger = auditLogger
    }

    /// The kinds that have a settings block.
    public var configuredKinds: [PolicyKind] {
        var kinds: [PolicyKind] = []
        if promptInjection != nil { kinds.append(.promptInjection) }
        if piiDetector != nil { kinds.append(.piiDetector) }
        if dlpFilter != nil { kinds.append(.dlpFilter) }
        if safetyFilter != nil { kinds.append(.safetyFilter) }
        if responseRewriter != nil { kinds.append(.responseRewriter) }
        if auditLogger != nil { kinds.append(.auditLogger) }
        return kinds
    }

    public func has(_ kind: PolicyKind) -> Bool { configuredKinds.contains(kind) }
}

/// A user-supplied regular expression with an optional name (reported in events).
public struct NamedPattern: Sendable, Equatable {
    public var name: String
    public var pattern: String
    public init(name: String, pattern: String) {
        self.name = name
        self.pattern = pattern
    }
}

public struct PromptInjectionSettings: Sendable, Equatable {
    public enum Action: String, Sendable, CaseIterable { case block, flag }
    public struct Encoding: Sendable, Equatable {
        public var decodeBase64 = true
        public var normalizeUnicode = true
        public var detectHomoglyphs = true
        public init() {}
    }
    public var threshold = 0.8
    public var action = Action.block
    public var message: String?
    public var attackPatterns: [NamedPattern] = []
    public var encoding = Encoding()
    public var scanRoles: [String] = ["user", "tool"]
    public init() {}
}

public enum PIIEntity: String, Sendable, CaseIterable {
    case email, phone, creditCard = "credit_card", iban, usSSN = "us_ssn", ipAddress = "ip_address"
}

public enum RedactionMarkerFormat: String, Sendable, CaseIterable { case label, mask, hash }

public struct PIIDetectorSettings: Sendable, Equatable {
    public enum Action: String, Sendable, CaseIterable { case redact, block }
    public var action = Action.redact
    public var entities: [PIIEntity] = PIIEntity.allCases
    public var pciMode = true
    public var detectPatterns: [NamedPattern] = []
    public var markerFormat = RedactionMarkerFormat.label
    public var scanResponses = false
    public init() {}
}

public struct DLPFilterSettings: Sendable, Equatable {
    public enum Action: String, Sendable, CaseIterable { case redact, block }
    public var detectPatterns: [NamedPattern] = []
    public var blockedTerms: [String] = []
    public var action = Action.redact
    public var fuzzyMatching = false
    public var maxDistance = 1
    public init() {}
}

public struct SafetyFilterSettings: Sendable, Equatable {
    public enum Action: String, Sendable, CaseIterable { case block }
    /// Terms (case-insensitive, word-bounded) or regexes written as `/.../`.
    public var blockIf: [String] = []
    public var action = Action.block
    public init() {}
}

public struct ResponseRewriterSettings: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        public enum Position: String, Sendable, CaseIterable { case replace, prepend, append }
        public var name: String
        /// Regex; required for `replace`, ignored for prepend/append.
        public var pattern: String?
        public var replacement: String
        public var position: Position
        public init(name: String, pattern: String?, replacement: String, position: Position) {
            self.name = name
            self.pattern = pattern
            self.replacement = replacement
            self.position = position
        }
    }
    public var rules: [Rule] = []
    public init() {}
}

public struct AuditLoggerSettings: Sendable, Equatable {
    public enum Durability: String, Sendable, CaseIterable { case batched, strict }
    public var retentionDays = 365
    public var immutable = true
    public var includeContent = false
    public var durability = Durability.batched
    public init() {}
}
