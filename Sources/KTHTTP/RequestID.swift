/// The gateway's own request ids: `req_` and 24 random hex digits. Audit records and events are
/// keyed by them, so they never come from the client.
public enum RequestID {
    public static func make() -> String {
        var g = SystemRandomNumberGenerator()
        let a = String(g.next() as UInt64, radix: 16), b = String(UInt32.random(in: 0...UInt32.max, using: &g), radix: 16)
        return "req_" + String(repeating: "0", count: 16 - a.count) + a + String(repeating: "0", count: 8 - b.count) + b
    }

    /// A client's `x-request-id`, kept as a separate correlation field: at most 128 visible ASCII
    /// characters; anything else (control characters, spaces, non-ASCII, too long) is dropped.
    public static func sanitizedClientID(_ value: String?) -> String? {
        guard let v = value, !v.isEmpty, v.utf8.count <= 128, v.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else { return nil }
        return v
    }
}
