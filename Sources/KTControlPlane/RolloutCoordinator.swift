import Foundation
import KTModel

/// Drives rollouts (issue 6). Placeholder until the state machine lands.
public actor RolloutCoordinator {
    let store: ControlPlaneStore
    let registry: FleetRegistry
    let logger: JSONLogger
    let now: @Sendable () -> Double

    init(store: ControlPlaneStore, registry: FleetRegistry, logger: JSONLogger, now: @escaping @Sendable () -> Double) {
        self.store = store
        self.registry = registry
        self.logger = logger
        self.now = now
    }

    func restore() throws {}
    func runResumed() async {}
    func stop() async {}
}
