/// `client_auth`: the keys a client must present to use a gateway (PRODUCT.md §4, 401).
/// The config file holds key hashes or references to keys, never a key itself.
public struct ClientAuth: Sendable, Equatable {
    /// The header read first; the other form is accepted too (SDKs differ).
    public enum Header: String, Sendable, Equatable, CaseIterable {
        case authorization
        case xAPIKey = "x-api-key"
    }

    public struct Key: Sendable, Equatable {
        public enum Source: Sendable, Equatable {
            /// Lowercase hex SHA-256 of the key.
            case sha256(String)
            /// Resolved when the gateway starts or reloads.
            case ref(SecretRef)
        }
        public var id: String
        public var source: Source
        public init(id: String, source: Source) {
            self.id = id
            self.source = source
        }
    }

    public var header: Header
    public var keys: [Key]

    public init(header: Header = .authorization, keys: [Key]) {
        self.header = header
        self.keys = keys
    }
}
