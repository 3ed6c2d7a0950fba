import KTHTTP

extension ControlPlane {
    /// Every path the control plane serves, with its methods (`*` matches one segment). A wrong
    /// method on one of them is a 405 with `Allow`, not a 404; the OpenAPI file lists the same.
    static let routeTable: [(path: [String], methods: Set<String>)] = [
        (["healthz"], ["GET", "HEAD"]), (["readyz"], ["GET", "HEAD"]), (["metrics"], ["GET"]),
        (["v1", "gateways"], ["GET"]), (["v1", "gateways", "register"], ["POST"]), (["v1", "gateways", "*"], ["GET"]),
        (["v1", "gateways", "*", "heartbeat"], ["POST"]), (["v1", "gateways", "*", "config"], ["GET"]),
        (["v1", "gateways", "*", "config", "ack"], ["POST"]), (["v1", "gateways", "*", "events"], ["POST"]),
        (["v1", "gateways", "*", "tasks", "*"], ["POST"]),
        (["v1", "version"], ["GET"]), (["v1", "health"], ["GET"]), (["v1", "events"], ["GET"]), (["v1", "events", "stream"], ["GET"]),
        (["v1", "configs"], ["GET"]), (["v1", "configs", "*", "versions"], ["GET"]), (["v1", "configs", "*", "versions", "*"], ["GET"]),
        (["v1", "configs", "sha", "*"], ["GET"]),
        (["v1", "tokens"], ["GET", "POST"]), (["v1", "tokens", "*"], ["DELETE"]), (["v1", "tokens", "*", "revoke"], ["POST"]),
        (["v1", "plans"], ["POST"]), (["v1", "plans", "*"], ["GET"]),
        (["v1", "rollouts"], ["GET", "POST"]), (["v1", "rollouts", "*"], ["GET"]), (["v1", "rollouts", "*", "stream"], ["GET"]),
        (["v1", "rollouts", "*", "abort"], ["POST"]), (["v1", "rollouts", "*", "resume"], ["POST"]), (["v1", "rollouts", "*", "rollback"], ["POST"]),
        (["v1", "doctor"], ["POST"]), (["v1", "doctor", "bundle"], ["POST"]),
    ]

    /// The methods served on `parts`, or nil when no route has that shape.
    static func allowedMethods(_ parts: [String]) -> Set<String>? {
        var out: Set<String> = []
        for (pattern, methods) in routeTable where pattern.count == parts.count {
            if zip(pattern, parts).allSatisfy({ $0 == "*" || $0 == $1 }) { out.formUnion(methods) }
        }
        return out.isEmpty ? nil : out
    }
}
