import Foundation
import KTModel

/// The single place `secret_key_ref` values are turned into secrets. Errors name the target
/// and the reference, never a value.
public struct SecretResolver: Sendable {
    public var environment: [String: String]
    public var maxFileBytes = 64 * 1024

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    public func resolve(_ ref: SecretRef, for targetID: String) throws(KTError) -> String {
        try resolve(ref, owner: "provider target '\(targetID)'", field: "secret_key_ref")
    }

    /// `owner` names what needs the secret ("client key 'team-b'"), `field` the config key.
    public func resolve(_ ref: SecretRef, owner: String, field: String) throws(KTError) -> String {
        switch ref {
        case .env(let name):
            guard let value = environment[name], !value.isEmpty else {
                throw KTError(.secretUnresolved,
                              "\(owner): environment variable \(name) (\(field).env) is not set or empty; export it before starting the gateway")
            }
            return value
        case .file(let path):
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: path))
            } catch {
                throw KTError(.secretUnresolved,
                              "\(owner): cannot read secret file \(path) (\(field).file); check the path and its permissions")
            }
            guard data.count <= maxFileBytes else {
                throw KTError(.secretUnresolved, "\(owner): secret file \(path) is larger than \(maxFileBytes) bytes")
            }
            // Files written with `echo` end in a newline that is not part of the key.
            let value = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !value.isEmpty else {
                throw KTError(.secretUnresolved, "\(owner): secret file \(path) (\(field).file) is empty")
            }
            return value
        }
    }

    /// Resolves every target's key; collects all failures into one error.
    public func resolveAll(_ config: PolicyConfig) throws(KTError) -> [String: String] {
        var out: [String: String] = [:]
        var problems: [String] = []
        for target in config.providers.targets {
            guard let ref = target.secretKeyRef else { continue }
            do { out[target.id] = try resolve(ref, for: target.id) } catch { problems.append(error.message) }
        }
        if !problems.isEmpty { throw KTError(.secretUnresolved, problems.joined(separator: "\n")) }
        return out
    }
}
