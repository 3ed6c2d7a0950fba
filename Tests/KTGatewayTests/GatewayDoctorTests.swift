import Foundation
import Testing
import KTModel
import KTTestSupport
import KTPolicy
import KTGateway

/// The gateway-side audit check, on real audit logs in temporary state dirs.
@Suite struct GatewayDoctorTests {
    static func log(records: Int) async throws -> AuditLog {
        var settings = AuditLoggerSettings()
        settings.durability = .batched
        let log = try AuditLog(stateDir: try Fixtures.tempDir(), settings: settings)
        for i in 0..<records { _ = await log.append(.object([("n", .int(i)), ("verdict", "allow"), ("note", "a decision record of ordinary size")])) }
        log.close()
        return log
    }

    @Test func aSoundChainIsOkWithItsRecordCount() async throws {
        let log = try await Self.log(records: 5)
        let check = await GatewayDoctor.auditCheck(directory: log.directory, timeoutMs: 30_000)
        #expect(check.status == .ok, "\(check.message)")
        #expect(check.message.contains("5 records"))
    }

    /// A verification still running at the deadline is a warning that says how to verify it all;
    /// the answer does not wait for it. (The test holds the verification until the check has
    /// answered, so the deadline wins every time, whatever the machine's load.)
    @Test func aVerificationPastTheDeadlineWarnsInsteadOfWaiting() async throws {
        let log = try await Self.log(records: 50)
        let release = DispatchSemaphore(value: 0)
        let check = await GatewayDoctor.auditCheck(directory: log.directory, timeoutMs: 20) { dir in
            release.wait()
            return AuditLog.verify(directory: dir, live: true)
        }
        #expect(check.status == .warn, "\(check.message)")
        #expect(check.message.contains("took longer than 0.02s"))
        #expect(check.hint?.contains("kt audit verify") == true)
        // While that verification still runs, another check does not start a second one.
        let overlapping = await GatewayDoctor.auditCheck(directory: log.directory, timeoutMs: 60_000)
        #expect(overlapping.status == .warn && overlapping.message.contains("still running"), "\(overlapping.message)")
        release.signal()
        // The same log, given time, verifies: the warning was the deadline, not the log.
        // (Polled: the released verification ends on its own thread.)
        var patient = overlapping
        let deadline = ContinuousClock.now + .seconds(10)
        while patient.message.contains("still running"), ContinuousClock.now < deadline {
            await Task.yield()
            patient = await GatewayDoctor.auditCheck(directory: log.directory, timeoutMs: 60_000)
        }
        #expect(patient.status == .ok && patient.message.contains("50 records"), "\(patient.message)")
    }

    @Test func aTamperedChainFails() async throws {
        let log = try await Self.log(records: 4)
        let file = try #require(AuditLog.segments(in: log.directory).first)
        let text = try String(contentsOfFile: file, encoding: .utf8)
        try text.replacingOccurrences(of: #""n":2"#, with: #""n":7"#).write(toFile: file, atomically: true, encoding: .utf8)
        let check = await GatewayDoctor.auditCheck(directory: log.directory, timeoutMs: 30_000)
        #expect(check.status == .fail)
        #expect(check.message.contains("does not verify"))
    }
}
