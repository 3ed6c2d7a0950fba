import Foundation
import KTModel
import KTConfig

/// CLI profiles (PRODUCT.md: `KEEPTRUSTS_HOME` holds them): named control-plane connections in
/// `$KEEPTRUSTS_HOME/profiles.json`, written atomically with mode 0600. A profile names where the
/// token is (`token_file`), never the token itself.
struct ProfileStore {
    struct Profile: Equatable {
        var url: String
        var tokenFile: String?
        var caFile: String?

        var json: JSONValue {
            .object([("url", .string(url)), ("token_file", .optional(tokenFile)), ("ca_file", .optional(caFile))])
        }
    }

    var current: String?
    var profiles: [String: Profile] = [:]

    static func path(_ env: [String: String]) -> String {
        (GatewayGroupsLoader.keeptrustsHome(environment: env) as NSString).appendingPathComponent("profiles.json")
    }

    struct Failure: Error { var message: String }

    /// The store, empty when the file does not exist.
    static func load(_ env: [String: String]) throws(Failure) -> ProfileStore {
        let path = path(env)
        guard FileManager.default.fileExists(atPath: path) else { return ProfileStore() }
        guard let data = FileManager.default.contents(atPath: path), let json = try? JSONValue.parse([UInt8](data)),
              case .object = json else {
            throw Failure(message: "\(path) is not a valid profiles file (JSON object expected); fix or remove it")
        }
        var store = ProfileStore(current: json["current"]?.stringValue)
        if case .object(let pairs)? = json["profiles"] {
            for (name, p) in pairs {
                guard let url = p["url"]?.stringValue else { throw Failure(message: "\(path): profile '\(name)' has no url") }
                store.profiles[name] = Profile(url: url, tokenFile: p["token_file"]?.stringValue, caFile: p["ca_file"]?.stringValue)
            }
        }
        return store
    }

    /// Writes the store: a temporary file with mode 0600, fsync'd, renamed over the old one.
    func save(_ env: [String: String]) throws(Failure) {
        let path = Self.path(env)
        let dir = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch { throw Failure(message: "cannot create \(dir): \(error.localizedDescription)") }
        let body = JSONValue.object([
            ("current", .optional(current)),
            ("profiles", .object(profiles.keys.sorted().map { ($0, profiles[$0]!.json) })),
        ]).serialized(pretty: true) + "\n"
        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(message: "cannot write \(tmp): \(String(cString: strerror(errno)))") }
        let bytes = Array(body.utf8)
        var offset = 0
        var failed: String?
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 { if errno == EINTR { continue }; failed = String(cString: strerror(errno)); break }
            offset += n
        }
        if failed == nil, fsync(fd) != 0 { failed = String(cString: strerror(errno)) }
        close(fd)
        if failed == nil, rename(tmp, path) != 0 { failed = String(cString: strerror(errno)) }
        if let failed {
            unlink(tmp)
            throw Failure(message: "cannot write \(path): \(failed)")
        }
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    static func validName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64 && name.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) || $0 == 45 || $0 == 46 || $0 == 95 }
    }

    /// Commands that must not pick up the current profile: servers take their own settings (a
    /// profile's operator token would silently make a standalone gateway managed), and the
    /// profile commands manage the file itself.
    static func applies(to path: [String]) -> Bool {
        !(path == ["gateway", "run"] || path == ["control-plane", "run"] || path.first == "profile" || path == ["dev", "mock-upstream"])
    }

    /// The environment with the chosen profile filled in where the environment says nothing
    /// (`KEEPTRUSTS_API_URL`, `KEEPTRUSTS_API_TOKEN` read from its token file, `KEEPTRUSTS_CA_FILE`).
    /// The profile is `--profile`, else `KEEPTRUSTS_PROFILE`, else the current one; a named
    /// profile that does not exist is an error, no profile at all is not.
    static func apply(named explicit: String?, to env: [String: String]) throws(Failure) -> [String: String] {
        let store = try load(env)
        let named = explicit ?? env["KEEPTRUSTS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 }
        guard let name = named ?? store.current else { return env }
        guard let profile = store.profiles[name] else {
            let known = store.profiles.keys.sorted()
            throw Failure(message: "no profile '\(name)'" + (known.isEmpty ? "; add one with 'kt profile add \(name) --url URL'" : "; known: \(known.joined(separator: ", ")) (kt profile list)"))
        }
        var out = env
        func unset(_ key: String) -> Bool { (out[key] ?? "").isEmpty }
        if unset("KEEPTRUSTS_API_URL") { out["KEEPTRUSTS_API_URL"] = profile.url }
        if unset("KEEPTRUSTS_API_TOKEN"), let file = profile.tokenFile {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw Failure(message: "profile '\(name)': cannot read its token file \(file); fix it with 'kt profile add \(name) --url \(profile.url) --token-file FILE'")
            }
            out["KEEPTRUSTS_API_TOKEN"] = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if unset("KEEPTRUSTS_CA_FILE"), let ca = profile.caFile { out["KEEPTRUSTS_CA_FILE"] = ca }
        return out
    }
}
