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

    /// Every bucket's upper bound, computed once (the judge and percentiles read them often).
    static let upperBounds: [Double] = (0..<bucketCount).map { base * pow(factor, Double($0)) }

    public static func upperBoundMs(_ index: Int) -> Double {
        index >= 0 && index < bucketCount ? upperBounds[index] : base * pow(factor, Double(index))
    }

    /// (bucket, count) pairs in bucket order.
    public var sortedBuckets: [(index: Int, count: Int)] { counts.map { ($0.key, $0.value) }.sorted { $0.index < $1.index } }

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
        if ms.isFinite, ms >= 0 { sumMs += ms }
    }

    /// Adds `count` values to bucket `index` (simulations build histograms this way).
    public mutating func add(bucket index: Int, count: Int = 1) {
        let i = min(max(index, 0), Self.bucketCount - 1)
        counts[i] = (counts[i] ?? 0).saturatingAdd(count)
        total = total.saturatingAdd(count)
        sumMs += Self.upperBoundMs(i) * Double(count)
    }

    /// Bucket-wise sums that saturate, so merging many gateways' histograms never traps.
    public mutating func merge(_ other: LatencyHistogram) {
        for (i, c) in other.counts { counts[i] = (counts[i] ?? 0).saturatingAdd(c) }
        total = total.saturatingAdd(other.total)
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

    /// Parses the wire form strictly: at most `bucketCount` pairs of `[index, count]` with
    /// indexes in range and not repeated, counts in 0...TrafficSample.maxCount, a total within
    /// that bound too, and a finite non-negative `sum_ms`.
    public init(json: JSONValue, field: String = "histogram") throws(BoundedFieldError) {
        func bad(_ why: String) -> BoundedFieldError { BoundedFieldError(field: field, message: "\(field) is malformed: \(why)") }
        guard let buckets = json["buckets"]?.arrayValue else { throw bad("needs buckets as [[index, count], ...]") }
        guard buckets.count <= Self.bucketCount else { throw bad("more than \(Self.bucketCount) buckets") }
        for b in buckets {
            guard let pair = b.arrayValue, pair.count == 2 else { throw bad("each bucket is [index, count]") }
            let i = try BoundedField.integer(pair[0], "\(field) bucket index", in: 0...(Self.bucketCount - 1))!
            let c = try BoundedField.integer(pair[1], "\(field) bucket count", in: 0...TrafficSample.maxCount)!
            guard counts[i] == nil else { throw bad("bucket \(i) appears twice") }
            counts[i] = c
            total += c   // at most 200 × 2^40: no overflow
        }
        guard total <= TrafficSample.maxCount else { throw bad("more than \(TrafficSample.maxCount) values in all") }
        sumMs = try BoundedField.number(json["sum_ms"], "\(field).sum_ms", in: 0...1e18, default: 0)!
    }

    /// The lenient form for data this process wrote itself (stored samples).
    public init?(json: JSONValue) {
        guard let h = try? LatencyHistogram(json: json, field: "histogram") else { return nil }
        self = h
    }
}
