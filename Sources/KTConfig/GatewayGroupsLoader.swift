import Foundation
import KTModel

/// Loads `gateway-groups.yaml` from `--groups-file` or `$KEEPTRUSTS_HOME` (default `~/.keeptrusts`).
public enum GatewayGroupsLoader {
    public static func keeptrustsHome(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let home = environment["KEEPTRUSTS_HOME"], !home.isEmpty { return home }
        let userHome = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return (userHome as NSString).appendingPathComponent(".keeptrusts")
    }

    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        (keeptrustsHome(environment: environment) as NSString).appendingPathComponent("gateway-groups.yaml")
    }

    /// Loads the groups file. A missing default file is an empty set of groups; a missing
    /// explicitly named file is an error.
    public static func load(path explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> GatewayGroups {
        let path = explicit ?? defaultPath(environment: environment)
        if explicit == nil, !FileManager.default.fileExists(atPath: path) { return GatewayGroups() }
        let loader = ConfigLoader()
        switch try loader.parseFile(path) {
        case .failure(let diagnostic): throw ConfigError([diagnostic])
        case .success(let tree): return try decode(tree)
        }
    }

    public static func decode(_ tree: YAMLNode) throws(ConfigError) -> GatewayGroups {
        let d = NodeDecoder()
        var groups: [GatewayGroups.Group] = []
        if let top = d.mapping(tree, "", keys: ["groups"], required: ["groups"]), let g = top["groups"] {
            if let pairs = g.mappingPairs {
                for pair in pairs {
                    let path = "groups.\(pair.key)"
                    guard let m = d.mapping(pair.value, path, keys: ["gateways", "config_source", "description"], required: ["gateways"]) else { continue }
                    let ids = d.stringList(m["gateways"], "\(path).gateways") ?? []
                    var seen = Set<String>()
                    for (i, id) in ids.enumerated() where !seen.insert(id).inserted {
                        d.report(.invalidKeyOrValue, "\(path).gateways[\(i)]", m["gateways"]?.sequenceItems?[i], "gateway '\(id)' is listed twice")
                    }
                    let source = m["config_source"].flatMap { d.string($0, "\(path).config_source") }
                    _ = m["description"].flatMap { d.string($0, "\(path).description", allowEmpty: true) }
                    groups.append(.init(name: pair.key, gateways: ids, configSource: source))
                }
            } else if g.resolved != .null {
                d.report(.invalidKeyOrValue, "groups", g, "expected a mapping of group name to group, found \(g.typeName)")
            }
        }
        if d.hasErrors { throw ConfigError(d.diagnostics) }
        return GatewayGroups(groups: groups)
    }
}
