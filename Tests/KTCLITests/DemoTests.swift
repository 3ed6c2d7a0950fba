import Foundation
import Testing
import KTTestSupport

/// The README's main command, run non-interactively with the kt under test (no release build).
@Suite struct DemoTests {
    @Test func demoWalksTheWholeMissionAndExitsZero() throws {
        let state = try Fixtures.tempDir()
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
        let text = String(decoding: data, as: UTF8.self)
        #expect(p.terminationStatus == 0, "\(text.suffix(3000))")
        #expect(text.contains("Config Push Preview (dry-run)"))
        #expect(text.contains("restored to"))
        #expect(text.contains("Rollout rolled_back"))
        #expect(text.contains("Rollout succeeded"))
        #expect(text.contains("Fleet doctor — 3 gateways"))
        #expect(text.contains("/manifest.json"))
        // Everything was stopped: no kt process still uses the demo's state directory.
        let ps = Process()
        ps.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
        ps.arguments = ["-f", state]
        ps.standardOutput = FileHandle.nullDevice
        try ps.run()
        ps.waitUntilExit()
        #expect(ps.terminationStatus == 1, "processes of the demo are still running")
    }
}
