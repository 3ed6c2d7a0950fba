import KTConfig
import KTHTTP
import KTModel

/// The client keys of one config (`client_auth`), resolved once per (re)load and swapped with the
/// snapshot, so a reload changes the keys atomically. Only SHA-256 digests are kept: a key that
/// came from a `key_ref` is hashed at load and the value dropped.
public struct ClientKeyring: Sendable {
    public enum Verdict: Sendable, Equatable {
        case accepted(id: String)
        /// No key in either header.
        case missing
        case unknown
    }

    let preferred: ClientAuth.Header
    /// Digest (hex) → key id. Looking up by digest is safe against timing: how much of a digest
    /// an attacker's guess shares with a stored one says nothing about the key (turning that into
    /// a key is a preimage attack); the final check is a constant-time comparison.
    private let idsByDigest: [String: String]

    public var count: Int { idsByDigest.count }

    public init(_ auth: ClientAuth, secrets: SecretResolver) throws(KTError) {
        preferred = auth.header
        var ids: [String: String] = [:]
        var problems: [String] = []
        for key in auth.keys {
            switch key.source {
            case .sha256(let hex):
                ids[hex] = key.id
            case .ref(let ref):
                do throws(KTError) {
                    let value = try secrets.resolve(ref, owner: "client key '\(key.id)'", field: "client_auth.keys.key_ref")
                    let hex = SHA256.hex(value)
                    if ids[hex] != nil { problems.append("client key '\(key.id)': its key_ref holds the same key as another entry; every key needs its own value") }
                    ids[hex] = key.id
                } catch {
                    problems.append(error.message)
                }
            }
        }
        if !problems.isEmpty { throw KTError(.secretUnresolved, problems.joined(separator: "\n")) }
        idsByDigest = ids
    }

    /// The key a request presents: `Authorization: Bearer <key>` or `x-api-key: <key>`, the
    /// configured header first.
    static func presentedKey(_ headers: HTTPHeaders, preferred: ClientAuth.Header) -> String? {
        let bearer: String? = headers["authorization"].flatMap { value in
            let v = value.trimmingCharacters(in: .whitespaces)
            guard v.count > 7, v.prefix(7).lowercased() == "bearer " else { return nil }
            let key = v.dropFirst(7).trimmingCharacters(in: .whitespaces)
            return key.isEmpty ? nil : key
        }
        let apiKey = headers["x-api-key"].flatMap { $0.isEmpty ? nil : $0 }
        switch preferred {
        case .authorization: return bearer ?? apiKey
        case .xAPIKey: return apiKey ?? bearer
        }
    }

    public func verify(_ headers: HTTPHeaders) -> Verdict {
        guard let key = Self.presentedKey(headers, preferred: preferred) else { return .missing }
        let digest = SHA256.hex(key)
        guard let entry = idsByDigest.index(forKey: digest), ConstantTime.equal(idsByDigest[entry].key, digest) else { return .unknown }
        return .accepted(id: idsByDigest[entry].value)
    }
}
