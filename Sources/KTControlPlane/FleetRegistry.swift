import Foundation
import KTModel

/// Creates, finds and lists the `ManagedGateway` actors, one per registered gateway.
public actor FleetRegistry {
    private var gateways: [String: ManagedGateway] = [:]
    let persistence: GatewayPersistence
    let now: @Sendable () -> Double

    init(persistence: GatewayPersistence, now: @escaping @Sendable () -> Double) {
        self.persistence = persistence
        self.now = now
    }

    /// Re-creates the actors from the store (start-up).
    func restore(_ rows: [(record: JSONValue, lastSeen: Double?, revision: Int, samples: [(Double, JSONValue)])]) async {
        for row in rows {
            guard let id = row.record["id"]?.stringValue else { continue }
            let g = ManagedGateway(id: id, registeredAt: row.record["registered_at"]?.doubleValue ?? now(), persistence: persistence, now: now)
            await g.restore(row.record, lastSeen: row.lastSeen, revision: row.revision, samples: row.samples)
            gateways[id] = g
        }
    }

    /// The actor for `id`, created on first registration.
    func findOrCreate(_ id: String) -> ManagedGateway {
        if let g = gateways[id] { return g }
        let g = ManagedGateway(id: id, registeredAt: now(), persistence: persistence, now: now)
        gateways[id] = g
        return g
    }

    public func find(_ id: String) -> ManagedGateway? { gateways[id] }

    /// All gateways, sorted by id.
    public func all() -> [ManagedGateway] { gateways.keys.sorted().map { gateways[$0]! } }

    public var count: Int { gateways.count }
}
