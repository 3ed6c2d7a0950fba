import Foundation
import KTModel
import KTGateway

/// Tasks a managed gateway runs when the control plane asks through its long-poll (doctor checks).
enum GatewayTasks {
    static func runner(_ gateway: Gateway) -> @Sendable (JSONValue) async -> JSONValue {
        { task in .object([("id", task["id"] ?? .null), ("error", "unknown task kind")]) }
    }
}
