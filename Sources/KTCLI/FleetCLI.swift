import Foundation
import KTModel
import KTConfig
import KTGateway

/// Shared plumbing of the fleet commands: the control-plane client from the environment,
/// groups, and how failures are reported (exit 1 for errors, 2 for usage).
enum FleetCLI {
    struct Exit: Error { var code: Int32 }

    static func client(_ ctx: CLIContext) throws(Exit) -> ControlPlaneClient {
        switch ControlPlaneClient.fromEnvironment(ctx.environment) {
        case .success(let c): return c
        case .failure(let e):
            ctx.err("error: \(e.message)")
            throw Exit(code: 2)
        }
    }

    /// Runs an API call, printing a clear error (and exiting 1) when it fails.
    static func call(_ ctx: CLIContext, _ c: ControlPlaneClient, _ method: String, _ path: String, body: JSONValue? = nil,
                     timeout: Double = 30) async throws(Exit) -> JSONValue {
        do {
            return try await c.call(method, path, body: body, timeout: timeout) ?? .null
        } catch {
            report(ctx, error)
            throw Exit(code: 1)
        }
    }

    static func report(_ ctx: CLIContext, _ error: ControlPlaneClient.Failure) {
        var message = "error: \(TerminalText.visible(error.message, keepingNewlines: true))"
        switch error.kind {
        case .unreachable:
            // A TLS failure already says what to set; "is it running?" would send the reader elsewhere.
            if !error.message.contains("TLS") {
                message += "\nIs the control plane running? Start one with 'kt control-plane run', or check KEEPTRUSTS_API_URL."
            }
        case .http(401): message += "\nCheck KEEPTRUSTS_API_TOKEN (the admin token is in the control plane's DATA/admin-token)."
        case .http(403): message += "\nAsk an admin for a token with that permission ('kt control-plane token create --role operator')."
        default: break
        }
        ctx.err(message)
    }

    /// Gateway ids of `--group` (nil without it).
    static func groupIDs(_ args: ParsedArguments, _ ctx: CLIContext) throws(Exit) -> [String]? {
        guard let name = args.value("group") else { return nil }
        let groups: GatewayGroups
        do {
            groups = try GatewayGroupsLoader.load(path: args.value("groups-file").map { PolicyLintCommand.resolve($0, in: ctx) },
                                                  environment: ctx.environment)
        } catch let e as ConfigError {
            ctx.err("error: the groups file is invalid:\n" + e.errors.map { "  \($0.description)" }.joined(separator: "\n"))
            throw Exit(code: 2)
        } catch {
            ctx.err("error: cannot read the groups file: \((error as? KTError)?.message ?? "\(error)")")
            throw Exit(code: 2)
        }
        guard let g = groups.group(named: name) else {
            let known = groups.groups.map(\.name)
            var m = "error: no group '\(name)' in \(args.value("groups-file") ?? GatewayGroupsLoader.defaultPath(environment: ctx.environment))"
            if let s = Suggestion.closest(to: name, in: known) { m += "; did you mean '\(s)'?" }
            else if !known.isEmpty { m += " (groups: \(known.joined(separator: ", ")))" }
            ctx.err(m)
            throw Exit(code: 2)
        }
        return g.gateways
    }

    /// Gateway ids chosen by `--group` and `-l/--selector` (both given: those in both); nil with
    /// neither. The selector is matched against the labels the control plane has for each gateway.
    /// A selector that matches nothing is an error (exit 2) unless `emptyIsAnswer` (a listing
    /// just shows nothing).
    static func selectedIDs(_ args: ParsedArguments, _ ctx: CLIContext, _ client: ControlPlaneClient,
                            emptyIsAnswer: Bool = true) async throws(Exit) -> [String]? {
        let group = try groupIDs(args, ctx)
        guard let text = args.value("selector") else { return group }
        let selector: LabelSelector
        do throws(LabelSelector.Invalid) { selector = try LabelSelector(text) } catch {
            ctx.err("error: \(error.message)")
            throw Exit(code: 2)
        }
        let r = try await call(ctx, client, "GET", "/v1/gateways" + (group.map { "?" + idsQuery($0) } ?? ""))
        let ids = (r["gateways"]?.arrayValue ?? []).compactMap { g -> String? in
            let labels = Dictionary((g["labels"]?.objectValue ?? []).compactMap { k, v in v.stringValue.map { (k, $0) } }) { a, _ in a }
            guard let id = g["id"]?.stringValue, selector.matches(labels) else { return nil }
            return id
        }
        if ids.isEmpty, !emptyIsAnswer {
            ctx.err("error: no registered gateway matches --selector \(text)\(args.value("group").map { " in group \($0)" } ?? "")")
            throw Exit(code: 2)
        }
        return ids
    }

    static let selectorOption = OptionSpec("selector", short: "l", value: "K=V,…", "only gateways whose labels match (k=v, k!=v, k, !k; comma = and)")

    static func idsQuery(_ ids: [String]?) -> String {
        ids.map { "ids=" + ControlPlaneClient.percentEncode($0.joined(separator: ",")) } ?? ""
    }

    static func run(_ body: () async throws(Exit) -> Int32) async -> Int32 {
        do { return try await body() } catch { return error.code }
    }

    // MARK: Formatting

    static func ago(_ seconds: Double?) -> String {
        guard let s = seconds else { return "never" }
        if s < 1 { return "just now" }
        if s < 60 { return "\(Int(saturating: s))s ago" }
        if s < 3600 { return "\(Int(saturating: s / 60))m ago" }
        if s < 86400 { return "\(Int(saturating: s / 3600))h ago" }
        return "\(Int(saturating: s / 86400))d ago"
    }

    static func percent(_ v: JSONValue?) -> String {
        guard let d = v?.doubleValue else { return "—" }
        return String(format: "%.1f%%", d * 100)
    }

    static func ms(_ v: JSONValue?) -> String {
        guard let d = v?.doubleValue else { return "—" }
        return d < 10 ? String(format: "%.1fms", d) : String(format: "%.0fms", d)
    }

    static func shortSHA(_ s: String?) -> String { s.map { String($0.prefix(12)) } ?? "—" }

    static func statusCell(_ status: String, reason: String?, style: TerminalStyle, tty: Bool) -> String {
        switch status {
        // Symbols only on a terminal; no colour inside table cells (it would break alignment).
        case "online": return tty ? "\(style.check) healthy" : "healthy"
        case "degraded": return tty ? "\(style.warn) \(reason ?? "degraded")" : "degraded: \(reason ?? "")"
        default: return tty ? "\(style.cross) offline" : "offline"
        }
    }
}
