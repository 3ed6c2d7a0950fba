/// `gateway-groups.yaml` (PRODUCT.md §7): named sets of gateway ids, optionally bound to a config source.
public struct GatewayGroups: Sendable, Equatable {
    public struct Group: Sendable, Equatable {
        public var name: String
        public var gateways: [String]
        public var configSource: String?
        public init(name: String, gateways: [String], configSource: String? = nil) {
            self.name = name
            self.gateways = gateways
            self.configSource = configSource
        }
    }

    /// Groups in file order.
    public var groups: [Group]
    public init(groups: [Group] = []) { self.groups = groups }

    public func group(named name: String) -> Group? { groups.first { $0.name == name } }
}
