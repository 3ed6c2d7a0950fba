import Foundation
import KTModel
import KTGateway

/// `kt version`: the CLI's version and, when a control plane is configured (environment or
/// profile), the control plane's (exit 1 if it cannot be asked; the CLI's is printed anyway).
enum VersionCommand {
    static let run: Command.Run = { args, ctx in
        let json = args.flag("json")
        let url = ctx.environment["KEEPTRUSTS_API_URL"].flatMap { $0.isEmpty ? nil : $0 }
        var controlPlane: JSONValue = .null
        var failure: String?
        if url != nil {
            switch ControlPlaneClient.fromEnvironment(ctx.environment) {
            case .failure(let e): failure = e.message
            case .success(let client):
                do throws(ControlPlaneClient.Failure) {
                    let v = try await client.call("GET", "/v1/version", timeout: 10) ?? .null
                    controlPlane = .object([("url", .string(client.baseURL)), ("version", v["version"] ?? .null),
                                            ("schema_version", v["schema_version"] ?? .null)])
                } catch {
                    failure = error.message + (error.kind == .http(404) ? " (a control plane older than this CLI has no /v1/version)" : "")
                }
            }
        }
        if json {
            var fields: [(String, JSONValue)] = [("cli", .object([("version", .string(KTVersion.current))])), ("control_plane", controlPlane)]
            if let failure { fields.append(("error", .string(failure))) }
            ctx.out(JSONValue.object(fields).serialized(pretty: true))
        } else {
            ctx.out("kt \(KTVersion.current)")
            if let v = controlPlane["version"]?.stringValue, let u = controlPlane["url"]?.stringValue {
                ctx.out("control plane \(v) at \(u) (schema \(controlPlane["schema_version"]?.intValue.map(String.init) ?? "?"))")
            }
        }
        if let failure {
            ctx.err("error: cannot ask the control plane at \(url ?? "?") for its version: \(failure)")
            return 1
        }
        return 0
    }
}
