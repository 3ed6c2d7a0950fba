/// Numbers that arrive from outside (request bodies, heartbeats, task answers, the command line)
/// are read through these: the right type, finite, inside a range that names its bounds, or an
/// error that says which field, what is allowed and what came. Nothing downstream traps on them.
public struct BoundedFieldError: Error, Sendable, CustomStringConvertible, Equatable {
    public var field: String
    public var message: String
    public var description: String { message }
    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
}

public enum BoundedField {
    /// An integer in `range`; JSON numbers with a fraction, non-numbers and out-of-range values fail.
    public static func integer(_ value: JSONValue?, _ field: String, in range: ClosedRange<Int>, default d: Int? = nil) throws(BoundedFieldError) -> Int? {
        guard let value, !value.isNull else { return d }
        let n: Int?
        switch value {
        case .int(let i): n = i
        case .double(let x) where x.isFinite && x.rounded() == x && abs(x) < 9e15: n = Int(x)
        default: n = nil
        }
        guard let n, range.contains(n) else {
            throw BoundedFieldError(field: field, message: "\(field) must be an integer from \(range.lowerBound) to \(range.upperBound) (got \(shown(value)))")
        }
        return n
    }

    /// A finite number in `range`.
    public static func number(_ value: JSONValue?, _ field: String, in range: ClosedRange<Double>, default d: Double? = nil) throws(BoundedFieldError) -> Double? {
        guard let value, !value.isNull else { return d }
        guard let x = value.doubleValue, x.isFinite, range.contains(x) else {
            throw BoundedFieldError(field: field, message: "\(field) must be a number from \(shown(range.lowerBound)) to \(shown(range.upperBound)) (got \(shown(value)))")
        }
        return x
    }

    /// A decimal integer typed by a person (`--batch-size 3`): digits only, in `range`.
    public static func integer(text: String, _ field: String, in range: ClosedRange<Int>) throws(BoundedFieldError) -> Int {
        guard !text.isEmpty, text.utf8.count <= 19, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = Int(text), range.contains(n) else {
            throw BoundedFieldError(field: field, message: "\(field) must be an integer from \(range.lowerBound) to \(range.upperBound) (got '\(text.prefix(40))')")
        }
        return n
    }

    /// A client-supplied string quoted in an error message: at most `max` characters, so a
    /// megabyte "model" is not sent back (or logged) whole.
    public static func excerpt(_ text: String, max: Int = 64) -> String {
        text.count > max ? String(text.prefix(max)) + "…" : text
    }

    static func shown(_ v: JSONValue) -> String {
        let s = v.serialized()
        return s.count > 40 ? String(s.prefix(40)) + "…" : s
    }

    static func shown(_ d: Double) -> String { d.rounded() == d && abs(d) < 1e15 ? String(Int(d)) : String(d) }
}

extension Int {
    /// Adds without trapping: counters merged from many gateways stop at Int.max.
    public func saturatingAdd(_ other: Int) -> Int {
        let (r, o) = addingReportingOverflow(other)
        return o ? (other > 0 ? .max : .min) : r
    }
}

extension Int {
    /// For showing numbers another process sent: NaN is 0, out-of-range values clamp.
    public init(saturating d: Double) {
        if d.isNaN { self = 0 } else if d >= 9.2e18 { self = .max } else if d <= -9.2e18 { self = .min } else { self = Int(d) }
    }
}
