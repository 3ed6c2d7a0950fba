import Foundation
import KTModel

/// `kt profile add|use|list|remove`: named control-plane connections for the CLI.
enum ProfileCommands {
    static func withStore(_ ctx: CLIContext, _ body: (inout ProfileStore) throws(ProfileStore.Failure) -> Void) -> Int32 {
        do {
            var store = try ProfileStore.load(ctx.environment)
            try body(&store)
            try store.save(ctx.environment)
            return 0
        } catch {
            ctx.err("error: \(error.message)")
            return 1
        }
    }

    static let add: Command.Run = { args, ctx in
        let name = args.positionals.first ?? ""
        guard ProfileStore.validName(name) else {
            ctx.err("error: profile name '\(name)' must be 1–64 letters, digits, '.', '-' or '_'")
            return 2
        }
        guard let url = args.value("url"), url.hasPrefix("http://") || url.hasPrefix("https://") else {
            ctx.err("error: --url must be the control plane's http:// or https:// address")
            return 2
        }
        var profile = ProfileStore.Profile(url: url)
        for (flag, path) in [("token-file", args.value("token-file")), ("ca-file", args.value("ca-file"))] {
            guard let path else { continue }
            let resolved = PolicyLintCommand.resolve(path, in: ctx)
            guard FileManager.default.isReadableFile(atPath: resolved) else {
                ctx.err("error: --\(flag) \(path): no readable file there")
                return 2
            }
            if flag == "token-file" { profile.tokenFile = resolved } else { profile.caFile = resolved }
        }
        let code = withStore(ctx) { store in
            store.profiles[name] = profile
            if store.current == nil || args.flag("use") { store.current = name }
        }
        guard code == 0 else { return code }
        if args.flag("json") { ctx.out(JSONValue.object([("name", .string(name)), ("profile", profile.json)]).serialized(pretty: true)) }
        else { ctx.out("profile '\(name)' saved (\(ProfileStore.path(ctx.environment)))") }
        return 0
    }

    /// A change to one existing profile: exit 2 naming it when there is no such profile.
    static func changeExisting(_ args: ParsedArguments, _ ctx: CLIContext, said: (String) -> (String, JSONValue),
                               _ change: @escaping (inout ProfileStore, String) -> Void) -> Int32 {
        let name = args.positionals.first ?? ""
        var missing = false
        let code = withStore(ctx) { store in
            guard store.profiles[name] != nil else { missing = true; return }
            change(&store, name)
        }
        if missing {
            ctx.err("error: no profile '\(name)' (kt profile list)")
            return 2
        }
        if code == 0 {
            let (text, json) = said(name)
            ctx.out(args.flag("json") ? json.serialized(pretty: true) : text)
        }
        return code
    }

    static let use: Command.Run = { args, ctx in
        changeExisting(args, ctx, said: { ("now using profile '\($0)'", .object([("current", .string($0))])) }) { store, name in store.current = name }
    }

    static let remove: Command.Run = { args, ctx in
        changeExisting(args, ctx, said: { ("profile '\($0)' removed", .object([("removed", .string($0))])) }) { store, name in
            store.profiles.removeValue(forKey: name)
            if store.current == name { store.current = nil }
        }
    }

    static let list: Command.Run = { args, ctx in
        let store: ProfileStore
        do throws(ProfileStore.Failure) { store = try ProfileStore.load(ctx.environment) } catch {
            ctx.err("error: \(error.message)")
            return 1
        }
        let names = store.profiles.keys.sorted()
        if args.flag("json") {
            ctx.out(JSONValue.object([("current", .optional(store.current)),
                                      ("profiles", .array(names.map { n in .object([("name", .string(n))] + (store.profiles[n]!.json.objectPairs)) }))])
                .serialized(pretty: true))
            return 0
        }
        guard !names.isEmpty else {
            ctx.out("No profiles. Add one: kt profile add NAME --url URL [--token-file FILE] [--ca-file FILE]")
            return 0
        }
        var table = TextTable(["", "NAME", "URL", "TOKEN FILE", "CA FILE"])
        for n in names {
            let p = store.profiles[n]!
            table.add([n == store.current ? "*" : "", n, p.url, p.tokenFile ?? "-", p.caFile ?? "-"])
        }
        ctx.out(ctx.render(table))
        return 0
    }
}

extension JSONValue {
    var objectPairs: [(String, JSONValue)] { if case .object(let p) = self { return p }; return [] }
}
