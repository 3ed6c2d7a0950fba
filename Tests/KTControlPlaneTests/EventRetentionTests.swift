import Foundation
import Testing
import KTModel
import KTTestSupport
@testable import KTControlPlane

/// The event store is held to a byte budget as events arrive (a gateway token sending 64 KB
/// events filled the disk before the count limit was near), and the total survives a restart.
@Suite struct EventRetentionTests {
    static func batch(_ n: Int, bytes: Int, tag: Int) -> [(at: Double, verdict: String, body: String)] {
        (0..<n).map { i in (Double(tag * 1000 + i), "allow", #"{"n":\#(tag * 1000 + i),"pad":""# + String(repeating: "p", count: bytes) + #""}"#) }
    }

    func sumInDatabase(_ store: ControlPlaneStore) throws -> Int {
        try store.db.sync { db throws(KTError) in try db.query("SELECT COALESCE(SUM(LENGTH(CAST(body AS BLOB))), 0) FROM events").first?[0].int ?? 0 }
    }

    @Test func theStoreStaysWithinItsByteBudgetOldestFirst() async throws {
        let path = try Fixtures.tempDir() + "/kt.db"
        let store = try ControlPlaneStore(path: path)
        let budget = 1 << 20
        // 40 batches of 10 events of 64 KB: 25 MB offered to a 1 MB budget.
        for tag in 0..<40 {
            _ = try await store.insertEvents(gateway: "gw-1", Self.batch(10, bytes: 64_000, tag: tag), maxBytes: budget)
            #expect(store.storedEventBytes <= budget + 10 * 65_000, "after batch \(tag): \(store.storedEventBytes) bytes")
            #expect(store.storedEventBytes == (try sumInDatabase(store)))
        }
        let kept = try await store.events(.init(limit: 1000))
        #expect(kept.count >= 10 && kept.count <= 16)
        #expect(kept.last?.body.contains(#""n":39009"#) == true)           // the newest is kept
        #expect(kept.first.map { !$0.body.contains(#""n":0,"#) } == true)    // the oldest went
        // The count limit prunes too, and the total follows.
        try await store.pruneEvents(keep: 3)
        #expect(try await store.events(.init(limit: 1000)).count == 3)
        #expect(store.storedEventBytes == (try sumInDatabase(store)))
        let total = store.storedEventBytes
        store.close()
        // A restart reads the total back from the sizes stored with the events.
        let reopened = try ControlPlaneStore(path: path)
        #expect(reopened.storedEventBytes == total)
        reopened.close()
    }

    /// A database from before event sizes were stored (schema 3) gets them on upgrade.
    @Test func anUpgradeFillsInTheSizesOfStoredEvents() throws {
        let path = try Fixtures.tempDir() + "/kt.db"
        let old = try SQLiteDatabase(path: path)
        try old.sync { db throws(KTError) in
            for v in 0..<3 { try db.execUnsafe(ControlPlaneStore.migrations[v]) }
            try db.execUnsafe("PRAGMA user_version=3")
            try db.query("INSERT INTO events(gateway_id,at,verdict,body) VALUES('gw',1,'allow',?)", [.text(#"{"a":"é"}"#)])
        }
        old.close()
        let store = try ControlPlaneStore(path: path)
        #expect(store.storedEventBytes == #"{"a":"é"}"#.utf8.count)
        store.close()
    }
}
