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
        var revision: Int
        var lastSeen: Double
        /// Traffic per config since the last flush, merged: one row per config and flush, however
        /// many heartbeats arrived (a flood of them must not become a flood of rows).
        var samples: [QueuedSample]

        mutating func add(_ s: QueuedSample) {
            if let i = samples.lastIndex(where: { $0.sha == s.sha }) {
                samples[i].sample.merge(s.sample)
                samples[i].at = max(samples[i].at, s.at)
            } else {
                samples.append(s)
            }
        }
    }

    struct QueuedSample {
        var at: Double
        var sha: String?
        var sample: TrafficSample
        var row: (Double, JSONValue) { (at, ManagedGateway.persisted(sample, sha: sha)) }
    }

    let store: ControlPlaneStore
    private let pending = Mutex<[String: Pending]>([:])
    let logger: @Sendable (String) -> Void
    /// Test hook: runs after a flush took its batch, before it writes (the lost-update window).
    let afterFlushTake: (@Sendable () async -> Void)?

    init(store: ControlPlaneStore, logger: @escaping @Sendable (String) -> Void, afterFlushTake: (@Sendable () async -> Void)? = nil) {
        self.store = store
        self.logger = logger
        self.afterFlushTake = afterFlushTake
    }

    /// Stores a record now (registrations, ACKs, config-state changes); the caller answers only
    /// after this returns, and a failure is the caller's error (`storage_failed`).
    func save(_ id: String, _ record: JSONValue, revision: Int, lastSeen: Double?) async throws(KTError) {
        // A queued heartbeat for this gateway is older than this record; its samples are kept.
        let queued = pending.withLock { $0.removeValue(forKey: id) }
        do {
            try await store.saveGateway(id: id, record: record, lastSeen: lastSeen, revision: revision)
        } catch {
            // Its samples go back to the queue for the next flush.
            if let q = queued { requeue(id, q) }
            throw error
        }
        if let q = queued, !q.samples.isEmpty {
            do {
                try await store.saveHeartbeats(q.samples.map { (id, record, revision, lastSeen ?? q.lastSeen, $0.row) }, pruneBefore: 0)
            } catch {
                requeue(id, q)
                logger("cannot save heartbeats of gateway \(id): \(error.message)")
            }
        }
    }

    func heartbeat(_ id: String, _ record: JSONValue, revision: Int, lastSeen: Double, at: Double, sha: String?, sample: TrafficSample) {
        let queued = QueuedSample(at: at, sha: sha, sample: sample)
        pending.withLock { p in
            if var e = p[id] {
                e.record = record
                e.revision = revision
                e.lastSeen = lastSeen
                e.add(queued)
                p[id] = e
            } else {
                p[id] = Pending(record: record, revision: revision, lastSeen: lastSeen, samples: [queued])
            }
        }
    }

    /// A batch that could not be written goes back, under anything newer queued meanwhile
    /// (bounded: an hour of samples per gateway, the retention of the table).
    private func requeue(_ id: String, _ old: Pending) {
        pending.withLock { p in
            guard var newer = p[id] else { p[id] = old; return }
            newer.samples = Array((old.samples + newer.samples).suffix(3600))
            p[id] = newer
        }
    }

    /// Writes everything queued in one transaction; on failure it stays queued for the next.
    func flush() async {
        let batch = pending.withLock { p -> [String: Pending] in
            let b = p
            p.removeAll(keepingCapacity: true)
            return b
        }
        guard !batch.isEmpty else {
            // Nothing to write: while storage is failing, probe it so readiness recovers.
            if store.writeFailure != nil { await store.probeWrite() }
            return
        }
        if let afterFlushTake { await afterFlushTake() }
        var rows: [(id: String, record: JSONValue, revision: Int, lastSeen: Double, sample: (at: Double, json: JSONValue)?)] = []
        for (id, p) in batch {
            if p.samples.isEmpty { rows.append((id, p.record, p.revision, p.lastSeen, nil)) }
            for s in p.samples { rows.append((id, p.record, p.revision, p.lastSeen, s.row)) }
        }
        do {
            try await store.saveHeartbeats(rows, pruneBefore: Date().timeIntervalSince1970 - 3600)
        } catch {
            for (id, p) in batch { requeue(id, p) }
            logger("cannot save heartbeats: \(error.message)")
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
