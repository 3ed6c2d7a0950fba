import Foundation

/// Wall-clock time as the managed protocol carries it (`unix_ms`): heartbeats and doctor answers,
/// compared by the control plane with its own clock for the clock-skew check.
public enum UnixTime {
    public static func milliseconds(_ date: Date = Date()) -> Int { Int((date.timeIntervalSince1970 * 1000).rounded()) }
}
