import Testing
import KTModel
@testable import KTGateway

@Suite struct EventRingTests {
    @Test func keepsTheNewestAndListsBySequence() {
        let ring = EventRing(capacity: 4)
        for i in 1...10 { ring.append(.int(i)) }
        // Sequence numbers 7...10 are held.
        let all = ring.list(after: 0, limit: 100)
        #expect(all.events == [.int(7), .int(8), .int(9), .int(10)])
        #expect(all.last == 10)
        let tail = ring.list(after: 8, limit: 100)
        #expect(tail.events == [.int(9), .int(10)] && tail.last == 10)
        let page = ring.list(after: 6, limit: 2)
        #expect(page.events == [.int(7), .int(8)] && page.last == 8)
        #expect(ring.list(after: 10, limit: 5).events.isEmpty)
        #expect(ring.list(after: 10, limit: 5).last == 10)
        #expect(ring.list(after: -5, limit: 0).events.isEmpty)
    }

    @Test func beforeItFills() {
        let ring = EventRing(capacity: 100)
        for i in 1...3 { ring.append(.int(i)) }
        #expect(ring.list(after: 1, limit: 10).events == [.int(2), .int(3)])
    }
}

@Suite struct RateLimiterBoundTests {
    @Test func distinctUsersBeyondTheBoundEvictTheOldestWindows() {
        let limiter = RateLimiter(maxUsers: 100)
        let limit = UserRateLimit(maxRequests: 1, windowSeconds: 3600, headerNames: ["x-user"])
        for i in 0..<10_000 { _ = limiter.check(nil, user: ("user-\(i)", limit), now: Double(i) / 1000) }
        #expect(limiter.userCount <= 100)
        // A recent user is still limited; the oldest was forgotten and starts a new window.
        #expect(limiter.check(nil, user: ("user-9999", limit), now: 10) != nil)
        #expect(limiter.check(nil, user: ("user-0", limit), now: 10) == nil)
    }
}
