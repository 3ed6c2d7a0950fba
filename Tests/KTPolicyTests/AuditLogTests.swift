import Foundation
import Synchronization
import Testing
import KTModel
import KTTestSupport
@testable import KTPolicy

@Suite struct AuditLogTests {
    func settings(_ durability: AuditLoggerSettings.Durability) -> AuditLoggerSettings {
        var s = AuditLoggerSettings()
        s.durability = durability
        return s
    }

    @Test func chainVerifiesAcrossRestartsAndDetectsTampering() async throws {
        let dir = try Fixtures.tempDir()
        let log = try AuditLog(stateDir: dir, settings: settings(.strict))
        for i in 0..<5 { #expect(await log.append(.object([("n", .int(i))])) == .durable) }
        log.close()
        // A restarted gateway continues the same chain.
        let again = try AuditLog(stateDir: dir, settings: settings(.batched))
        for i in 5..<8 { #expect(await again.append(.object([("n", .int(i))])) == .queued) }
        again.close()
        let v = AuditLog.verify(directory: dir)
        #expect(v.ok && v.records == 8)

        let file = try #require(AuditLog.segments(in: dir + "/audit").first)
        let text = try String(contentsOfFile: file, encoding: .utf8)
        try text.replacingOccurrences(of: #""n":3"#, with: #""n":9"#).write(toFile: file, atomically: true, encoding: .utf8)
        let tampered = AuditLog.verify(directory: dir)
        #expect(!tampered.ok && tampered.records == 3 && tampered.problem?.contains("hash mismatch") == true)
    }

    @Test func aTornLastLineIsCutOffOnRecovery() async throws {
        let dir = try Fixtures.tempDir()
        let log = try AuditLog(stateDir: dir, settings: settings(.strict))
        _ = await log.append(.object([("n", 1)]))
        log.close()
        let file = try #require(AuditLog.segments(in: dir + "/audit").first)
        let handle = try #require(FileHandle(forWritingAtPath: file))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"hash":"abc"#.utf8))  // a crash mid-write
        try handle.close()
        let recovered = try AuditLog(stateDir: dir, settings: settings(.strict))
        _ = await recovered.append(.object([("n", 2)]))
        recovered.close()
        let v = AuditLog.verify(directory: dir)
        #expect(v.ok && v.records == 2)
    }

    @Test func batchedRecordsReachDiskAfterClose() async throws {
        let dir = try Fixtures.tempDir()
        let log = try AuditLog(stateDir: dir, settings: settings(.batched))
        for i in 0..<1000 { _ = await log.append(.object([("n", .int(i))])) }
        log.close()
        #expect(AuditLog.verify(directory: dir).records == 1000)
        #expect(log.health.recordsWritten == 1000 && log.health.ok)
    }

    /// Faults the test switches on and off: an errno per file operation.
    final class Faults: Sendable {
        let errnos = Mutex<[AuditLog.FileOperation: Int32]>([:])
        func set(_ op: AuditLog.FileOperation, _ e: Int32?) { errnos.withLock { $0[op] = e } }
        var hook: @Sendable (AuditLog.FileOperation) -> Int32? { { [self] op in errnos.withLock { $0[op] } } }
    }

    func faultyLog(_ dir: String, _ durability: AuditLoggerSettings.Durability, _ faults: Faults) throws -> AuditLog {
        try AuditLog(stateDir: dir, settings: settings(durability), gatewayID: "gw-test", retryInterval: .milliseconds(20), injectFault: faults.hook)
    }

    func waitUntil(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else { Issue.record("timed out waiting: \(what)"); return }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test func strictWriteFailureFailsTheRecordAndTheChainContinuesFromTheLastDurableOne() async throws {
        let dir = try Fixtures.tempDir()
        let faults = Faults()
        let log = try faultyLog(dir, .strict, faults)
        #expect(await log.append(.object([("n", 1)])) == .durable)
        faults.set(.write, ENOSPC)
        guard case .failed(let why) = await log.append(.object([("n", 2)])) else { Issue.record("a failed write was acknowledged"); return }
        #expect(why.contains("No space left on device"))
        #expect(log.health.failure?.contains("No space") == true && log.health.recordsFailed == 1)
        // The short write was cut back: nothing torn is left for the next record to chain onto.
        #expect(AuditLog.verify(directory: dir).ok)
        faults.set(.write, nil)
        try await waitUntil("the log recovers by itself") { log.health.ok }
        #expect(await log.append(.object([("n", 3)])) == .durable)
        log.close()
        let v = AuditLog.verify(directory: dir)
        #expect(v.ok && v.records == 3 && v.outages == 1, "record 1, the outage record, record 3: \(v)")
        let text = try String(contentsOfFile: AuditLog.segments(in: dir + "/audit").last!, encoding: .utf8)
        #expect(text.contains(#""type":"audit_outage""#) && text.contains(#""failed_records":1"#) && !text.contains(#""n":2"#))
    }

    @Test func aFailedFsyncRetiresTheSegmentAndVerificationPassesAcrossIt() async throws {
        let dir = try Fixtures.tempDir()
        let faults = Faults()
        let log = try faultyLog(dir, .strict, faults)
        #expect(await log.append(.object([("n", 1)])) == .durable)
        faults.set(.fsync, EIO)
        #expect(await log.append(.object([("n", 2)])) == .failed("fsync of \(dir)/audit/segment-000001.jsonl failed: Input/output error"))
        faults.set(.fsync, nil)
        try await waitUntil("the log recovers") { log.health.ok }
        #expect(await log.append(.object([("n", 3)])) == .durable)
        log.close()
        // A new segment links to record 1, the last durable one.
        #expect(AuditLog.segments(in: dir + "/audit").count == 2)
        let v = AuditLog.verify(directory: dir)
        #expect(v.ok && v.records == 3 && v.abandoned == 0, "\(v)")
    }

    @Test func whenTheRollbackItselfFailsTheTornTailIsAbandonedNotChainedOnto() async throws {
        let dir = try Fixtures.tempDir()
        let faults = Faults()
        let log = try faultyLog(dir, .strict, faults)
        #expect(await log.append(.object([("n", 1)])) == .durable)
        faults.set(.write, ENOSPC)
        faults.set(.truncate, EIO)
        guard case .failed = await log.append(.object([("n", 2)])) else { Issue.record("acknowledged"); return }
        faults.set(.write, nil)
        faults.set(.truncate, nil)
        try await waitUntil("the log recovers") { log.health.ok }
        #expect(await log.append(.object([("n", 3)])) == .durable)
        log.close()
        let v = AuditLog.verify(directory: dir)
        #expect(v.ok && v.records == 3 && v.abandoned == 1 && v.abandonedIn == ["segment-000001.jsonl"], "\(v)")
    }

    @Test func batchedModeCountsTheRecordsAFailedFsyncLost() async throws {
        let dir = try Fixtures.tempDir()
        let faults = Faults()
        let log = try faultyLog(dir, .batched, faults)
        faults.set(.fsync, EIO)
        for i in 0..<10 { #expect(await log.append(.object([("n", .int(i))])) == .queued) }
        try await waitUntil("the failed fsync is counted") { log.health.recordsFailed == 10 }
        #expect(!log.health.ok && log.health.writeErrors >= 1)
        faults.set(.fsync, nil)
        try await waitUntil("recovery") { log.health.ok }
        log.close()
        let v = AuditLog.verify(directory: dir)
        #expect(v.ok && v.records == 1 && v.outages == 1, "only the outage record survives: \(v)")
    }

    @Test func anAppendAfterCloseFailsInsteadOfWaitingForever() async throws {
        let dir = try Fixtures.tempDir()
        let log = try AuditLog(stateDir: dir, settings: settings(.strict))
        #expect(await log.append(.object([("n", 1)])) == .durable)
        log.close()
        guard case .failed(let why) = await log.append(.object([("n", 2)])) else { Issue.record("a closed log acknowledged a record"); return }
        #expect(why.contains("closed"))
        #expect(AuditLog.verify(directory: dir).records == 1)
    }

    @Test func verificationStillFailsOnAChainBreakBetweenSegments() async throws {
        let dir = try Fixtures.tempDir()
        let log = try AuditLog(stateDir: dir, settings: settings(.strict))
        for i in 0..<3 { _ = await log.append(.object([("n", .int(i))])) }
        log.close()
        let first = try #require(AuditLog.segments(in: dir + "/audit").first)
        // A second segment that links to nothing in the first.
        let foreign = try AuditLog(stateDir: try Fixtures.tempDir(), settings: settings(.strict))
        _ = await foreign.append(.object([("other", 1)]))
        foreign.close()
        try FileManager.default.copyItem(atPath: AuditLog.segments(in: foreign.directory).first!,
                                         toPath: (first as NSString).deletingLastPathComponent + "/segment-000002.jsonl")
        let v = AuditLog.verify(directory: dir)
        #expect(!v.ok && v.problem?.contains("segment-000002.jsonl:1: chain broken") == true, "\(v)")
    }
}
