import Foundation
import Synchronization
import KTModel

/// What a managed gateway reports to the control plane: the traffic since the last heartbeat
/// and a bounded queue of decision events for upload. Recording never blocks the data path:
/// when the queue is full the oldest event is dropped and counted.
public final class ManagedTelemetry: Sendable {
    struct State {
        /// Per config sha the requests ran under: a push or a rollback between two heartbeats
        /// must not lend one config's blocks to the next.
        var traffic: [String: TrafficSample] = [:]
        var queue: [JSONValue] = []
        var head = 0
        var dropped = 0
        var uploaded = 0
    }

    private let state = Mutex(State())
    private let enabled = Atomic<Bool>(false)
    public let capacity: Int

    public init(capacity: Int = 10_000) { self.capacity = max(1, capacity) }

    /// Standalone gateways keep nothing; managed ones switch this on.
    public func enable() { enabled.store(true, ordering: .relaxed) }
    public var isEnabled: Bool { enabled.load(ordering: .relaxed) }

    func record(status: Int, verdict: String, latencyMs: Double, overheadMs: Double, configSHA: String, event: JSONValue) {
        guard isEnabled else { return }
        state.withLock { s in
            s.traffic[configSHA, default: TrafficSample()].record(status: status, verdict: verdict, latencyMs: latencyMs, overheadMs: overheadMs)
            if s.queue.count - s.head >= capacity {
                s.head += 1
                s.dropped += 1
            }
            s.queue.append(event)
            if s.head > 4096, s.head * 2 > s.queue.count {
                s.queue.removeFirst(s.head)
                s.head = 0
            }
        }
    }

    /// The traffic since the last take, per config sha.
    public func takeTraffic() -> [String: TrafficSample] {
        state.withLock { s in
            let t = s.traffic
            s.traffic = [:]
            return t
        }
    }

    /// A heartbeat that failed gives its traffic back, so the next one reports it.
    public func giveBack(_ t: [String: TrafficSample]) {
        state.withLock { s in for (sha, sample) in t { s.traffic[sha, default: TrafficSample()].merge(sample) } }
    }

    /// The running config's traffic and the rest, as a heartbeat carries them: at most
    /// `HeartbeatMessage.maxEarlierConfigs` others (more between two heartbeats means configs
    /// changing faster than anyone judges them; the extra ones are folded into another earlier
    /// config's figure — never into the running one's, which a rollout judges).
    public static func split(_ t: [String: TrafficSample], running: String) -> (TrafficSample, [HeartbeatMessage.ConfigTraffic]) {
        let current = t[running] ?? TrafficSample()
        var others = t.filter { $0.key != running && $0.value.requests > 0 }.map { HeartbeatMessage.ConfigTraffic(sha: $0.key, traffic: $0.value) }
            .sorted { $0.sha < $1.sha }
        while others.count > HeartbeatMessage.maxEarlierConfigs {
            let extra = others.removeLast()
            others[others.count - 1].traffic.merge(extra.traffic)
        }
        return (current, others)
    }

    /// Up to `max` of the oldest queued events (they stay queued until `confirm`).
    public func peekEvents(max: Int) -> [JSONValue] {
        state.withLock { s in Array(s.queue[s.head..<min(s.queue.count, s.head + max)]) }
    }

    /// The first `n` events were delivered (events dropped meanwhile shift what is first).
    public func confirm(_ sent: [JSONValue]) {
        state.withLock { s in
            // Drop-oldest may have removed some of what was sent; remove only what is still at the front.
            var n = 0
            while n < sent.count, s.head + n < s.queue.count, s.queue[s.head + n] == sent[n] { n += 1 }
            s.head += n
            s.uploaded += sent.count
            if s.head == s.queue.count {
                s.queue.removeAll(keepingCapacity: true)
                s.head = 0
            }
        }
    }

    public var queued: Int { state.withLock { $0.queue.count - $0.head } }
    public var dropped: Int { state.withLock { $0.dropped } }
    public var uploaded: Int { state.withLock { $0.uploaded } }
}
