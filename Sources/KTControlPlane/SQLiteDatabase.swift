import CSQLite
import Foundation
import Glibc
import KTModel

/// A value bound to or read from SQLite.
public enum SQLValue: Sendable, Equatable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)

    public var int: Int? { if case .int(let i) = self { return Int(i) }; if case .double(let d) = self { return Int(d) }; return nil }
    public var double: Double? { if case .double(let d) = self { return d }; if case .int(let i) = self { return Double(i) }; return nil }
    public var text: String? { if case .text(let s) = self { return s }; return nil }
}

extension SQLValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByNilLiteral {
    public init(stringLiteral s: String) { self = .text(s) }
    public init(integerLiteral i: Int) { self = .int(Int64(i)) }
    public init(nilLiteral: ()) { self = .null }
    public static func of(_ s: String?) -> SQLValue { s.map { .text($0) } ?? .null }
    public static func of(_ d: Double?) -> SQLValue { d.map { .double($0) } ?? .null }
    public static func of(_ i: Int?) -> SQLValue { i.map { .int(Int64($0)) } ?? .null }
}

/// One SQLite connection (WAL mode) used from a dedicated serial queue, never from the
/// cooperative pool: every statement blocks on disk I/O. Committed transactions survive a
/// SIGKILL of the process (WAL + synchronous=NORMAL; an OS crash may lose the last ones).
public final class SQLiteDatabase: @unchecked Sendable {
    /// Only touched on `queue`.
    private var db: OpaquePointer?
    private let queue: DispatchQueue
    public let path: String

    public init(path: String) throws(KTError) {
        self.path = path
        self.queue = DispatchQueue(label: "kt-sqlite")
        // The database holds events (prompts, with include_content) and configs: owner only.
        // SQLite gives the -wal and -shm files the database file's mode, so creating it 0600
        // covers them; an existing database from an older kt is tightened too.
        let created = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if created >= 0 { Glibc.close(created) }
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) { chmod(path + suffix, 0o600) }
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            throw KTError(.io, "cannot open the database \(path): \(message)")
        }
        db = handle
        sqlite3_busy_timeout(handle, 5000)
        do {
            try execUnsafe("PRAGMA journal_mode=WAL")
            try execUnsafe("PRAGMA synchronous=NORMAL")
            try execUnsafe("PRAGMA foreign_keys=ON")
        } catch {
            throw KTError(.io, "cannot configure the database \(path): \(error.message)")
        }
    }

    deinit { sqlite3_close_v2(db) }

    /// Closes the connection after every queued job ran.
    public func close() {
        queue.sync {
            sqlite3_close_v2(db)
            db = nil
        }
    }

    /// Runs `body` on the database queue.
    @discardableResult
    public func run<T: Sendable>(_ body: @escaping @Sendable (SQLiteDatabase) throws(KTError) -> T) async throws(KTError) -> T {
        let result: Result<T, KTError> = await withCheckedContinuation { c in
            queue.async {
                do throws(KTError) { c.resume(returning: .success(try body(self))) } catch { c.resume(returning: .failure(error)) }
            }
        }
        return try result.get()
    }

    /// Synchronous use at start-up (migrations, loading), before anything else runs.
    @discardableResult
    public func sync<T>(_ body: (SQLiteDatabase) throws(KTError) -> T) throws(KTError) -> T {
        let result: Result<T, KTError> = queue.sync {
            do throws(KTError) { return .success(try body(self)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    // MARK: On the queue only

    func error(_ what: String) -> KTError {
        KTError(.io, "\(what): \(db.map { String(cString: sqlite3_errmsg($0)) } ?? "database closed")")
    }

    /// Runs statements without parameters (schema, pragmas, BEGIN/COMMIT).
    public func execUnsafe(_ sql: String) throws(KTError) {
        var err: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(db, sql, nil, nil, &err) != SQLITE_OK {
            let m = err.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(err)
            throw KTError(.io, "SQLite: \(m) (in: \(sql.prefix(80)))")
        }
    }

    /// Runs one statement with parameters; returns every row.
    @discardableResult
    public func query(_ sql: String, _ params: [SQLValue] = []) throws(KTError) -> [[SQLValue]] {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else { throw error("SQLite prepare failed") }
        defer { sqlite3_finalize(stmt) }
        for (i, p) in params.enumerated() {
            let idx = Int32(i + 1)
            switch p {
            case .null: sqlite3_bind_null(stmt, idx)
            case .int(let v): sqlite3_bind_int64(stmt, idx, v)
            case .double(let v): sqlite3_bind_double(stmt, idx, v)
            case .text(let s): sqlite3_bind_text(stmt, idx, s, -1, kt_sqlite_transient())
            }
        }
        var rows: [[SQLValue]] = []
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw error("SQLite step failed") }
            let n = sqlite3_column_count(stmt)
            var row: [SQLValue] = []
            row.reserveCapacity(Int(n))
            for c in 0..<n {
                switch sqlite3_column_type(stmt, c) {
                case SQLITE_INTEGER: row.append(.int(sqlite3_column_int64(stmt, c)))
                case SQLITE_FLOAT: row.append(.double(sqlite3_column_double(stmt, c)))
                case SQLITE_NULL: row.append(.null)
                default:
                    if let t = sqlite3_column_text(stmt, c) { row.append(.text(String(cString: t))) } else { row.append(.null) }
                }
            }
            rows.append(row)
        }
        return rows
    }

    /// Runs `body` in one transaction (rolled back when it throws).
    public func transaction<T>(_ body: () throws(KTError) -> T) throws(KTError) -> T {
        try execUnsafe("BEGIN IMMEDIATE")
        do {
            let r = try body()
            try execUnsafe("COMMIT")
            return r
        } catch {
            try? execUnsafe("ROLLBACK")
            throw error
        }
    }

    public var lastInsertRowID: Int { Int(sqlite3_last_insert_rowid(db)) }

    /// `PRAGMA user_version`: the schema migrations applied so far.
    public var userVersion: Int {
        get throws(KTError) { try query("PRAGMA user_version").first?.first?.int ?? 0 }
    }
}
