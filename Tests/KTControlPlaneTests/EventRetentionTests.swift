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

    /// One gateway token flooding the store loses its own oldest events; a quiet gateway's events
    /// stay (they used to go first, being the oldest).
    @Test func aFloodingGatewayIsPrunedBeforeAQuietOne() async throws {
        let path = try Fixtures.tempDir() + "/kt.db"
        let store = try ControlPlaneStore(path: path)
        defer { store.close() }
        let budget = 1 << 20
        // The quiet gateway's 20 small events are the oldest in the store.
        _ = try await store.insertEvents(gateway: "gw-quiet", Self.batch(20, bytes: 500, tag: 900), maxBytes: budget)
        for tag in 0..<40 {
            _ = try await store.insertEvents(gateway: "gw-flood", Self.batch(10, bytes: 64_000, tag: tag), maxBytes: budget)
            #expect(store.storedEventBytes <= budget + 10 * 65_000)
            #expect(store.storedEventBytes == (try sumInDatabase(store)))
        }
        var quiet = ControlPlaneStore.EventQuery(limit: 1000)
        quiet.gateways = ["gw-quiet"]
        #expect(try await store.events(quiet).count == 20)
        var flood = ControlPlaneStore.EventQuery(limit: 1000)
        flood.gateways = ["gw-flood"]
        let kept = try await store.events(flood)
        #expect(kept.last?.body.contains(#""n":39009"#) == true)      // its newest is kept
        #expect(kept.count < 20)
    }

    /// The count retention shares the same way: past `keep`, the gateway with the most events
    /// loses its oldest, the quiet one keeps all of its own.
    @Test func theCountLimitPrunesTheLargestSenderFirst() async throws {
        let store = try ControlPlaneStore(path: try Fixtures.tempDir() + "/kt.db")
        defer { store.close() }
        _ = try await store.insertEvents(gateway: "gw-quiet", Self.batch(5, bytes: 10, tag: 900))
        for tag in 0..<5 { _ = try await store.insertEvents(gateway: "gw-flood", Self.batch(20, bytes: 10, tag: tag)) }
        try await store.pruneEvents(keep: 30)
        var quiet = ControlPlaneStore.EventQuery(limit: 1000)
        quiet.gateways = ["gw-quiet"]
        var flood = ControlPlaneStore.EventQuery(limit: 1000)
        flood.gateways = ["gw-flood"]
        #expect(try await store.events(quiet).count == 5)
        let kept = try await store.events(flood)
        #expect(kept.count == 25)
        #expect(kept.first?.body.contains(#""n":3015,"#) == true)      // its 75 oldest went
        #expect(store.storedEventBytes == (try sumInDatabase(store)))
    }

    @Test func sharesCutTheLargestDownToACommonCap() {
        // 100 + 60 + 10 over budget by 70: the two largest go down to 45 (frees 55 + 15).
        let cuts = EventShares.cuts([("a", 100), ("b", 60), ("c", 10)], toFree: 70)
        #expect(cuts.map(\.gateway) == ["a", "b"] && cuts.map(\.amount) == [55, 15])
        // Only the largest, while that suffices.
        #expect(EventShares.cuts([("a", 100), ("b", 60), ("c", 10)], toFree: 30).map(\.amount) == [30])
        // More than everything: everything.
        #expect(EventShares.cuts([("a", 5), ("b", 3)], toFree: 100).map(\.amount) == [5, 3])
        #expect(EventShares.cuts([("a", 5)], toFree: 0).isEmpty)
        #expect(EventShares.cuts([], toFree: 10).isEmpty)
        // Whatever the numbers, at least what was asked is freed, and nobody goes below the cap.
        var rng = SplitMix64(seed: 7)
        for _ in 0..<500 {
            let totals = (0..<Int(rng.next() % 8 + 1)).map { ("g\($0)", Int(rng.next() % 1000)) }
            let need = Int(rng.next() % 3000)
            let cuts = EventShares.cuts(totals, toFree: need)
            let freed = cuts.reduce(0) { $0 + $1.amount }
            #expect(freed >= min(need, totals.reduce(0) { $0 + $1.1 }))
            let after = totals.map { t in t.1 - (cuts.first { $0.gateway == t.0 }?.amount ?? 0) }
            let cut = Set(cuts.map(\.gateway))
            // Every gateway cut ends at the same size, and no gateway left alone is above it.
            let capped = zip(totals, after).filter { cut.contains($0.0.0) }.map(\.1)
            #expect(Set(capped).count <= 1)
            if let c = capped.first { #expect(zip(totals, after).allSatisfy { cut.contains($0.0.0) || $0.1 <= c }) }
        }
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
