import Foundation
import Testing
import KTModel
import KTTestSupport

/// `kt doctor` without a control plane, against a real gateway child process.
@Suite struct LocalDoctorTests {
    static func run(_ args: [String], home: String) async throws -> (Int32, JSONValue, String) {
        let r = try await ChildProcess.runToEnd(["doctor", "--json"] + args, environment: ["KEEPTRUSTS_HOME": home, "KEEPTRUSTS_API_URL": ""])
        let json = (try? JSONValue.parse(r.stdout)) ?? .null
        return (r.status, json, r.stdout + r.stderr)
    }

    static func check(_ report: JSONValue, _ name: String) -> JSONValue? {
        report["gateways"]?.arrayValue?.first?["checks"]?.arrayValue?.first { $0["check"]?.stringValue == name }
    }

    @Test func runningGatewayWithItsConfigIsAllOk() async throws {
        let dir = try Fixtures.tempDir()
        let config = Fixtures.path("valid/mock-quick-launch.yaml")
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", config, "--state-dir", dir + "/state", "--log-level", "warn"])
        defer { gw.signal(SIGKILL) }
        #expect(await RawClient.post(port: port, path: "/v1/chat/completions",
                               json: #"{"model":"gpt-5.4-mini","messages":[{"role":"user","content":"hi"}]}"#)?.status == 200)
        let (status, report, out) = try await Self.run(["--policy-config", config, "--state-dir", dir + "/state", "--url", "http://127.0.0.1:\(port)"], home: dir)
        #expect(status == 0, "\(out)")
        #expect(report["mode"] == "local")
        for name in ["config", "state", "gateway", "upstream"] {
            #expect(Self.check(report, name)?["status"] == "ok", "\(name): \(out)")
        }
        #expect(Self.check(report, "state")?["message"]?.stringValue?.contains("audit log:") == true)
        #expect(Self.check(report, "gateway")?["message"]?.stringValue?.contains("alive at") == true)

        // The file changed since the gateway loaded it: a warning that says to reload.
        let edited = dir + "/edited.yaml"
        try (try Fixtures.text("valid/mock-quick-launch.yaml")).replacingOccurrences(of: "threshold: 0.8", with: "threshold: 0.75")
            .write(toFile: edited, atomically: true, encoding: .utf8)
        let (s2, r2, _) = try await Self.run(["--policy-config", edited, "--state-dir", dir + "/state", "--url", "http://127.0.0.1:\(port)"], home: dir)
        #expect(s2 == 0, "warnings alone do not fail")
        #expect(Self.check(r2, "gateway")?["status"] == "warn")
        #expect(Self.check(r2, "gateway")?["hint"]?.stringValue?.contains("reload") == true)
    }

    @Test func problemsAreFailuresWithWhereAndFix() async throws {
        let dir = try Fixtures.tempDir()
        let notADir = dir + "/state-file"
        _ = FileManager.default.createFile(atPath: notADir, contents: Data("x".utf8))
        let (status, report, out) = try await Self.run(["--policy-config", Fixtures.path("invalid/E002-unknown-key.yaml"), "--state-dir", notADir,
                                                  "--url", "http://127.0.0.1:1"], home: dir)
        #expect(status == 1, "\(out)")
        let config = try #require(Self.check(report, "config"))
        #expect(config["status"] == "fail")
        #expect(config["message"]?.stringValue?.contains("E002-unknown-key.yaml is invalid") == true, "\(config.serialized())")
        #expect(config["hint"]?.stringValue?.contains("kt policy lint") == true)
        #expect(Self.check(report, "state")?["status"] == "fail")
        #expect(Self.check(report, "gateway")?["status"] == "fail")
        #expect(Self.check(report, "upstream")?["status"] == "skip")

        // A missing secret names the variable on its target's line.
        let (s2, r2, _) = try await Self.run(["--policy-config", Fixtures.path("valid/full.yaml"), "--checks", "config,upstream", "--timeout", "2s"], home: dir)
        #expect(s2 == 1)
        #expect(Self.check(r2, "config")?["message"]?.stringValue?.contains("OPENAI_API_KEY") == true)
        let upstream = r2["gateways"]?.arrayValue?.first?["checks"]?.arrayValue?.filter { $0["check"] == "upstream" } ?? []
        #expect(upstream.first { $0["target"] == "openai-primary" }?["message"]?.stringValue?.contains("OPENAI_API_KEY") == true)
        #expect(upstream.first { $0["target"] == "mock-backup" }?["status"] == "ok")

        // Fleet-only flags without a control plane: usage error, exit 2.
        let r = try await ChildProcess.runToEnd(["doctor", "--local", "--bundle"], environment: ["KEEPTRUSTS_HOME": dir])
        #expect(r.status == 2)
        let r3 = try await ChildProcess.runToEnd(["doctor", "--local", "--checks", "heartbeat"], environment: ["KEEPTRUSTS_HOME": dir])
        #expect(r3.status == 2)
        #expect(r3.stderr.contains("unknown check 'heartbeat' for local mode"))
    }

    /// On a nearly full disk the chain is still verified (that is when chains break), and the
    /// low space is a warning of its own.
    @Test func aBrokenChainIsFoundOnANearlyFullDisk() async throws {
        let disk: ScratchFilesystem
        switch ScratchFilesystem.mount(bytes: 8 << 20) {
        case .success(let d): disk = d
        case .failure(let why): print("skipped: \(why)"); return
        }
        defer { disk.unmount() }
        let dir = try Fixtures.tempDir()
        let state = disk.path + "/state"
        let config = Fixtures.path("valid/mock-quick-launch.yaml")
        let (gw, port) = try await ChildProcess.gateway(["--policy-config", config, "--state-dir", state, "--log-level", "warn"])
        for i in 0..<5 {
            #expect(await RawClient.post(port: port, path: "/v1/chat/completions",
                                         json: #"{"model":"gpt-5.4-mini","messages":[{"role":"user","content":"hello \#(i)"}]}"#)?.status == 200)
        }
        await gw.stop()
        // Someone edits a record; then the disk fills.
        let segment = state + "/audit/segment-000001.jsonl"
        var lines = try String(contentsOfFile: segment, encoding: .utf8).components(separatedBy: "\n")
        #expect(lines[2].contains(#""stream":false"#))
        lines[2] = lines[2].replacingOccurrences(of: #""stream":false"#, with: #""stream":true"#)
        try lines.joined(separator: "\n").write(toFile: segment, atomically: false, encoding: .utf8)
        disk.fill()
        let (status, report, out) = try await Self.run(["--policy-config", config, "--state-dir", state, "--checks", "state"], home: dir)
        #expect(status == 1, "\(out)")
        let stateCheck = try #require(Self.check(report, "state"), "\(out)")
        #expect(stateCheck["status"] == "fail" && stateCheck["message"]?.stringValue?.contains("hash mismatch") == true, "\(stateCheck.serialized())")
        #expect(Self.check(report, "disk")?["status"] == "warn", "\(out)")
    }
}
