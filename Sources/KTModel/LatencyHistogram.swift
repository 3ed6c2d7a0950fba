import Foundation

/// A latency histogram with fixed log-spaced buckets, shared by every gateway and the control
/// plane, so histograms from many gateways and heartbeats merge exactly (bucket-wise sums)
/// and percentiles of the merged histogram are within one bucket (±5 %) of the true value.
///
/// Bucket `i` holds values in (bound(i-1), bound(i)] with bound(i) = 0.01 ms × 1.1^i; the last
/// bucket also holds everything larger (about 28 minutes and up).
public struct LatencyHistogram: Sendable, Equatable {
    public static let bucketCount = 200
    static let base = 0.01
    static let factor = 1.1
    static let logFactor = log(factor)

    /// Sparse: bucket index → count.
    public private(set) var counts: [Int: Int] = [:]
    public private(set) var total = 0
    public private(set) var sumMs = 0.0

    public init() {}

    public static func upperBoundMs(_ index: Int) -> Double { base * pow(factor, Double(index)) }

    public static func index(forMs ms: Double) -> Int {
        guard ms > base else { return 0 }
        let i = Int((log(ms / base) / logFactor).rounded(.up))
        // Guard against floating-point landing one bucket low.
        let fixed = upperBoundMs(i) < ms ? i + 1 : i
        return min(max(fixed, 0), bucketCount - 1)
    }

    public mutating func record(ms: Double) {
        counts[Self.index(forMs: ms), default: 0] += 1
        total += 1
        sumMs += ms
    }

    public mutating func merge(_ other: LatencyHistogram) {
        for (i, c) in other.counts { counts[i, default: 0] += c }
        total += other.total
        sumMs += other.sumMs
    }

    /// The value at quantile `q` (0...1): the upper bound of the bucket holding that rank. nil when empty.
    public func percentile(_ q: Double) -> Double? {
        guard total > 0 else { return nil }
        let rank = max(1, Int((q * Double(total)).rounded(.up)))
        var seen = 0
        for i in counts.keys.sorted() {
            seen += counts[i]!
            if seen >= rank { return Self.upperBoundMs(i) }
        }
        return Self.upperBoundMs(counts.keys.max()!)
    }

    /// Wire form: `{"buckets":[[index,count],...],"count":N,"sum_ms":S}` (sparse, sorted).
    public var json: JSONValue {
        .object([("buckets", .array(counts.keys.sorted().map { .array([.int($0), .int(counts[$0]!)]) })),
                 ("count", .int(total)), ("sum_ms", .double((sumMs * 1000).rounded() / 1000))])
    }

    /// Parses the wire form; nil when it is malformed (indexes out of range, negative counts).
    public init?(json: JSONValue) {
        guard let buckets = json["buckets"]?.arrayValue else { return nil }
        for b in buckets {
            guard let pair = b.arrayValue, pair.count == 2, let i = pair[0].intValue, let c = pair[1].intValue,
                  (0..<Self.bucketCount).contains(i), c >= 0 else { return nil }
            counts[i, default: 0] += c
            total += c
        }
        sumMs = json["sum_ms"]?.doubleValue ?? 0
    }
}
