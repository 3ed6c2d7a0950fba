import Foundation
import Synchronization
import KTModel

/// Fixed-window request counters for `global_rate_limit` and `user_rate_limit`.
/// Time is passed in so the windows are testable without waiting.
final class RateLimiter: Sendable {
    struct Window { var start: Double; var count: Int }
    private let global = Mutex<Window?>(nil)
    private let users = Mutex<[String: Window]>([:])

    /// nil when allowed, else the seconds until the window resets (for Retry-After).
    func check(_ limit: RateLimit?, user: (String, UserRateLimit)?, now: Double) -> (scope: String, retryAfter: Int)? {
        if let limit {
            let denied = global.withLock { w -> Int? in Self.take(&w, limit.maxRequests, Double(limit.windowSeconds), now) }
            if let d = denied { return ("global", d) }
        }
        if let (id, limit) = user {
            let denied = users.withLock { map -> Int? in
                if map.count > 100_000 { map = map.filter { now - $0.value.start < Double(limit.windowSeconds) } }
                var w = map[id]
                defer { map[id] = w }
                return Self.take(&w, limit.maxRequests, Double(limit.windowSeconds), now)
            }
            if let d = denied { return ("user", d) }
        }
        return nil
    }

    static func take(_ w: inout Window?, _ max: Int, _ seconds: Double, _ now: Double) -> Int? {
        if w == nil || now - w!.start >= seconds { w = Window(start: now, count: 0) }
        guard w!.count < max else { return Swift.max(1, Int((w!.start + seconds - now).rounded(.up))) }
        w!.count += 1
        return nil
    }
}

/// Recent decision events of a gateway, for `GET /keeptrusts/events` (and, later, upload).
final class EventRing: Sendable {
    private let state = Mutex<(events: [JSONValue], seq: [Int], next: Int)>(([], [], 1))
    let capacity: Int
    init(capacity: Int = 10_000) { self.capacity = capacity }

    func append(_ e: JSONValue) {
        state.withLock { s in
            s.events.append(e)
            s.seq.append(s.next)
            s.next += 1
            if s.events.count > capacity {
                s.events.removeFirst(s.events.count - capacity)
                s.seq.removeFirst(s.seq.count - capacity)
            }
        }
    }

    /// Events with a sequence number above `after`, oldest first, at most `limit`.
    func list(after: Int, limit: Int) -> (events: [JSONValue], last: Int) {
        state.withLock { s in
            let idx = s.seq.firstIndex { $0 > after } ?? s.seq.count
            let slice = Array(s.events[idx...].prefix(limit))
            return (slice, slice.isEmpty ? after : s.seq[idx + slice.count - 1])
        }
    }
}
