import Foundation
import Synchronization
import KTModel

/// Writes gateway records to the store: registrations and config-state changes at once (the
/// caller awaits the commit), heartbeats batched into one transaction per flush interval so a
/// large fleet costs one commit per second, not one per heartbeat. A SIGKILL loses at most the
/// last interval's heartbeat samples, never a registration or config state.
public final class GatewayPersistence: Sendable {
    struct Pending {
        var record: JSONValue
        var lastSeen: Double
        var samples: [(Double, JSONValue)]
    }

    let store: ControlPlaneStore
    private let pending = Mutex<[String: Pending]>([:])
    private let flushing = Mutex<Bool>(false)
    let logger: @Sendable (String) -> Void

    init(store: ControlPlaneStore, logger: @escaping @Sendable (String) -> Void) {
        self.store = store
        self.logger = logger
    }

    func save(_ id: String, _ record: JSONValue, lastSeen: Double?) async {
        // A queued heartbeat for this gateway is older than this record.
        let queued = pending.withLock { $0.removeValue(forKey: id) }
        do {
            try await store.saveGateway(id: id, record: record, lastSeen: lastSeen)
            if let q = queued, !q.samples.isEmpty {
                try await store.saveHeartbeats(q.samples.map { (id, record, lastSeen ?? q.lastSeen, $0) }, pruneBefore: 0)
            }
        } catch {
            logger("cannot save gateway \(id): \(error)")
        }
    }

    func heartbeat(_ id: String, _ record: JSONValue, lastSeen: Double, sample: (Double, JSONValue)) {
        pending.withLock { p in
            if var e = p[id] {
                e.record = record
                e.lastSeen = lastSeen
                e.samples.append(sample)
                p[id] = e
            } else {
                p[id] = Pending(record: record, lastSeen: lastSeen, samples: [sample])
            }
        }
    }

    /// Writes everything queued in one transaction.
    func flush() async {
        let batch = pending.withLock { p -> [String: Pending] in
            let b = p
            p.removeAll(keepingCapacity: true)
            return b
        }
        guard !batch.isEmpty else { return }
        var rows: [(id: String, record: JSONValue, lastSeen: Double, sample: (at: Double, json: JSONValue)?)] = []
        for (id, p) in batch {
            if p.samples.isEmpty { rows.append((id, p.record, p.lastSeen, nil)) }
            for s in p.samples { rows.append((id, p.record, p.lastSeen, (s.0, s.1))) }
        }
        do {
            try await store.saveHeartbeats(rows, pruneBefore: Date().timeIntervalSince1970 - 3600)
        } catch {
            logger("cannot save heartbeats: \(error)")
        }
    }

    /// Flushes every `interval` until cancelled (then once more).
    func run(interval: Duration) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            await flush()
        }
        await flush()
    }
}
