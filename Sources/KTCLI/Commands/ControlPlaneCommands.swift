import Foundation
import KTModel
import KTConfig
import KTGateway
import KTControlPlane

/// `kt control-plane run` and `kt control-plane token create|list|revoke`.
enum ControlPlaneCommands {
    static let run: Command.Run = { args, ctx in
        let env = ctx.environment
        let listen: (String, Int)
        do throws(UsageError) { listen = try GatewayRunCommand.parseListen(args.value("listen") ?? "127.0.0.1:41000", command: "kt control-plane run") } catch {
            ctx.err("error: \(error.message)")
            return 2
        }
        let dataDir = args.value("data").map { PolicyLintCommand.resolve($0, in: ctx) }
            ?? (GatewayGroupsLoader.keeptrustsHome(environment: env) as NSString).appendingPathComponent("control-plane")
        var options = ControlPlane.Options(dataDir: dataDir)
        (options.host, options.port) = listen
        options.metricsOpen = args.flag("metrics-open")
        do throws(UsageError) {
            if let n = args.value("event-retention") {
                options.eventRetention = try UsageError.integer(n, flag: "--event-retention", in: 1_000...1_000_000_000, command: "kt control-plane run")
            }
            if let mb = args.value("event-retention-mb") {
                options.eventRetentionBytes = try UsageError.integer(mb, flag: "--event-retention-mb", in: 16...(1 << 20), command: "kt control-plane run") << 20
            }
            let clientCA = args.value("tls-client-ca") ?? env["KEEPTRUSTS_TLS_CLIENT_CA"].flatMap { $0.isEmpty ? nil : $0 }
            options.tls = try TLSFlags.server(args, env, command: "kt control-plane run", clientCA: clientCA)
            options.tlsBindIdentity = args.flag("tls-bind-identity")
            if options.tlsBindIdentity, clientCA == nil {
                throw UsageError("--tls-bind-identity needs --tls-client-ca (the identity is the client certificate's)", command: "kt control-plane run")
            }
        } catch {
            ctx.err("error: \(error.message)\nRun 'kt control-plane run --help' for usage.")
            return 2
        }
        if let level = args.value("log-level") {
            guard let l = JSONLogger.Level(name: level) else { ctx.err("error: --log-level must be debug, info, warn or error"); return 2 }
            options.logLevel = l
        }
        let cp: ControlPlane
        do throws(KTError) { cp = try ControlPlane(options: options) } catch {
            ctx.err("error: \(error.message)")
            return 1
        }
        SignalWaiter.survivesClosedPipes()
        let port: Int
        do { port = try await cp.start() } catch {
            ctx.err("error: cannot start the control plane: \((error as? KTError)?.message ?? "\(error)")")
            return 1
        }
        if let token = cp.initialAdminToken {
            let path = (dataDir as NSString).appendingPathComponent("admin-token")
            ctx.out("""
                Admin token (shown once; also saved to \(path), mode 0600):
                  \(token)
                Use it:  export KEEPTRUSTS_API_URL=\(options.tls == nil ? "http" : "https")://\(listen.0 == "0.0.0.0" ? "127.0.0.1" : listen.0):\(port) KEEPTRUSTS_API_TOKEN=\(token)
                """)
        }
        await SignalWaiter.wait(onReload: { Task { await cp.reloadCertificate() } })
        await cp.shutdown()
        return 0
    }

    static let tokenCreate: Command.Run = { args, ctx in
        await FleetCLI.run { () throws(FleetCLI.Exit) -> Int32 in
            guard let role = args.value("role") else {
                ctx.err("error: --role is required (viewer, operator, admin or gateway)\nRun 'kt control-plane token create --help' for usage.")
                return 2
            }
            guard ["viewer", "operator", "admin", "gateway"].contains(role) else {
                ctx.err("error: --role must be viewer, operator, admin or gateway, not '\(role)'")
                return 2
            }
            if role == "gateway", args.value("gateway-id") == nil {
                ctx.err("error: a gateway token is bound to one gateway: pass --gateway-id ID")
                return 2
            }
            let client = try FleetCLI.client(ctx)
            var body: [(String, JSONValue)] = [("role", .string(role))]
            if let g = args.value("gateway-id") { body.append(("gateway_id", .string(g))) }
            if let n = args.value("name") { body.append(("name", .string(n))) }
            let r = try await FleetCLI.call(ctx, client, "POST", "/v1/tokens", body: .object(body))
            if args.flag("json") {
                ctx.out(r.serialized(pretty: true))
            } else {
                ctx.out("""
                    Created token \(r["id"]?.stringValue ?? "?") (role \(role)\(r["gateway_id"]?.stringValue.map { ", gateway \($0)" } ?? "")):
                      \(r["token"]?.stringValue ?? "")
                    Store it now: it is not shown again.
                    """)
            }
            return 0
        }
    }

    static let tokenList: Command.Run = { args, ctx in
        await FleetCLI.run { () throws(FleetCLI.Exit) -> Int32 in
            let client = try FleetCLI.client(ctx)
            let r = try await FleetCLI.call(ctx, client, "GET", "/v1/tokens")
            if args.flag("json") { ctx.out(r.serialized(pretty: true)); return 0 }
            var table = TextTable(["ID", "Name", "Role", "Gateway", "Created", "Status"])
            for t in (r["tokens"]?.arrayValue ?? []).map(\.terminalSafe) {
                table.add([t["id"]?.stringValue ?? "", t["name"]?.stringValue ?? "", t["role"]?.stringValue ?? "",
                           t["gateway_id"]?.stringValue ?? "—", t["created_at"]?.stringValue ?? "",
                           t["revoked"]?.boolValue == true ? "revoked" : "active"])
            }
            ctx.stdout.write(ctx.render(table))
            return 0
        }
    }

    static let tokenRevoke: Command.Run = { args, ctx in
        await FleetCLI.run { () throws(FleetCLI.Exit) -> Int32 in
            let client = try FleetCLI.client(ctx)
            let id = args.positionals[0]
            let r = try await FleetCLI.call(ctx, client, "DELETE", "/v1/tokens/\(ControlPlaneClient.percentEncode(id))")
            if args.flag("json") { ctx.out(r.serialized(pretty: true)) } else { ctx.out("Revoked token \(id).") }
            return 0
        }
    }
}
