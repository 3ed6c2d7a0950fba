import Foundation
import Synchronization
import KTModel

/// Fixed-window request counters for `global_rate_limit` and `user_rate_limit`.
/// Time is passed in so the windows are testable without waiting.
///
/// The per-user map is fed by a client-chosen header, so it is bounded: at most `maxUsers`
/// windows, and past that the window opened longest ago is dropped first (amortised O(1): a FIFO
/// of window openings, stale entries skipped). A dropped user simply starts a new window.
final class RateLimiter: Sendable {
    struct Window { var start: Double; var count: Int }
    private struct Users {
        var windows: [String: Window] = [:]
        /// Window openings in order; an entry is stale when its user's window has been reopened.
        var openings: [(key: String, start: Double)] = []
        var head = 0
    }
    private let global = Mutex<Window?>(nil)
    private let users = Mutex(Users())
    let maxUsers: Int

    init(maxUsers: Int = 100_000) { self.maxUsers = maxUsers }

    /// nil when allowed, else the seconds until the window resets (for Retry-After).
    func check(_ limit: RateLimit?, user: (String, UserRateLimit)?, now: Double) -> (scope: String, retryAfter: Int)? {
        if let limit {
            let denied = global.withLock { w -> Int? in Self.take(&w, limit.maxRequests, Double(limit.windowSeconds), now) }
            if let d = denied { return ("global", d) }
        }
        if let (id, limit) = user {
            let denied = users.withLock { u -> Int? in
                var w = u.windows[id]
                let before = w?.start
                let result = Self.take(&w, limit.maxRequests, Double(limit.windowSeconds), now)
                u.windows[id] = w
                if let w, w.start != before { u.openings.append((id, w.start)) }
                Self.evict(&u, max: maxUsers)
                return result
            }
            if let d = denied { return ("user", d) }
        }
        return nil
    }

    var userCount: Int { users.withLock { $0.windows.count } }

    private static func evict(_ u: inout Users, max: Int) {
        while u.windows.count > max, u.head < u.openings.count {
            let (key, start) = u.openings[u.head]
            u.head += 1
            if u.windows[key]?.start == start { u.windows[key] = nil }
        }
        if u.head > 1024, u.head * 2 > u.openings.count {
            u.openings.removeFirst(u.head)
            u.head = 0
        }
    }

    static func take(_ w: inout Window?, _ max: Int, _ seconds: Double, _ now: Double) -> Int? {
        if w == nil || now - w!.start >= seconds { w = Window(start: now, count: 0) }
        guard w!.count < max else { return Swift.max(1, Int((w!.start + seconds - now).rounded(.up))) }
        w!.count += 1
        return nil
    }
}
