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
public final class AuditLog: @unchecked Sendable {
    public static let segmentLimit = 64 << 20
    static let genesis = String(repeating: "0", count: 64)

    public let directory: String
    private let settingsBox: Mutex<AuditLoggerSettings>
    var settings: AuditLoggerSettings { settingsBox.withLock { $0 } }
    private let queue = Mutex<[(body: [UInt8], done: CheckedContinuation<Void, Never>?)]>([])
    private let wake = DispatchSemaphore(value: 0)
    private let running = Atomic<Bool>(true)
    private let stopped = DispatchSemaphore(value: 0)
    // Writer thread only:
    private var fd: Int32 = -1
    private var segmentIndex = 0
    private var segmentBytes = 0
    private var prev = AuditLog.genesis
    private var unsyncedSince: UInt64?
    private var lastSweep: UInt64 = 0

    public init(stateDir: String, settings: AuditLoggerSettings) throws(KTError) {
        directory = (stateDir as NSString).appendingPathComponent("audit")
        self.settingsBox = Mutex(settings)
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
        try open()
    }

    static func lastHash(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path), let line = [UInt8](data).split(separator: 10).last else { return nil }
        return hash(ofLine: Array(line))
    }

    static func hash(ofLine line: [UInt8]) -> String? {
        guard line.count > 10 + 64, line.starts(with: Array(#"{"hash":""#.utf8)) else { return nil }
        return String(decoding: line[9..<73], as: UTF8.self)
    }

    private func open() throws(KTError) {
        if fd >= 0 { Foundation.close(fd) }
        if segmentIndex == 0 || segmentBytes >= Self.segmentLimit {
            segmentIndex += 1
            segmentBytes = 0
        }
        let path = (directory as NSString).appendingPathComponent(String(format: "segment-%06d.jsonl", segmentIndex))
        fd = Foundation.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        if fd < 0 { throw KTError(.io, "cannot open audit segment \(path): \(String(cString: strerror(errno)))") }
    }

    /// A reload may change durability, immutability or retention; the chain continues.
    public func update(_ settings: AuditLoggerSettings) { settingsBox.withLock { $0 = settings } }

    /// Queues a record. In strict mode this returns once the record is on disk.
    public func append(_ record: JSONValue) async {
        let body = Array(record.serialized().utf8)
        if settings.durability == .strict {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                queue.withLock { $0.append((body, c)) }
                wake.signal()
            }
        } else {
            queue.withLock { $0.append((body, nil)) }
            wake.signal()
        }
    }

    /// Flushes, fsyncs and stops the writer.
    public func close() {
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        wake.signal()
        stopped.wait()
    }

    private func run() {
        while true {
            let isRunning = running.load(ordering: .acquiring)
            _ = wake.wait(timeout: .now() + .milliseconds(10))
            let batch = queue.withLock { q -> [(body: [UInt8], done: CheckedContinuation<Void, Never>?)] in let b = q; q.removeAll(); return b }
            var out: [UInt8] = []
            let immutable = settings.immutable
            for item in batch {
                var line: [UInt8]
                if immutable {
                    let hash = SHA256.hex(Array(prev.utf8) + item.body)
                    line = Array(#"{"hash":""#.utf8) + Array(hash.utf8) + Array(#"","prev":""#.utf8) + Array(prev.utf8) + Array(#"","record":"#.utf8)
                    prev = hash
                } else {
                    line = Array(#"{"record":"#.utf8)
                }
                line += item.body
                line += Array("}\n".utf8)
                out += line
            }
            if !out.isEmpty {
                if segmentBytes >= Self.segmentLimit { try? open() }
                writeAll(out)
                segmentBytes += out.count
                if unsyncedSince == nil { unsyncedSince = DispatchTime.now().uptimeNanoseconds }
            }
            let waiters = batch.compactMap(\.done)
            let now = DispatchTime.now().uptimeNanoseconds
            if !waiters.isEmpty || (unsyncedSince.map { now - $0 >= 50_000_000 } ?? false) || (!isRunning && unsyncedSince != nil) {
                fsync(fd)
                unsyncedSince = nil
            }
            for w in waiters { w.resume() }
            if now - lastSweep > 3_600_000_000_000 {
                lastSweep = now
                sweep()
            }
            if !isRunning && batch.isEmpty {
                Foundation.close(fd)
                stopped.signal()
                return
            }
        }
    }

    private func writeAll(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 { if errno == EINTR { continue }; return }
            off += n
        }
    }

    /// Retention: closed segments last written more than `retention_days` ago are deleted.
    private func sweep() {
        let cutoff = Date().addingTimeInterval(-Double(settings.retentionDays) * 86_400)
        for path in Self.segments(in: directory).dropLast() {
            if let m = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date, m < cutoff {
                try? FileManager.default.removeItem(atPath: path)
            }
        }
    }

    // MARK: Verification

    public struct Verification: Sendable {
        public var records = 0
        public var segments = 0
        public var problem: String?
        public var ok: Bool { problem == nil }
    }

    /// Checks every line's hash and its link to the previous one, across segments. Retention may
    /// have removed the oldest segments, so the first remaining line may link to any hash.
    /// `live`: the log is being written, so an unterminated last line is a write in progress.
    public static func verify(directory dir: String, live: Bool = false) -> Verification {
        var v = Verification()
        let auditDir = FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent("audit"))
            ? (dir as NSString).appendingPathComponent("audit") : dir
        let files = segments(in: auditDir)
        guard !files.isEmpty else { v.problem = "no audit segments in \(auditDir)"; return v }
        var previous: String?
        for file in files {
            v.segments += 1
            guard let data = FileManager.default.contents(atPath: file) else { v.problem = "cannot read \(file)"; return v }
            var lines = [UInt8](data).split(separator: 10)
            if live, file == files.last, data.last != 10, !lines.isEmpty { lines.removeLast() }
            for (i, line) in lines.enumerated() {
                let bytes = Array(line)
                guard let hash = hash(ofLine: bytes), bytes.count > 148,
                      bytes[73..<83].elementsEqual(Array(#"","prev":""#.utf8)),
                      bytes[147..<158].elementsEqual(Array(#"","record":"#.utf8)), bytes.last == 125 else {
                    v.problem = "\((file as NSString).lastPathComponent):\(i + 1): not a hash-chained record"
                    return v
                }
                let prev = String(decoding: bytes[83..<147], as: UTF8.self)
                let body = Array(bytes[158..<(bytes.count - 1)])
                if let previous, prev != previous {
                    v.problem = "\((file as NSString).lastPathComponent):\(i + 1): chain broken (prev does not match the record before)"
                    return v
                }
                guard SHA256.hex(Array(prev.utf8) + body) == hash else {
                    v.problem = "\((file as NSString).lastPathComponent):\(i + 1): record was modified (hash mismatch)"
                    return v
                }
                previous = hash
                v.records += 1
            }
        }
        return v
    }
}
