import KTModel

/// The semantic difference between two policy configs (for push previews): policies added,
/// removed or reordered in the chain, each changed setting with old → new, provider targets
/// added/removed/changed, and other changed fields.
public struct ConfigDiff: Sendable, Equatable {
    public struct Change: Sendable, Equatable {
        public var path: String
        public var old: String?
        public var new: String?
    }
    public var policiesAdded: [String] = []
    public var policiesRemoved: [String] = []
    public var reordered: (old: [String], new: [String])?
    public var settings: [Change] = []
    public var targetsAdded: [String] = []
    public var targetsRemoved: [String] = []
    public var targetsChanged: [Change] = []
    public var other: [Change] = []

    public static func == (a: ConfigDiff, b: ConfigDiff) -> Bool { a.json == b.json }

    public var isEmpty: Bool {
        policiesAdded.isEmpty && policiesRemoved.isEmpty && reordered == nil && settings.isEmpty && targetsAdded.isEmpty
            && targetsRemoved.isEmpty && targetsChanged.isEmpty && other.isEmpty
    }

    /// `old` nil: the current config is unknown to the control plane (a local file).
    public init(old: JSONValue?, new: JSONValue) {
        let oldTree = old ?? .object([])
        let oldChain = Self.chain(oldTree), newChain = Self.chain(new)
        policiesAdded = newChain.filter { !oldChain.contains($0) }
        policiesRemoved = oldChain.filter { !newChain.contains($0) }
        let keptOld = oldChain.filter { newChain.contains($0) }, keptNew = newChain.filter { oldChain.contains($0) }
        if keptOld != keptNew { reordered = (oldChain, newChain) }

        // Settings of each policy, flattened to leaves.
        let oldPolicy = Self.flatten(oldTree["policy"] ?? .object([]), prefix: "policy")
        let newPolicy = Self.flatten(new["policy"] ?? .object([]), prefix: "policy")
        settings = Self.changes(oldPolicy, newPolicy)

        // Provider targets by id.
        let oldTargets = Self.targets(oldTree), newTargets = Self.targets(new)
        targetsAdded = newTargets.keys.filter { oldTargets[$0] == nil }.sorted()
        targetsRemoved = oldTargets.keys.filter { newTargets[$0] == nil }.sorted()
        for id in newTargets.keys.sorted() where oldTargets[id] != nil {
            targetsChanged += Self.changes(Self.flatten(oldTargets[id]!, prefix: "providers.targets[\(id)]"),
                                           Self.flatten(newTargets[id]!, prefix: "providers.targets[\(id)]"))
        }

        // Everything else (pack, routing, limits, …).
        func rest(_ t: JSONValue) -> [String: String] {
            var pairs = t.objectValue ?? []
            pairs.removeAll { $0.0 == "policy" || $0.0 == "policies" && $0.1["chain"] != nil && ($0.1.objectValue?.count ?? 0) == 1 }
            var out = Self.flatten(.object(pairs), prefix: "")
            out = out.filter { !$0.key.hasPrefix("providers.targets") && !$0.key.hasPrefix("policies.chain") }
            return out
        }
        other = Self.changes(rest(oldTree), rest(new))
    }

    static func chain(_ t: JSONValue) -> [String] {
        (t["policies"]?["chain"]?.arrayValue ?? []).compactMap { $0.stringValue ?? $0["name"]?.stringValue ?? $0["id"]?.stringValue }
    }

    static func targets(_ t: JSONValue) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for (i, target) in (t["providers"]?["targets"]?.arrayValue ?? []).enumerated() {
            out[target["id"]?.stringValue ?? "#\(i)"] = target
        }
        return out
    }

    static func flatten(_ v: JSONValue, prefix: String) -> [String: String] {
        var out: [String: String] = [:]
        func walk(_ v: JSONValue, _ path: String) {
            switch v {
            case .object(let pairs):
                if pairs.isEmpty { out[path] = "{}" }
                for (k, x) in pairs { walk(x, path.isEmpty ? k : "\(path).\(k)") }
            case .array(let items) where items.allSatisfy({ $0.objectValue == nil && $0.arrayValue == nil }):
                out[path] = v.serialized()
            case .array(let items):
                for (i, x) in items.enumerated() { walk(x, "\(path)[\(i)]") }
            case .string(let s): out[path] = s
            default: out[path] = v.serialized()
            }
        }
        walk(v, prefix)
        return out
    }

    static func changes(_ a: [String: String], _ b: [String: String]) -> [Change] {
        Set(a.keys).union(b.keys).sorted().compactMap { k in a[k] == b[k] ? nil : Change(path: k, old: a[k], new: b[k]) }
    }

    public var json: JSONValue {
        func list(_ c: [Change]) -> JSONValue { .array(c.map { .object([("path", .string($0.path)), ("old", .optional($0.old)), ("new", .optional($0.new))]) }) }
        return .object([
            ("policies_added", .array(policiesAdded.map { .string($0) })), ("policies_removed", .array(policiesRemoved.map { .string($0) })),
            ("chain_reordered", reordered.map { .object([("old", .array($0.old.map { .string($0) })), ("new", .array($0.new.map { .string($0) }))]) } ?? .null),
            ("settings_changed", list(settings)),
            ("targets_added", .array(targetsAdded.map { .string($0) })), ("targets_removed", .array(targetsRemoved.map { .string($0) })),
            ("targets_changed", list(targetsChanged)), ("other_changed", list(other)),
        ])
    }

    /// One line per change, for text and markdown previews.
    public var lines: [String] {
        var out: [String] = []
        for p in policiesAdded { out.append("+ policy \(p)") }
        for p in policiesRemoved { out.append("- policy \(p)") }
        if let r = reordered { out.append("~ chain order [\(r.old.joined(separator: ", "))] → [\(r.new.joined(separator: ", "))]") }
        for c in settings + other { out.append("~ \(c.path): \(c.old ?? "(unset)") → \(c.new ?? "(unset)")") }
        for t in targetsAdded { out.append("+ target \(t)") }
        for t in targetsRemoved { out.append("- target \(t)") }
        for c in targetsChanged { out.append("~ \(c.path): \(c.old ?? "(unset)") → \(c.new ?? "(unset)")") }
        return out
    }
}
