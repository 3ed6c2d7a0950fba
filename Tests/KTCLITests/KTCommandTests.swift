import KTTestSupport
import Foundation
import Testing
import KTModel
@testable import KTCLI

/// Runs `kt` in process with captured output.
func runInProcess(_ args: [String], env: [String: String] = [:], tty: Bool = false) async -> (Int32, String, String) {
    let ctx = CLIContext(stdout: .capture(), stderr: .capture(), environment: env, stdoutIsTTY: tty,
                         currentDirectory: Fixtures.root)
    let code = await KT.main(args, context: ctx)
    return (code, ctx.stdout.text, ctx.stderr.text)
}

@Suite struct KTCommandTests {
    @Test func helpListsEveryCommandOfTheSurface() async {
        let (code, out, _) = await runInProcess(["--help"])
        #expect(code == 0)
        for name in ["gateway", "control-plane", "policy", "config", "rollout", "events", "doctor", "bench"] {
            #expect(out.contains("  \(name) "))
        }
        let (gcode, gout, _) = await runInProcess(["gateway", "--help"])
        #expect(gcode == 0 && gout.contains("health") && gout.contains("list"))
        let (pcode, pout, _) = await runInProcess(["config", "push", "--help"])
        #expect(pcode == 0 && pout.contains("--success-threshold EXPR") && pout.contains("--rollback-on-error"))
    }

    @Test func gatewayRunRefusesOutOfRangeLimits() async {
        for (args, flag) in [(["--max-connections", "0"], "--max-connections"), (["--max-connections", "99999999999999999999"], "--max-connections"),
                             (["--max-connections-per-client", "-1"], "--max-connections-per-client"), (["--policy-budget", "0s"], "--policy-budget"),
                             (["--policy-budget", "1e300"], "--policy-budget"), (["--max-concurrency", "+5"], "--max-concurrency")] {
            let (code, _, err) = await runInProcess(["gateway", "run", "--policy-config", "valid/mock-quick-launch.yaml"] + args)
            #expect(code == 2, "\(args)")
            #expect(err.contains(flag), "\(args): \(err)")
        }
    }

    @Test func versionPrints() async {
        let (code, out, _) = await runInProcess(["--version"])
        #expect(code == 0 && out == "kt \(KTVersion.current)\n")
    }

    @Test func unbuiltCommandsSaySoAndExit2() async {
        let root = Command.group("kt", "test", [.leaf("later", "a command planned for later", plannedIn: "issue 99")])
        let ctx = CLIContext(stdout: .capture(), stderr: .capture(), environment: [:], stdoutIsTTY: false)
        let code = await KT.main(["later"], context: ctx, root: root)
        #expect(code == 2 && ctx.stderr.text.contains("not built yet") && ctx.stderr.text.contains("issue 99"))
    }

    @Test func unknownCommandSuggests() async {
        let (code, _, err) = await runInProcess(["polciy", "lint"])
        #expect(code == 2 && err.contains("did you mean 'policy'"))
    }

    @Test func lintValidJSONMatchesTheSpecShape() async throws {
        let (code, out, _) = await runInProcess(["policy", "lint", "--file", "valid/quick-launch.yaml", "--json"])
        #expect(code == 0)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        #expect(Set(obj.keys) == ["valid", "file", "pack", "chain", "policy_count", "sha", "warnings"])
        #expect(obj["valid"] as? Bool == true)
        #expect((obj["pack"] as? [String: String]) == ["name": "quick-launch", "version": "0.1.0"])
        #expect(obj["chain"] as? [String] == ["prompt-injection", "pii-detector", "audit-logger"])
        #expect(obj["policy_count"] as? Int == 3)
        #expect((obj["sha"] as? String)?.count == 12)
    }

    @Test func lintInvalidJSONMatchesTheSpecShape() async throws {
        let (code, out, _) = await runInProcess(["policy", "lint", "--json", "--file=invalid/E001-unknown-policy-kind.yaml"])
        #expect(code == 2)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        #expect(Set(obj.keys) == ["valid", "file", "errors", "warnings"])
        let err = try #require((obj["errors"] as? [[String: Any]])?.first)
        #expect(Set(err.keys) == ["code", "path", "line", "column", "message", "suggestion"])
        #expect(err["code"] as? String == "E001" && err["path"] as? String == "policies.chain[0]")
        #expect(err["line"] as? Int == 9 && err["column"] as? Int == 7)
        #expect(err["suggestion"] as? String == "prompt-injection")
    }

    @Test func lintHumanOutput() async {
        let (code, out, _) = await runInProcess(["policy", "lint", "--file", "invalid/E001-unknown-policy-kind.yaml"])
        #expect(code == 2)
        // A pipe gets words; a terminal the spec's symbol.
        #expect(out.hasPrefix("FAIL invalid/E001-unknown-policy-kind.yaml has 1 error\n"))
        let (_, ttyOut, _) = await runInProcess(["policy", "lint", "--file", "invalid/E001-unknown-policy-kind.yaml"], env: ["NO_COLOR": "1"], tty: true)
        #expect(ttyOut.hasPrefix("✗ invalid/E001-unknown-policy-kind.yaml has 1 error\n"))
        #expect(out.contains("error[E001]: unknown policy kind 'prompt-injections'\n  --> policies.chain[0] (line 9, col 7)\n  help: did you mean 'prompt-injection'?"))
    }

    @Test func evalPIIJSONIsOnlyJSON() async throws {
        let (code, out, _) = await runInProcess(["dev", "eval-pii", "--generated", "--json"])
        #expect(code == 0)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        #expect((o["entities"] as? [String: Any])?["iban"] != nil)
        #expect(((o["benign"] as? [String: Any])?["rows"] as? Int ?? 0) >= 250)
    }

    @Test func lintMissingFileExits1WithOneLine() async {
        let (code, out, err) = await runInProcess(["policy", "lint", "--file", "nope.yaml"])
        #expect(code == 1 && out.isEmpty)
        #expect(err.split(separator: "\n").count == 1 && err.contains("nope.yaml: no such file"))
    }

    @Test func colourOnlyOnATTYWithoutNoColor() {
        let tty = CLIContext(stdout: .capture(), stderr: .capture(), environment: [:], stdoutIsTTY: true)
        let noColor = CLIContext(stdout: .capture(), stderr: .capture(), environment: ["NO_COLOR": ""], stdoutIsTTY: true)
        let pipe = CLIContext(stdout: .capture(), stderr: .capture(), environment: [:], stdoutIsTTY: false)
        #expect(tty.style.color && !noColor.style.color && !pipe.style.color)
    }
}

/// The same through the real binary, as a newcomer runs it.
@Suite struct KTBinaryTests {
    @Test func lintTheSeedConfig() async throws {
        let r = try await runKT(["policy", "lint", "--file", Fixtures.path("valid/quick-launch.yaml")])
        #expect(r.status == 0)
        #expect(r.stdout.contains("is valid") && r.stdout.contains("quick-launch 0.1.0"))
        #expect(r.stdout.contains("prompt-injection → pii-detector → audit-logger") && r.stdout.contains("sha:"))
    }

    @Test(arguments: ["E001", "E002", "E003", "E004", "E005", "E006"])
    func eachInvalidFixtureExits2(_ code: String) async throws {
        let dir = Fixtures.path("invalid")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(code) }
        #expect(!files.isEmpty)
        for file in files {
            let r = try await runKT(["policy", "lint", "--file", (dir as NSString).appendingPathComponent(file)])
            #expect(r.status == 2, "\(file)")
            #expect(r.stdout.contains("error[\(code)]"), "\(file)")
            #expect(r.stdout.contains("(line "), "\(file)")
        }
    }

    @Test func unknownFlagExits2() async throws {
        let r = try await runKT(["policy", "lint", "--fiel", "x"])
        #expect(r.status == 2 && r.stderr.contains("did you mean '--file'"))
    }
}

/// Runs `kt` to completion as a child process.
func runKT(_ args: [String]) async throws -> ChildProcess.Finished { try await ChildProcess.runToEnd(args) }
