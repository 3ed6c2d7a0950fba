import Foundation
import Synchronization
import KTModel

/// The control plane's durable state in SQLite (`DIR/kt.db`, WAL): versioned schema
/// migrations applied at start-up, then typed reads and writes.
public final class ControlPlaneStore: Sendable {
    public let db: SQLiteDatabase

    /// Each entry moves the schema one version up; applied in order, each in its own transaction.
    static let migrations: [String] = [
        """
        CREATE TABLE tokens(id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, gateway_id TEXT,
                            hash TEXT NOT NULL UNIQUE, created_at REAL NOT NULL, revoked_at REAL);
        CREATE TABLE gateways(id TEXT PRIMARY KEY, record TEXT NOT NULL, last_seen REAL, updated_at REAL NOT NULL);
        CREATE TABLE health_samples(gateway_id TEXT NOT NULL, at REAL NOT NULL, sample TEXT NOT NULL);
        CREATE INDEX health_samples_gateway ON health_samples(gateway_id, at);
        CREATE TABLE config_versions(source TEXT NOT NULL, number INTEGER NOT NULL, sha TEXT NOT NULL, content TEXT NOT NULL,
                                     created_at REAL NOT NULL, PRIMARY KEY(source, number), UNIQUE(source, sha));
        CREATE INDEX config_versions_sha ON config_versions(sha);
        CREATE TABLE events(seq INTEGER PRIMARY KEY AUTOINCREMENT, gateway_id TEXT NOT NULL, at REAL NOT NULL,
                            verdict TEXT NOT NULL, body TEXT NOT NULL);
        CREATE INDEX events_gateway ON events(gateway_id, seq);
        CREATE INDEX events_at ON events(at);
        """,
        """
        CREATE TABLE rollouts(id TEXT PRIMARY KEY, created_at REAL NOT NULL, status TEXT NOT NULL, record TEXT NOT NULL,
                              updated_at REAL NOT NULL);
        CREATE TABLE rollout_log(rollout_id TEXT NOT NULL, seq INTEGER NOT NULL, at REAL NOT NULL, entry TEXT NOT NULL,
                                 PRIMARY KEY(rollout_id, seq));
        CREATE TABLE plans(id TEXT PRIMARY KEY, created_at REAL NOT NULL, record TEXT NOT NULL);
        """,
        // Gateway rows carry the revision of the in-memory record they hold: a write of an
        // older revision (a heartbeat flush racing a config change) never replaces a newer one.
        // storage_probe: the write readiness checks make while storage is failing.
        """
        ALTER TABLE gateways ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE storage_probe(id INTEGER PRIMARY KEY, at REAL NOT NULL);
        """,
        // Each event's size, so retention can hold the table to a byte budget; the index lets the
        // total and the oldest sizes be read without touching the bodies.
        """
        ALTER TABLE events ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
        UPDATE events SET bytes = length(CAST(body AS BLOB));
        CREATE INDEX events_seq_bytes ON events(seq, bytes);
        """,
        // Per-gateway sizes without touching the bodies, for pruning the largest senders first.
        """
        CREATE INDEX events_gateway_bytes ON events(gateway_id, seq, bytes);
        DROP INDEX events_gateway;
        """,
    ]

    public static var schemaVersion: Int { migrations.count }

    /// The last write's failure while writes fail; nil once one succeeds again.
    public struct WriteFailure: Sendable, Equatable {
        public var what: String
        public var message: String
        public var since: Double
    }
    private let writeFailureBox = Mutex<WriteFailure?>(nil)
    public var writeFailure: WriteFailure? { writeFailureBox.withLock { $0 } }

    /// Bytes of event bodies stored (kept up to date by inserts and pruning).
    private let eventBytes = Mutex(0)
    public var storedEventBytes: Int { eventBytes.withLock { $0 } }

    public init(path: String) throws(KTError) {
        db = try SQLiteDatabase(path: path)
        try db.sync { db throws(KTError) in
            let current = try db.userVersion
            guard current <= Self.migrations.count else {
                throw KTError(.io, "\(path) has schema version \(current), newer than this kt (\(Self.migrations.count)); upgrade kt")
            }
            for v in current..<Self.migrations.count {
                try db.transaction { () throws(KTError) in
                    try db.execUnsafe(Self.migrations[v])
                    try db.execUnsafe("PRAGMA user_version=\(v + 1)")
                }
            }
        }
        let total = try db.sync { db throws(KTError) in try db.query("SELECT COALESCE(SUM(bytes), 0) FROM events").first?[0].int ?? 0 }
        eventBytes.withLock { $0 = total }
    }

    public func close() { db.close() }

    /// Runs a write; a failure becomes a `storage_failed` error naming `what` could not be
    /// stored, and marks storage as failing (readiness) until a write succeeds.
    @discardableResult
    func write<T: Sendable>(_ what: String, _ body: @escaping @Sendable (SQLiteDatabase) throws(KTError) -> T) async throws(KTError) -> T {
        do {
            let r = try await db.run(body)
            writeFailureBox.withLock { $0 = nil }
            return r
        } catch {
            let message = error.message
            writeFailureBox.withLock { f in f = WriteFailure(what: what, message: message, since: f?.since ?? Date().timeIntervalSince1970) }
            throw KTError(.storage, "could not store \(what): \(message)", cause: error)
        }
    }

    /// A small real write (readiness while storage is failing): true when it succeeded.
    private let lastProbe = Mutex<Double>(0)

    /// At most one probe a second (readiness checks are unauthenticated).
    @discardableResult
    public func probeWrite() async -> Bool {
        let t = Date().timeIntervalSince1970
        let due = lastProbe.withLock { last -> Bool in
            guard t - last >= 1 else { return false }
            last = t
            return true
        }
        guard due else { return writeFailure == nil }
        return (try? await write("a storage probe") { db throws(KTError) in
            try db.query("INSERT OR REPLACE INTO storage_probe(id, at) VALUES(1, ?)", [.double(Date().timeIntervalSince1970)])
        }) != nil
    }

    // MARK: Tokens

    public func insertToken(_ t: TokenRecord, hash: String) async throws(KTError) {
        try await write("token \(t.id)") { db throws(KTError) in
            try db.query("INSERT INTO tokens(id,name,role,gateway_id,hash,created_at) VALUES(?,?,?,?,?,?)",
                         [.text(t.id), .text(t.name), .text(t.role.rawValue), .of(t.gatewayID), .text(hash), .double(t.createdAt)])
        }
    }

    public func loadTokens() throws(KTError) -> [(TokenRecord, hash: String)] {
        try db.sync { db throws(KTError) in
            try db.query("SELECT id,name,role,gateway_id,hash,created_at,revoked_at FROM tokens ORDER BY created_at").compactMap { r in
                guard let role = TokenRole(rawValue: r[2].text ?? "") else { return nil }
                return (TokenRecord(id: r[0].text!, name: r[1].text ?? "", role: role, gatewayID: r[3].text,
                                    createdAt: r[5].double ?? 0, revokedAt: r[6].double), r[4].text!)
            }
        }
    }

    public func revokeToken(id: String, at: Double) async throws(KTError) {
        try await write("the revocation of token \(id)") { db throws(KTError) in try db.query("UPDATE tokens SET revoked_at=? WHERE id=?", [.double(at), .text(id)]) }
    }

    // MARK: Gateways

    /// Stores a gateway's record unless the row already holds a newer revision.
    public func saveGateway(id: String, record: JSONValue, lastSeen: Double?, revision: Int) async throws(KTError) {
        let text = record.serialized()
        try await write("gateway \(id)") { db throws(KTError) in
            try db.query("""
                INSERT INTO gateways(id,record,last_seen,updated_at,revision) VALUES(?,?,?,?,?)
                ON CONFLICT(id) DO UPDATE SET record=excluded.record, last_seen=excluded.last_seen, updated_at=excluded.updated_at,
                revision=excluded.revision WHERE excluded.revision > gateways.revision
                """, [.text(id), .text(text), .of(lastSeen), .double(Date().timeIntervalSince1970), .int(Int64(revision))])
        }
    }

    /// One transaction for many heartbeats: last-seen times, records and their health samples.
    /// A record replaces the stored one only when its revision is newer (a config change
    /// saved meanwhile is never overwritten by an older heartbeat's copy).
    public func saveHeartbeats(_ batch: [(id: String, record: JSONValue, revision: Int, lastSeen: Double, sample: (at: Double, json: JSONValue)?)],
                               pruneBefore: Double) async throws(KTError) {
        let rows = batch.map { ($0.id, $0.record.serialized(), $0.revision, $0.lastSeen, $0.sample.map { ($0.at, $0.json.serialized()) }) }
        try await write("heartbeats of \(Set(batch.map(\.id)).count) gateway(s)") { db throws(KTError) in
            try db.transaction { () throws(KTError) in
                let now = Date().timeIntervalSince1970
                for (id, record, revision, lastSeen, sample) in rows {
                    try db.query("UPDATE gateways SET record=?, revision=?, updated_at=? WHERE id=? AND revision < ?",
                                 [.text(record), .int(Int64(revision)), .double(now), .text(id), .int(Int64(revision))])
                    try db.query("UPDATE gateways SET last_seen=MAX(COALESCE(last_seen, 0), ?) WHERE id=?", [.double(lastSeen), .text(id)])
                    if let (at, json) = sample {
                        try db.query("INSERT INTO health_samples(gateway_id,at,sample) VALUES(?,?,?)", [.text(id), .double(at), .text(json)])
                    }
                }
                try db.query("DELETE FROM health_samples WHERE at < ?", [.double(pruneBefore)])
            }
        }
    }

    /// Gateway records with their newest `samplesPerGateway` health samples (oldest first): a
    /// restart reads no more than a running gateway keeps, however many rows a flood left.
    public func loadGateways(samplesPerGateway: Int = 4096) throws(KTError) -> [(record: JSONValue, lastSeen: Double?, revision: Int, samples: [(Double, JSONValue)])] {
        try db.sync { db throws(KTError) in
            var samples: [String: [(Double, JSONValue)]] = [:]
            let newest = """
                SELECT gateway_id, at, sample FROM (
                  SELECT gateway_id, at, sample, ROW_NUMBER() OVER (PARTITION BY gateway_id ORDER BY at DESC, rowid DESC) AS n
                  FROM health_samples)
                WHERE n <= ? ORDER BY at, n DESC
                """
            for r in try db.query(newest, [.int(Int64(samplesPerGateway))]) {
                if let j = try? JSONValue.parse(r[2].text ?? "") { samples[r[0].text!, default: []].append((r[1].double ?? 0, j)) }
            }
            return try db.query("SELECT id, record, last_seen, revision FROM gateways ORDER BY id").compactMap { r in
                guard let j = try? JSONValue.parse(r[1].text ?? "") else { return nil }
                return (j, r[2].double, r[3].int ?? 0, samples[r[0].text!] ?? [])
            }
        }
    }

    // MARK: Config versions

    public struct ConfigVersion: Sendable {
        public var source: String
        public var number: Int
        public var sha: String
        public var content: String
        public var createdAt: Double
        public var name: String { "\(source)-v\(number)" }

        public var summaryJSON: JSONValue {
            .object([("version", .string(name)), ("source", .string(source)), ("number", .int(number)), ("sha", .string(sha)),
                     ("created_at", .string(Timestamps.iso(createdAt)))])
        }
    }

    /// The version holding `sha` in `source`, creating `<source>-v<N+1>` when the content is new.
    public func internConfig(source: String, sha: String, content: String) async throws(KTError) -> (ConfigVersion, created: Bool) {
        try await write("config version of \(source) (\(sha.prefix(12)))") { db throws(KTError) in
            try db.transaction { () throws(KTError) in
                if let r = try db.query("SELECT number, created_at, content FROM config_versions WHERE source=? AND sha=?", [.text(source), .text(sha)]).first {
                    return (ConfigVersion(source: source, number: r[0].int!, sha: sha, content: r[2].text ?? "", createdAt: r[1].double ?? 0), false)
                }
                let next = (try db.query("SELECT MAX(number) FROM config_versions WHERE source=?", [.text(source)]).first?.first?.int ?? 0) + 1
                let now = Date().timeIntervalSince1970
                try db.query("INSERT INTO config_versions(source,number,sha,content,created_at) VALUES(?,?,?,?,?)",
                             [.text(source), .int(Int64(next)), .text(sha), .text(content), .double(now)])
                return (ConfigVersion(source: source, number: next, sha: sha, content: content, createdAt: now), true)
            }
        }
    }

    public func configVersions(source: String) async throws(KTError) -> [ConfigVersion] {
        try await db.run { db throws(KTError) in
            try db.query("SELECT number, sha, content, created_at FROM config_versions WHERE source=? ORDER BY number", [.text(source)]).map {
                ConfigVersion(source: source, number: $0[0].int!, sha: $0[1].text!, content: $0[2].text ?? "", createdAt: $0[3].double ?? 0)
            }
        }
    }

    public func configSources() async throws(KTError) -> [String] {
        try await db.run { db throws(KTError) in try db.query("SELECT DISTINCT source FROM config_versions ORDER BY source").compactMap { $0[0].text } }
    }

    public func config(sha: String) async throws(KTError) -> ConfigVersion? {
        try await db.run { db throws(KTError) in
            try db.query("SELECT source, number, sha, content, created_at FROM config_versions WHERE sha=? OR sha LIKE ? ORDER BY created_at DESC LIMIT 1",
                         [.text(sha), .text(sha.count >= 12 ? sha + "%" : sha)]).first.map {
                ConfigVersion(source: $0[0].text!, number: $0[1].int!, sha: $0[2].text!, content: $0[3].text ?? "", createdAt: $0[4].double ?? 0)
            }
        }
    }

    // MARK: Events

    /// Stores a batch in one transaction and returns the sequence numbers given; past `maxBytes` of stored bodies, events are pruned in the same transaction
    /// (so a gateway token sending large events cannot fill the disk), the oldest events of the
    /// gateways holding the most bytes first (so it cannot evict the others' events either).
    public func insertEvents(gateway: String, _ events: [(at: Double, verdict: String, body: String)],
                             maxBytes: Int = .max) async throws(KTError) -> [Int] {
        let added = events.reduce(0) { $0 + $1.body.utf8.count }
        return try await write("\(events.count) event(s) of gateway \(gateway)") { [self] db throws(KTError) in
            // Writes run one at a time on the database's thread: the total read here is current.
            let before = self.eventBytes.withLock { $0 }
            let (seqs, pruned) = try db.transaction { () throws(KTError) -> ([Int], Int) in
                var seqs: [Int] = []
                seqs.reserveCapacity(events.count)
                for e in events {
                    try db.query("INSERT INTO events(gateway_id,at,verdict,body,bytes) VALUES(?,?,?,?,?)",
                                 [.text(gateway), .double(e.at), .text(e.verdict), .text(e.body), .int(Int64(e.body.utf8.count))])
                    seqs.append(db.lastInsertRowID)
                }
                var pruned = 0
                if before.saturatingAdd(added) > maxBytes {
                    // Down to 90 % of the budget, so the next batches do not each prune again.
                    pruned = try Self.pruneLargestSenders(db, bytes: before + added - maxBytes / 10 * 9)
                }
                return (seqs, pruned)
            }
            self.eventBytes.withLock { $0 += added - pruned }   // committed
            return seqs
        }
    }

    /// Frees at least `bytes` from the gateways holding the most: each is cut down to a common
    /// cap (water-filling), losing its oldest events. Sizes come from the index, not the bodies.
    /// Returns the bytes deleted.
    private static func pruneLargestSenders(_ db: SQLiteDatabase, bytes: Int) throws(KTError) -> Int {
        let totals = try db.query("SELECT gateway_id, SUM(bytes) FROM events INDEXED BY events_gateway_bytes GROUP BY gateway_id")
            .map { (gateway: $0[0].text ?? "", amount: $0[1].int ?? 0) }
        var freed = 0
        for (gateway, excess) in EventShares.cuts(totals, toFree: bytes) {
            freed += try pruneOldest(db, gateway: gateway, bytes: excess)
        }
        return freed
    }

    /// Deletes one gateway's oldest events holding at least `bytes`; returns the bytes deleted.
    private static func pruneOldest(_ db: SQLiteDatabase, gateway: String, bytes: Int) throws(KTError) -> Int {
        var freed = 0
        var last: Int?
        // The cut-off is found from the index, a page at a time, without reading the bodies.
        scan: while true {
            let page = try db.query("SELECT seq, bytes FROM events INDEXED BY events_gateway_bytes WHERE gateway_id = ? AND seq > ? ORDER BY seq LIMIT 1000",
                                    [.text(gateway), .int(Int64(last ?? -1))])
            for r in page {
                freed += r[1].int ?? 0
                last = r[0].int
                if freed >= bytes { break scan }
            }
            if page.count < 1000 { break }
        }
        guard let last else { return 0 }
        return try deleteEvents(db, gateway: gateway, through: last)
    }

    /// Deletes `gateway`'s events up to sequence number `seq`; returns their bytes.
    private static func deleteEvents(_ db: SQLiteDatabase, gateway: String, through seq: Int) throws(KTError) -> Int {
        let bytes = try db.query("SELECT COALESCE(SUM(bytes), 0) FROM events INDEXED BY events_gateway_bytes WHERE gateway_id = ? AND seq <= ?",
                                 [.text(gateway), .int(Int64(seq))]).first?[0].int ?? 0
        try db.query("DELETE FROM events WHERE gateway_id = ? AND seq <= ?", [.text(gateway), .int(Int64(seq))])
        return bytes
    }

    public struct EventQuery: Sendable {
        public var afterSeq: Int?
        public var sinceTime: Double?
        public var gateways: [String]?
        public var verdict: String?
        public var limit: Int
        public init(afterSeq: Int? = nil, sinceTime: Double? = nil, gateways: [String]? = nil, verdict: String? = nil, limit: Int = 50) {
            self.afterSeq = afterSeq
            self.sinceTime = sinceTime
            self.gateways = gateways
            self.verdict = verdict
            self.limit = limit
        }
    }

    /// The newest `limit` matching events (after `afterSeq` when set: the oldest ones after it), oldest first.
    public func events(_ q: EventQuery) async throws(KTError) -> [StoredEvent] {
        try await db.run { db throws(KTError) in
            var sql = "SELECT seq, gateway_id, at, verdict, body FROM events WHERE 1=1"
            var params: [SQLValue] = []
            if let a = q.afterSeq { sql += " AND seq > ?"; params.append(.int(Int64(a))) }
            if let s = q.sinceTime { sql += " AND at >= ?"; params.append(.double(s)) }
            if let v = q.verdict { sql += " AND verdict = ?"; params.append(.text(v)) }
            if let g = q.gateways {
                if g.isEmpty { return [] }
                sql += " AND gateway_id IN (" + g.map { _ in "?" }.joined(separator: ",") + ")"
                params += g.map { .text($0) }
            }
            sql += q.afterSeq != nil ? " ORDER BY seq ASC LIMIT ?" : " ORDER BY seq DESC LIMIT ?"
            params.append(.int(Int64(q.limit)))
            let rows = try db.query(sql, params).map {
                StoredEvent(seq: $0[0].int!, gateway: $0[1].text!, at: $0[2].double ?? 0, verdict: $0[3].text ?? "", body: $0[4].text ?? "{}")
            }
            return q.afterSeq != nil ? rows : rows.reversed()
        }
    }

    /// The count retention: past `keep` events, the gateways with the most events lose their
    /// oldest first (the same water-filling as the byte budget), so one sender's flood does not
    /// push the others' events out.
    public func pruneEvents(keep: Int) async throws(KTError) {
        try await write("the event retention sweep") { [self] db throws(KTError) in
            let freed = try db.transaction { () throws(KTError) -> Int in
                let counts = try db.query("SELECT gateway_id, COUNT(*) FROM events INDEXED BY events_gateway_bytes GROUP BY gateway_id")
                    .map { (gateway: $0[0].text ?? "", amount: $0[1].int ?? 0) }
                let total = counts.reduce(0) { $0 + $1.amount }
                var freed = 0
                for (gateway, n) in EventShares.cuts(counts, toFree: total - keep) {
                    guard let last = try db.query("SELECT seq FROM events INDEXED BY events_gateway_bytes WHERE gateway_id = ? ORDER BY seq LIMIT 1 OFFSET ?",
                                                  [.text(gateway), .int(Int64(n - 1))]).first?[0].int else { continue }
                    freed += try Self.deleteEvents(db, gateway: gateway, through: last)
                }
                return freed
            }
            self.eventBytes.withLock { $0 -= freed }   // committed
        }
    }

    // MARK: Rollouts and plans

    public func saveRollout(id: String, status: String, record: JSONValue, createdAt: Double, log: [(at: Double, entry: JSONValue)], logStart: Int) async throws(KTError) {
        let text = record.serialized()
        let entries = log.map { ($0.at, $0.entry.serialized()) }
        try await write("rollout \(id) (\(status))") { db throws(KTError) in
            try db.transaction { () throws(KTError) in
                try db.query("INSERT INTO rollouts(id,created_at,status,record,updated_at) VALUES(?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET status=excluded.status, record=excluded.record, updated_at=excluded.updated_at",
                             [.text(id), .double(createdAt), .text(status), .text(text), .double(Date().timeIntervalSince1970)])
                for (i, (at, entry)) in entries.enumerated() {
                    try db.query("INSERT OR REPLACE INTO rollout_log(rollout_id,seq,at,entry) VALUES(?,?,?,?)", [.text(id), .int(Int64(logStart + i)), .double(at), .text(entry)])
                }
            }
        }
    }

    public func loadRollouts() throws(KTError) -> [(record: JSONValue, log: [JSONValue])] {
        try db.sync { db throws(KTError) in
            var logs: [String: [JSONValue]] = [:]
            for r in try db.query("SELECT rollout_id, entry FROM rollout_log ORDER BY rollout_id, seq") {
                if let j = try? JSONValue.parse(r[1].text ?? "") { logs[r[0].text!, default: []].append(j) }
            }
            return try db.query("SELECT id, record FROM rollouts ORDER BY created_at").compactMap { r in
                guard let j = try? JSONValue.parse(r[1].text ?? "") else { return nil }
                return (j, logs[r[0].text!] ?? [])
            }
        }
    }

    public func savePlan(id: String, record: JSONValue) async throws(KTError) {
        let text = record.serialized()
        try await write("plan \(id)") { db throws(KTError) in
            try db.query("INSERT OR REPLACE INTO plans(id,created_at,record) VALUES(?,?,?)", [.text(id), .double(Date().timeIntervalSince1970), .text(text)])
        }
    }

    public func plan(id: String) async throws(KTError) -> JSONValue? {
        try await db.run { db throws(KTError) in
            try db.query("SELECT record FROM plans WHERE id=?", [.text(id)]).first.flatMap { try? JSONValue.parse($0[0].text ?? "") }
        }
    }
}

/// A decision event as the control plane stores it.
public struct StoredEvent: Sendable {
    public var seq: Int
    public var gateway: String
    public var at: Double
    public var verdict: String
    public var body: String

    /// The gateway's event with the control plane's sequence number first.
    public var json: JSONValue {
        let parsed = (try? JSONValue.parse(body)) ?? .object([])
        var pairs = parsed.objectValue ?? []
        pairs.removeAll { $0.0 == "seq" }
        pairs.insert(("seq", .int(seq)), at: 0)
        if !pairs.contains(where: { $0.0 == "gateway" }) { pairs.append(("gateway", .string(gateway))) }
        return .object(pairs)
    }
}

public enum Timestamps {
    public static func iso(_ t: Double) -> String {
        Date(timeIntervalSince1970: t).formatted(.iso8601.year().month().day().timeSeparator(.colon).time(includingFractionalSeconds: false)) + "Z"
    }

    public static func parse(_ s: String) -> Double? {
        let f = ISO8601DateFormatter()
        if let d = f.date(from: s) { return d.timeIntervalSince1970 }
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: s)?.timeIntervalSince1970
    }
}
