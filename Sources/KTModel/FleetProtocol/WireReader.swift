/// Reads the fields of one fleet-protocol message: the right JSON type, within bounds, or a
/// `BoundedFieldError` naming the field. Unknown keys are ignored (a newer gateway may send more);
/// a known key with the wrong type or an out-of-range value is refused.
struct WireReader {
    let object: JSONValue
    let message: String

    init(_ json: JSONValue, message: String) throws(BoundedFieldError) {
        guard json.objectValue != nil else { throw BoundedFieldError(field: message, message: "\(message) must be a JSON object") }
        object = json
        self.message = message
    }

    func present(_ key: String) -> JSONValue? {
        guard let v = object[key], !v.isNull else { return nil }
        return v
    }

    /// A string of at most `max` characters without control characters.
    func string(_ key: String, max: Int = 256, required: Bool = false) throws(BoundedFieldError) -> String? {
        guard let v = present(key) else {
            if required { throw BoundedFieldError(field: key, message: "\(message).\(key) is required") }
            return nil
        }
        guard let s = v.stringValue else { throw BoundedFieldError(field: key, message: "\(message).\(key) must be a string") }
        guard s.utf8.count <= max, !s.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\t" }) else {
            throw BoundedFieldError(field: key, message: "\(message).\(key) must be at most \(max) bytes without control characters")
        }
        return s
    }

    func integer(_ key: String, in range: ClosedRange<Int>) throws(BoundedFieldError) -> Int? {
        try BoundedField.integer(present(key), "\(message).\(key)", in: range)
    }

    func number(_ key: String, in range: ClosedRange<Double>) throws(BoundedFieldError) -> Double? {
        try BoundedField.number(present(key), "\(message).\(key)", in: range)
    }

    /// A config sha: 12 to 64 lower-case hex digits (short and full forms name the same config).
    /// A config sha: 12 to 64 hex digits, or exactly 64 when `full` (an ACK names the config it
    /// applied, and a prefix could name another).
    func sha(_ key: String, required: Bool = false, full: Bool = false) throws(BoundedFieldError) -> String? {
        guard let s = try string(key, max: 64, required: required) else { return nil }
        if full, s.utf8.count != 64 || !ConfigSHA.isWellFormed(s) {
            throw BoundedFieldError(field: key, message: "\(message).\(key) must be the config's full sha (64 lower-case hex digits, as the config answer gave it)")
        }
        guard ConfigSHA.isWellFormed(s) else {
            throw BoundedFieldError(field: key, message: "\(message).\(key) must be 12 to 64 lower-case hex digits (a config sha)")
        }
        return s
    }

    func object(_ key: String) throws(BoundedFieldError) -> JSONValue? {
        guard let v = present(key) else { return nil }
        guard v.objectValue != nil else { throw BoundedFieldError(field: key, message: "\(message).\(key) must be an object") }
        return v
    }
}

extension ConfigSHA {
    public static func isWellFormed(_ s: String) -> Bool {
        (12...64).contains(s.utf8.count) && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }
}

extension JSONValue {
    /// An object without its null members (optional fields are left out on the wire).
    static func compactObject(_ pairs: [(String, JSONValue)]) -> JSONValue { .object(pairs.filter { !$0.1.isNull }) }
}
