import Foundation
import Testing
import KTTestSupport

/// The README's main command, run non-interactively with the kt under test (no release build).
@Suite struct DemoTests {
    @Test func demoWalksTheWholeMissionAndExitsZero() async throws {
        let state = try Fixtures.tempDir()
        // The demo takes a while: wait for it on a thread of its own, not the cooperative pool's.
        let (status, text) = try await onThread { Result { try Self.runDemo(state: state) } }.get()
        #expect(status == 0, "\(text.suffix(3000))")
        #expect(text.contains("Config Push Preview (dry-run)"))
        #expect(text.contains("restored to"))
        #expect(text.contains("Rollout rolled_back"))
        #expect(text.contains("Rollout succeeded"))
        #expect(text.contains("Fleet doctor — 3 gateways"))
        #expect(text.contains("/manifest.json"))
        // Everything was stopped: no kt process still uses the demo's state directory.
        let pgrep = try await ChildProcess.system(["pgrep", "-f", state])
        #expect(pgrep.status == 1, "processes of the demo are still running: \(pgrep.stdout)")
    }

    static func runDemo(state: String) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [Fixtures.repositoryRoot + "/scripts/demo"]
        var env = ProcessInfo.processInfo.environment
        env["KT_BIN"] = ChildProcess.ktBinary
        env["KT_DEMO_STATE"] = state
        env["NO_COLOR"] = "1"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
