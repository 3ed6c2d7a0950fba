/// An error a user can act on: a stable code, a message that says what to do, and an optional cause.
public struct KTError: Error, Sendable, CustomStringConvertible {
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let invalidConfig = Code(rawValue: "invalid_config")
        public static let invalidUsage = Code(rawValue: "invalid_usage")
        public static let io = Code(rawValue: "io_error")
        /// A durable write failed (disk full, I/O error): what was asked was not stored.
        public static let storage = Code(rawValue: "storage_failed")
        public static let secretUnresolved = Code(rawValue: "secret_unresolved")
        public static let notImplemented = Code(rawValue: "not_implemented")
        public static let network = Code(rawValue: "network_error")
        public static let `internal` = Code(rawValue: "internal_error")
    }

    public var code: Code
    public var message: String
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause { return "\(message) (caused by: \(cause))" }
        return message
    }
}
