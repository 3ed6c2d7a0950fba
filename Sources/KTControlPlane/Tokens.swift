import Foundation
import Synchronization
import KTModel
import KTConfig

/// What a token may do (PRODUCT.md §5).
public enum Permission: String, Sendable {
    case readFleet = "fleet:read"
    case pushConfig = "config:push"
    case driveRollouts = "rollouts:write"
    case manageTokens = "tokens:manage"
    /// Register, heartbeat, fetch config, post events — as one gateway identity.
    case actAsGateway = "gateway:act"
}

public enum TokenRole: String, Sendable, CaseIterable {
    case viewer, `operator`, admin, gateway

    public var permissions: Set<Permission> {
        switch self {
        case .viewer: return [.readFleet]
        case .operator: return [.readFleet, .pushConfig, .driveRollouts]
        // Admins may also act as any gateway (the fleet simulator and break-glass use this).
        case .admin: return [.readFleet, .pushConfig, .driveRollouts, .manageTokens, .actAsGateway]
        case .gateway: return [.actAsGateway]
        }
    }
}

public struct TokenRecord: Sendable {
    public var id: String
    public var name: String
    public var role: TokenRole
    public var gatewayID: String?
    public var createdAt: Double
    public var revokedAt: Double?

    /// Never includes the value or its hash.
    public var json: JSONValue {
        .object([("id", .string(id)), ("name", .string(name)), ("role", .string(role.rawValue)), ("gateway_id", .optional(gatewayID)),
                 ("created_at", .string(Timestamps.iso(createdAt))), ("revoked", .bool(revokedAt != nil)),
                 ("revoked_at", revokedAt.map { .string(Timestamps.iso($0)) } ?? .null)])
    }
}

/// Who made a request.
public struct Principal: Sendable {
    public var tokenID: String
    public var role: TokenRole
    public var gatewayID: String?

    public func has(_ p: Permission) -> Bool { role.permissions.contains(p) }

    /// A gateway token acts only as its own gateway.
    public func mayActAs(gateway id: String) -> Bool {
        guard has(.actAsGateway) else { return false }
        return role != .gateway || gatewayID == id
    }
}

/// Issued tokens, held in memory for constant-time checks on every request and stored
/// hashed (SHA-256) in SQLite. Token values exist only in the create response.
public final class TokenAuthority: Sendable {
    private let store: ControlPlaneStore
    private let state: Mutex<[(record: TokenRecord, hash: [UInt8])]>

    public init(store: ControlPlaneStore) throws(KTError) {
        self.store = store
        let loaded = try store.loadTokens()
        state = Mutex(loaded.map { ($0.0, Self.hexBytes($0.hash)) })
    }

    static func hexBytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = hex.utf8.makeIterator()
        while let a = it.next(), let b = it.next() {
            func v(_ c: UInt8) -> UInt8 { c >= 97 ? c - 87 : (c >= 65 ? c - 55 : c - 48) }
            out.append(v(a) << 4 | v(b))
        }
        return out
    }

    public static func newValue(role: TokenRole) -> String {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<24).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let prefix = ["viewer": "ktv", "operator": "kto", "admin": "kta", "gateway": "ktg"][role.rawValue]!
        return prefix + "_" + bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func newID() -> String {
        "tok_" + (0..<6).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    public var hasAdmin: Bool { state.withLock { $0.contains { $0.record.role == .admin && $0.record.revokedAt == nil } } }

    /// Creates a token; the returned value is never stored or shown again.
    public func create(role: TokenRole, name: String, gatewayID: String?) async throws(KTError) -> (TokenRecord, value: String) {
        let value = Self.newValue(role: role)
        let record = TokenRecord(id: Self.newID(), name: name, role: role, gatewayID: gatewayID, createdAt: Date().timeIntervalSince1970)
        let hash = SHA256.hex(Array(value.utf8))
        try await store.insertToken(record, hash: hash)
        state.withLock { $0.append((record, Self.hexBytes(hash))) }
        return (record, value)
    }

    /// Same as `create`, synchronously, for the first admin token at start-up.
    /// Stores `value` (from `newValue(role: .admin)`) as the first admin token.
    public func createInitialAdmin(value: String) throws(KTError) {
        let record = TokenRecord(id: Self.newID(), name: "initial-admin", role: .admin, gatewayID: nil, createdAt: Date().timeIntervalSince1970)
        let hash = SHA256.hex(Array(value.utf8))
        try store.db.sync { db throws(KTError) in
            try db.query("INSERT INTO tokens(id,name,role,gateway_id,hash,created_at) VALUES(?,?,?,?,?,?)",
                         [.text(record.id), .text(record.name), .text("admin"), .null, .text(hash), .double(record.createdAt)])
        }
        state.withLock { $0.append((record, Self.hexBytes(hash))) }
    }

    public func list() -> [TokenRecord] { state.withLock { $0.map(\.record) } }

    public func revoke(id: String) async throws(KTError) -> TokenRecord? {
        let now = Date().timeIntervalSince1970
        guard state.withLock({ s in s.contains { $0.record.id == id } }) else { return nil }
        try await store.revokeToken(id: id, at: now)
        return state.withLock { s -> TokenRecord? in
            guard let i = s.firstIndex(where: { $0.record.id == id }) else { return nil }
            if s[i].record.revokedAt == nil { s[i].record.revokedAt = now }
            return s[i].record
        }
    }

    /// The principal for a presented token value, or nil. Lookup is by the SHA-256 of the
    /// value (timing of a hash lookup reveals nothing about the value itself); the stored hash
    /// is then compared in constant time.
    public func authenticate(_ value: String) -> Principal? {
        guard value.utf8.count <= 256 else { return nil }
        let presented = Self.hexBytes(SHA256.hex(Array(value.utf8)))
        return state.withLock { s -> Principal? in
            guard let entry = s.last(where: { $0.hash.first == presented.first && $0.hash == presented }) else { return nil }
            var diff: UInt8 = 0
            for i in 0..<presented.count { diff |= presented[i] ^ entry.hash[i] }
            guard diff == 0, entry.record.revokedAt == nil else { return nil }
            return Principal(tokenID: entry.record.id, role: entry.record.role, gatewayID: entry.record.gatewayID)
        }
    }
}
