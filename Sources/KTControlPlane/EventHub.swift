import Foundation
import Synchronization

/// Fans newly stored events out to live subscribers (`GET /v1/events/stream`). A subscriber
/// that falls behind loses the oldest buffered events rather than slowing ingest.
public final class EventHub: Sendable {
    public struct Filter: Sendable {
        public var gateways: Set<String>?
        public var verdict: String?
        func matches(_ e: StoredEvent) -> Bool {
            (gateways.map { $0.contains(e.gateway) } ?? true) && (verdict.map { $0 == e.verdict } ?? true)
        }
    }

    private let subscribers = Mutex<[Int: (Filter, AsyncStream<StoredEvent>.Continuation)]>([:])
    private let nextID = Atomic<Int>(0)

    /// Events buffered for one subscriber that reads slower than they arrive; events are at most
    /// `DecisionEventCap.maxBytes` each, so a stalled reader holds at most 2,000 × 64 KB.
    public static let subscriberBuffer = 2_000

    public init() {}

    public func subscribe(_ filter: Filter) -> (id: Int, stream: AsyncStream<StoredEvent>) {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream<StoredEvent>.makeStream(bufferingPolicy: .bufferingNewest(Self.subscriberBuffer))
        subscribers.withLock { $0[id] = (filter, continuation) }
        continuation.onTermination = { [weak self] _ in self?.unsubscribe(id) }
        return (id, stream)
    }

    public func unsubscribe(_ id: Int) {
        let c = subscribers.withLock { $0.removeValue(forKey: id) }
        c?.1.finish()
    }

    public func publish(_ events: [StoredEvent]) {
        let subs = subscribers.withLock { Array($0.values) }
        for (filter, c) in subs {
            for e in events where filter.matches(e) { c.yield(e) }
        }
    }

    public var subscriberCount: Int { subscribers.withLock { $0.count } }
}
