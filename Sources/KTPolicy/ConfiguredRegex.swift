import Foundation

/// A regular expression from a config (DLP and PII patterns, safety rules, rewriter rules, extra
/// attack patterns). ICU backtracks, so a lint-clean `(a+)+$` can take exponential time on a
/// 30-byte input; every match here runs against the evaluation's deadline and throws when it
/// passes, and fail_mode decides what that means for the request.
public struct ConfiguredRegex: @unchecked Sendable {
    // NSRegularExpression is immutable after creation and safe to share between threads.
    public let regex: NSRegularExpression

    public init(pattern: String, options: NSRegularExpression.Options = []) throws {
        regex = try NSRegularExpression(pattern: pattern, options: options)
    }

    public struct BudgetExceeded: Error, Sendable, CustomStringConvertible {
        public var pattern: String
        public var description: String { "the pattern '\(pattern.prefix(60))' ran past the policy evaluation budget (simplify nested quantifiers)" }
    }

    /// All matches, or `BudgetExceeded` once `deadline` (uptime nanoseconds) has passed.
    public func matches(in text: String, range: NSRange, deadline: UInt64) throws(BudgetExceeded) -> [NSTextCheckingResult] {
        var out: [NSTextCheckingResult] = []
        var exceeded = false
        regex.enumerateMatches(in: text, options: [.reportProgress], range: range) { result, _, stop in
            if let result { out.append(result) }
            if DispatchTime.now().uptimeNanoseconds > deadline {
                exceeded = true
                stop.pointee = true
            }
        }
        if exceeded { throw BudgetExceeded(pattern: regex.pattern) }
        return out
    }

    public func firstMatch(in text: String, range: NSRange, deadline: UInt64) throws(BudgetExceeded) -> NSTextCheckingResult? {
        var found: NSTextCheckingResult?
        var exceeded = false
        regex.enumerateMatches(in: text, options: [.reportProgress], range: range) { result, _, stop in
            if let result { found = result; stop.pointee = true; return }
            if DispatchTime.now().uptimeNanoseconds > deadline {
                exceeded = true
                stop.pointee = true
            }
        }
        if exceeded { throw BudgetExceeded(pattern: regex.pattern) }
        return found
    }

    /// `text` with every match replaced by `template`, within the deadline.
    public func replacingMatches(in text: String, template: String, deadline: UInt64) throws(BudgetExceeded) -> String {
        let ns = text as NSString
        let found = try matches(in: text, range: NSRange(location: 0, length: ns.length), deadline: deadline)
        guard !found.isEmpty else { return text }
        let out = NSMutableString(string: text)
        for m in found.reversed() {
            out.replaceCharacters(in: m.range, with: regex.replacementString(for: m, in: text, offset: 0, template: template))
        }
        return out as String
    }
}

extension EvaluationContext {
    /// No deadline (tools and tests that evaluate without a budget).
    public static let noDeadline: UInt64 = .max
}
