import Foundation
import Synchronization
import KTModel
import KTConfig

/// The audit-logger's store: append-only JSON-lines segments in `<state-dir>/audit/`.
///
/// Each line is `{"hash":H,"prev":P,"record":R}` with H = SHA-256(P + R) over R's exact bytes,
/// so the file itself is the chain and `kt audit verify` needs no re-serialisation. One writer
/// thread appends; durability is group commit: `batched` fsyncs within 50 ms, `strict` makes
/// `append` return only after the fsync that covers the record (every record queued meanwhile
/// shares that fsync, which keeps throughput).
///
/// Every `write`, `fsync` and `ftruncate` result is checked. A failed write or fsync rolls the
/// segment back to its last durable record (a failed fsync also retires the segment: the page
/// cache can no longer be trusted), so no record is ever chained onto a torn one; the records
/// concerned are reported failed (`append` answers `.failed` in strict mode) and the log is
/// *failing* until a write succeeds again. The first record after an outage is an
/// `audit_outage` record that says what was lost, linked to the last durable one.
public final class AuditLog: @unchecked Sendable {
    public static let segmentLimit = 64 << 20
    /// Records waiting for the writer; beyond it `append` fails (strict) or drops (batched).
    public static let queueLimit = 16_384
    static let genesis = String(repeating: "0", count: 64)

    /// What became of one `append`.
    public enum AppendResult: Sendable, Equatable {
        /// On disk (strict mode: the fsync covering it returned).
        case durable
        /// Queued for the next group commit (batched mode).
        case queued
        /// Not stored: why, in words for an operator.
        case failed(String)
    }

    /// The writer's health, for `/health`, `/readyz`, `/metrics` and the heartbeat.
    public struct Health: Sendable, Equatable {
        /// Why the log cannot store records now; nil when it can.
        public var failure: String?
        public var failingSince: Date?
        public var recordsWritten = 0
        public var recordsFailed = 0
        public var recordsDropped = 0
        public var writeErrors = 0
        public var requestsRejected = 0
        public var ok: Bool { failure == nil }
    }

    /// A file operation, for tests that inject the errors a real disk gives (EIO from fsync,
    /// which no tmpfs produces).
    enum FileOperation: Sendable { case open, write, fsync, truncate }

    public let directory: String
    let gatewayID: String
    private let settingsBox: Mutex<AuditLoggerSettings>
    var settings: AuditLoggerSettings { settingsBox.withLock { $0 } }
    private typealias Item = (body: [UInt8], done: CheckedContinuation<AppendResult, Never>?)
    /// Records waiting for the writer; `closed` once the writer has exited.
    private let queue = Mutex<(items: [Item], closed: Bool)>(([], false))
    private let wake = DispatchSemaphore(value: 0)
    private let running = Atomic<Bool>(true)
    private let stopped = DispatchSemaphore(value: 0)
    private let healthBox = Mutex(Health())
    /// Test hook: an errno to fail the operation with, or nil.
    let injectFault: (@Sendable (FileOperation) -> Int32?)?
    /// How long a failing log waits between attempts when nothing is queued.
    let retryInterval: DispatchTimeInterval

    // Writer thread only:
    private var fd: Int32 = -1
    private var segmentIndex = 0
    private var segmentBytes = 0
    private var prev = AuditLog.genesis
    /// The part of the segment known to be on disk, and the chain head there.
    private var durableBytes = 0
    private var durablePrev = AuditLog.genesis
    /// Records written since the last fsync (batched mode), reported failed if it fails.
    private var unsyncedRecords = 0
    private var unsyncedSince: UInt64?
    private var lastSweep: UInt64 = 0
    /// The current outage, written as the first record once writes succeed again.
    private var outage: (started: Date, reason: String, failed: Int, droppedAtStart: Int, rejectedAtStart: Int)?

    public convenience init(stateDir: String, settings: AuditLoggerSettings, gatewayID: String = "") throws(KTError) {
        try self.init(stateDir: stateDir, settings: settings, gatewayID: gatewayID, retryInterval: .milliseconds(500), injectFault: nil)
    }

    init(stateDir: String, settings: AuditLoggerSettings, gatewayID: String, retryInterval: DispatchTimeInterval,
         injectFault: (@Sendable (FileOperation) -> Int32?)?) throws(KTError) {
        directory = (stateDir as NSString).appendingPathComponent("audit")
        self.settingsBox = Mutex(settings)
        self.gatewayID = gatewayID
        self.retryInterval = retryInterval
        self.injectFault = injectFault
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw KTError(.io, "cannot create the audit directory \(directory): \(error.localizedDescription)")
        }
        try recover()
        let t = Thread { [self] in run() }
        t.name = "kt-audit"
        t.start()
    }

    public static func segments(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix("segment-") && $0.hasSuffix(".jsonl") }.sorted()
            .map { (directory as NSString).appendingPathComponent($0) }
    }

    /// Continues the chain of the last segment; a torn last line (a crash mid-write, whose
    /// response was never released in strict mode) is cut off.
    private func recover() throws(KTError) {
        let files = Self.segments(in: directory)
        if let last = files.last {
            segmentIndex = Int(((last as NSString).lastPathComponent.dropFirst(8).dropLast(6))) ?? 0
            guard var data = FileManager.default.contents(atPath: last).map([UInt8].init) else {
                throw KTError(.io, "cannot read audit segment \(last)")
            }
            if let lastNewline = data.lastIndex(of: 10), lastNewline != data.count - 1 {
                data = Array(data[...lastNewline])
                truncate(last, off_t(data.count))
            } else if data.last != 10, !data.isEmpty {
                data = []
                truncate(last, 0)
            }
            segmentBytes = data.count
            if let line = data.split(separator: 10).last, let h = Self.hash(ofLine: Array(line)) { prev = h }
            else if files.count > 1, let h = Self.lastHash(files[files.count - 2]) { prev = h }
        }
        if let problem = openSegment() { throw KTError(.io, problem) }
    }

    static func lastHash(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path), let line = [UInt8](data).split(separator: 10).last else { return nil }
        return hash(ofLine: Array(line))
    }

    static func hash(ofLine line: [UInt8]) -> String? {
        guard line.count > 10 + 64, line.starts(with: Array(#"{"hash":""#.utf8)) else { return nil }
        return String(decoding: line[9..<73], as: UTF8.self)
    }

    var segmentPath: String {
        (directory as NSString).appendingPathComponent(String(format: "segment-%06d.jsonl", segmentIndex))
    }

    /// Opens the current segment (a new one when there is none or it is full); the directory is
    /// fsync'd when the file is new, so the segment survives a crash. The problem, or nil.
    private func openSegment() -> String? {
        if fd >= 0 { Foundation.close(fd); fd = -1 }
        if segmentIndex == 0 || segmentBytes >= Self.segmentLimit {
            segmentIndex += 1
            segmentBytes = 0
        }
        let path = segmentPath
        let existed = FileManager.default.fileExists(atPath: path)
        if let e = injectFault?(.open) { return "cannot open audit segment \(path): \(String(cString: strerror(e)))" }
        let opened = Foundation.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        if opened < 0 { return "cannot open audit segment \(path): \(String(cString: strerror(errno)))" }
        fd = opened
        durableBytes = segmentBytes
        durablePrev = prev
        if !existed { Self.syncDirectory(directory) }
        return nil
    }

    /// fsync of a directory: makes a created or removed entry durable.
    static func syncDirectory(_ path: String) {
        let d = Foundation.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard d >= 0 else { return }
        _ = fsync(d)
        Foundation.close(d)
    }

    /// A reload may change durability, immutability or retention; the chain continues.
    public func update(_ settings: AuditLoggerSettings) { settingsBox.withLock { $0 = settings } }

    public var health: Health { healthBox.withLock { $0 } }

    /// A request refused up front because the (strict) log is failing.
    public func noteRejectedRequest() { healthBox.withLock { $0.requestsRejected += 1 } }

    /// Queues a record. In strict mode this returns once the record is on disk, or failed.
    public func append(_ record: JSONValue) async -> AppendResult {
        let body = Array(record.serialized().utf8)
        if settings.durability == .strict {
            return await withCheckedContinuation { (c: CheckedContinuation<AppendResult, Never>) in
                let refusal = enqueue((body, c))
                if let refusal { c.resume(returning: .failed(refusal)) } else { wake.signal() }
            }
        }
        if let refusal = enqueue((body, nil)) { return .failed(refusal) }
        wake.signal()
        return .queued
    }

    /// Adds to the queue unless it is full or the writer has exited (decided under the queue's
    /// lock, where the writer decides to exit, so no waiter is left that nobody resumes).
    private func enqueue(_ item: Item) -> String? {
        let outcome = queue.withLock { q -> Int in
            if q.closed { return 1 }
            guard q.items.count < Self.queueLimit else { return 2 }
            q.items.append(item)
            return 0
        }
        switch outcome {
        case 0: return nil
        case 1: return "the audit log is closed (the gateway is stopping)"
        default:
            healthBox.withLock { $0.recordsDropped += 1 }
            return "the audit writer has \(Self.queueLimit) records queued (the disk is too slow); record dropped"
        }
    }

    /// Flushes, fsyncs and stops the writer.
    public func close() {
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        wake.signal()
        stopped.wait()
    }

    private func run() {
        var lastAttempt: UInt64 = 0
        while true {
            let isRunning = running.load(ordering: .acquiring)
            _ = wake.wait(timeout: .now() + .milliseconds(10))
            let batch = queue.withLock { q -> [Item] in let b = q.items; q.items.removeAll(); return b }
            let now = DispatchTime.now().uptimeNanoseconds
            if !batch.isEmpty {
                lastAttempt = now
                commit(batch, now: now, final: !isRunning)
            } else if outage != nil, now - lastAttempt >= retryNanoseconds {
                // Failing and idle: try to write the outage record, which ends the outage.
                lastAttempt = now
                commit([], now: now, final: !isRunning)
            } else if let since = unsyncedSince, now - since >= 50_000_000 || !isRunning {
                sync(waiters: [])
            }
            if now - lastSweep > 3_600_000_000_000 {
                lastSweep = now
                sweep()
            }
            if !isRunning && queue.withLock({ q -> Bool in
                guard q.items.isEmpty else { return false }
                q.closed = true
                return true
            }) {
                if unsyncedSince != nil { sync(waiters: []) }
                if fd >= 0 { Foundation.close(fd) }
                stopped.signal()
                return
            }
        }
    }

    private var retryNanoseconds: UInt64 {
        switch retryInterval {
        case .seconds(let s): UInt64(s) * 1_000_000_000
        case .milliseconds(let ms): UInt64(ms) * 1_000_000
        case .microseconds(let us): UInt64(us) * 1_000
        case .nanoseconds(let ns): UInt64(ns)
        case .never: UInt64.max
        @unknown default: 500_000_000
        }
    }

    private func line(for body: [UInt8], immutable: Bool) -> [UInt8] {
        var line: [UInt8]
        if immutable {
            let hash = SHA256.hex(Array(prev.utf8) + body)
            line = Array(#"{"hash":""#.utf8) + Array(hash.utf8) + Array(#"","prev":""#.utf8) + Array(prev.utf8) + Array(#"","record":"#.utf8)
            prev = hash
        } else {
            line = Array(#"{"record":"#.utf8)
        }
        line += body
        line += Array("}\n".utf8)
        return line
    }

    /// Writes one group of records (after the outage record, when one is due), then fsyncs when
    /// a strict waiter, the outage record or the 50 ms batching deadline asks for it.
    private func commit(_ batch: [Item], now: UInt64, final: Bool) {
        // The segment first: opening one records the chain head it starts from.
        if fd < 0 || segmentBytes >= Self.segmentLimit, let problem = openSegment() {
            fail(batch, reason: problem, lostUnsynced: false)
            return
        }
        let startBytes = segmentBytes, startPrev = prev
        let immutable = settings.immutable
        var out: [UInt8] = []
        if let o = outage {
            let (rejected, dropped) = healthBox.withLock { ($0.requestsRejected - o.rejectedAtStart, $0.recordsDropped - o.droppedAtStart) }
            out += line(for: Array(Self.outageRecord(gateway: gatewayID, started: o.started, ended: Date(), reason: o.reason,
                                                     failed: o.failed, dropped: dropped, rejected: rejected).serialized().utf8),
                        immutable: immutable)
        }
        for item in batch { out += line(for: item.body, immutable: immutable) }
        if let problem = writeAll(out) {
            rollBack(to: startBytes, prev: startPrev)
            fail(batch, reason: problem, lostUnsynced: false)
            return
        }
        segmentBytes += out.count
        let waiters = batch.compactMap(\.done)
        unsyncedRecords += batch.count - waiters.count
        if unsyncedSince == nil { unsyncedSince = now }
        if !waiters.isEmpty || outage != nil || final || now - unsyncedSince! >= 50_000_000 {
            sync(waiters: waiters, batch: batch)
        }
    }

    /// fsync of the segment; on success everything written is durable and the outage (if any)
    /// is over; on failure everything since the last durable record is lost and rolled back.
    private func sync(waiters: [CheckedContinuation<AppendResult, Never>], batch: [Item] = []) {
        let failedErrno: Int32? = injectFault?(.fsync) ?? (fsync(fd) == 0 ? nil : errno)
        if let e = failedErrno {
            let problem = "fsync of \(segmentPath) failed: \(String(cString: strerror(e)))"
            rollBack(to: durableBytes, prev: durablePrev)
            // After a failed fsync the kernel may have dropped dirty pages: never write to
            // that file again.
            retireSegment()
            fail(batch, reason: problem, lostUnsynced: true)
            return
        }
        let written = unsyncedRecords + waiters.count
        durableBytes = segmentBytes
        durablePrev = prev
        unsyncedRecords = 0
        unsyncedSince = nil
        let ended = outage
        outage = nil
        healthBox.withLock { h in
            h.recordsWritten += written
            if ended != nil { h.failure = nil; h.failingSince = nil }
        }
        for w in waiters { w.resume(returning: .durable) }
    }

    /// Records the failure: waiters get it, queued records count as failed, the log is failing.
    private func fail(_ batch: [Item], reason: String, lostUnsynced: Bool) {
        let waiters = batch.compactMap(\.done)
        var lost = batch.count
        if lostUnsynced {
            // The batch's own records are already counted in unsyncedRecords (minus its waiters).
            lost = unsyncedRecords + waiters.count
            unsyncedRecords = 0
            unsyncedSince = nil
        }
        let now = Date()
        if outage == nil {
            let (rejected, dropped) = healthBox.withLock { ($0.requestsRejected, $0.recordsDropped) }
            outage = (now, reason, 0, dropped, rejected)
            FileHandle.standardError.write(Data(("{\"level\":\"error\",\"msg\":\"audit log cannot store records\",\"reason\":"
                + JSONValue.string(reason).serialized() + "}\n").utf8))
        }
        outage!.failed += lost
        outage!.reason = reason
        healthBox.withLock { h in
            h.recordsFailed += lost
            h.writeErrors += 1
            h.failure = reason
            h.failingSince = h.failingSince ?? now
        }
        for w in waiters { w.resume(returning: .failed(reason)) }
    }

    /// Cuts the segment back to `bytes`; when even that fails the segment is retired (the next
    /// record starts a new one, linked to `prev`; verification reads the rest as abandoned).
    private func rollBack(to bytes: Int, prev head: String) {
        prev = head
        if fd >= 0 {
            let failed = injectFault?(.truncate) != nil || ftruncate(fd, off_t(bytes)) != 0
            if failed {
                retireSegment()
                return
            }
        }
        segmentBytes = bytes
    }

    /// Stops writing to the current segment. One with no durable record is removed (its index
    /// is reused); otherwise the next segment gets the next index.
    private func retireSegment() {
        if fd >= 0 { Foundation.close(fd); fd = -1 }
        if durableBytes == 0 {
            unlink(segmentPath)
            Self.syncDirectory(directory)
            segmentBytes = 0
        } else {
            segmentBytes = Self.segmentLimit
        }
    }

    private func writeAll(_ bytes: [UInt8]) -> String? {
        if let e = injectFault?(.write) {
            // A short write first, as a filling disk does, so the rollback has something to cut.
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress!, min($0.count, 7)) }
            return "write to \(segmentPath) failed: \(String(cString: strerror(e)))"
        }
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 {
                if errno == EINTR { continue }
                return "write to \(segmentPath) failed: \(String(cString: strerror(errno)))"
            }
            if n == 0 { return "write to \(segmentPath) made no progress" }
            off += n
        }
        return nil
    }

    static func outageRecord(gateway: String, started: Date, ended: Date, reason: String, failed: Int, dropped: Int, rejected: Int) -> JSONValue {
        let iso = { (d: Date) in d.formatted(.iso8601.year().month().day().timeSeparator(.colon).time(includingFractionalSeconds: true)) + "Z" }
        return .object([("type", "audit_outage"), ("gateway", .string(gateway)), ("started_at", .string(iso(started))),
                        ("ended_at", .string(iso(ended))), ("reason", .string(reason)), ("failed_records", .int(failed)),
                        ("dropped_records", .int(dropped)), ("rejected_requests", .int(rejected))])
    }

    /// Retention: closed segments last written more than `retention_days` ago are deleted.
    private func sweep() {
        let cutoff = Date().addingTimeInterval(-Double(settings.retentionDays) * 86_400)
        var removed = false
        for path in Self.segments(in: directory).dropLast() {
            if let m = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date, m < cutoff {
                removed = (try? FileManager.default.removeItem(atPath: path)) != nil || removed
            }
        }
        if removed { Self.syncDirectory(directory) }
    }
}
