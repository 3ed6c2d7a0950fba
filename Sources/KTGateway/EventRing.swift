import Synchronization
import KTModel

/// Recent decision events of a gateway, for `GET /keeptrusts/events`: a fixed ring, so appending
/// is O(1) however full it is, and a read finds its start by arithmetic on sequence numbers
/// (they are consecutive: the oldest held one is `next - count`).
final class EventRing: Sendable {
    private struct State {
        var slots: [JSONValue] = []
        /// Where the oldest event is, once the ring is full.
        var oldest = 0
        var next = 1
    }
    private let state = Mutex(State())
    let capacity: Int
    init(capacity: Int = 10_000) { self.capacity = max(1, capacity) }

    func append(_ e: JSONValue) {
        state.withLock { s in
            if s.slots.count < capacity {
                s.slots.append(e)
            } else {
                s.slots[s.oldest] = e
                s.oldest = (s.oldest + 1) % capacity
            }
            s.next += 1
        }
    }

    /// Events with a sequence number above `after`, oldest first, at most `limit`.
    func list(after: Int, limit: Int) -> (events: [JSONValue], last: Int) {
        state.withLock { s in
            let count = s.slots.count
            let firstSeq = s.next - count
            let skip = min(count, max(0, after + 1 - firstSeq))
            let n = min(max(0, limit), count - skip)
            guard n > 0 else { return ([], after) }
            var out: [JSONValue] = []
            out.reserveCapacity(n)
            for i in skip..<(skip + n) { out.append(s.slots[(s.oldest + i) % count]) }
            return (out, firstSeq + skip + n - 1)
        }
    }
}
