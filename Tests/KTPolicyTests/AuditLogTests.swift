import Foundation
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
        for i in 0..<5 { await log.append(.object([("n", .int(i))])) }
        log.close()
        // A restarted gateway continues the same chain.
        let again = try AuditLog(stateDir: dir, settings: settings(.batched))
        for i in 5..<8 { await again.append(.object([("n", .int(i))])) }
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
        await log.append(.object([("n", 1)]))
        log.close()
        let file = try #require(AuditLog.segments(in: dir + "/audit").first)
        let handle = try #require(FileHandle(forWritingAtPath: file))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"hash":"abc"#.utf8))  // a crash mid-write
        try handle.close()
        let recovered = try AuditLog(stateDir: dir, settings: settings(.strict))
        await recovered.append(.object([("n", 2)]))
        recovered.close()
        let v = AuditLog.verify(directory: dir)
        #expect(v.ok && v.records == 2)
    }

    @Test func batchedRecordsReachDiskAfterClose() async throws {
        let dir = try Fixtures.tempDir()
        let log = try AuditLog(stateDir: dir, settings: settings(.batched))
        for i in 0..<1000 { await log.append(.object([("n", .int(i))])) }
        log.close()
        #expect(AuditLog.verify(directory: dir).records == 1000)
    }
}
