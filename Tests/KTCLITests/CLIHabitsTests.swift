import KTTestSupport
import Foundation
import Testing
import KTModel
@testable import KTCLI

/// Runs bash on a script (on a thread of its own) and returns its standard output.
func bash(_ script: String) async throws -> String {
    try await ChildProcess.system(["bash", "--norc", "-c", script]).stdout
}

@Suite struct CompletionTests {
    /// The bash script is sourced by a real bash and asked what `_kt` offers.
    /// Decision lines: aligned columns within 100 for the usual values, the date on a line of its
    /// own when it changes, latency in at most six characters, a long gateway id kept whole.
    @Test func eventLinesAreAlignedWithinOneHundredColumns() throws {
        func event(_ time: String, _ gw: String, _ verdict: String, _ ms: Double, _ reason: String) throws -> JSONValue {
            try JSONValue.parse(Array(#"{"time":"\#(time)","gateway":"\#(gw)","verdict":"\#(verdict)","status":409,"latency_ms":\#(ms),"id":"req_0123456789abcdef01234567","reason_code":"\#(reason)","model":"gpt-5.4-mini"}"#.utf8))
        }
        var lines = EventsTailCommand.Lines()
        let a = lines.render(try event("2026-12-01T23:59:58.120Z", "gw-eu-1", "block", 3.25, "prompt_injection.detected"))
        let b = lines.render(try event("2026-12-01T23:59:59.000Z", "gw-eu-2", "allow", 1234, "all_policies_passed"))
        let c = lines.render(try event("2026-12-02T00:00:01.000Z", "gateway-with-a-very-long-identifier-01", "redact", 25_000, "pii.detected"))
        #expect(a.count == 2 && a[0] == "2026-12-01" && b.count == 1 && c.count == 2 && c[0] == "2026-12-02")
        #expect(a[1] == "23:59:58  gw-eu-1       block   409   3.2ms  req_0123456789abcdef01234567  prompt_injection.detected")
        #expect(a[1].count <= 100 && b[0].count <= 100)
        // Columns line up: the request id starts at the same place on both lines.
        #expect(a[1].range(of: "req_")?.lowerBound.utf16Offset(in: a[1]) == b[0].range(of: "req_")?.lowerBound.utf16Offset(in: b[0]))
        #expect(b[0].contains(" 1234ms ") && c[1].contains(" 25.0s ") && c[1].contains("gateway-with-a-very-long-identifier-01"))
        #expect(GatewayFleetCommands.wrap("a bb ccc dddd", width: 6) == ["a bb", "ccc", "dddd"])
        #expect(GatewayFleetCommands.wrap(String(repeating: "x", count: 12), width: 5) == [String(repeating: "x", count: 12)])
    }

    @Test func bashCompletesCommandsOptionsAndFiles() async throws {
        let (code, script, _) = await runInProcess(["completion", "bash"])
        #expect(code == 0)
        let dir = try Fixtures.tempDir()
        try script.write(toFile: dir + "/kt.bash", atomically: true, encoding: .utf8)
        try "x".write(toFile: dir + "/policy-config.yaml", atomically: true, encoding: .utf8)
        func complete(_ words: [String]) async throws -> Set<String> {
            let quoted = words.map { "'\($0)'" }.joined(separator: " ")
            let out = try await bash("cd '\(dir)' && source ./kt.bash && COMP_WORDS=(\(quoted)) && COMP_CWORD=\(words.count - 1) && _kt && printf '%s\\n' \"${COMPREPLY[@]}\"")
            return Set(out.split(separator: "\n").map(String.init))
        }
        #expect(try await complete(["kt", ""]).isSuperset(of: ["gateway", "config", "rollout", "profile", "version", "completion"]))
        #expect(try await complete(["kt", "gateway", ""]) == ["run", "list", "show", "health", "--help"])
        #expect(try await complete(["kt", "gateway", "--json", "li"]) == ["list"])   // options before the subcommand are skipped
        #expect(try await complete(["kt", "config", "push", "--fi"]) == ["--file"])
        #expect(try await complete(["kt", "policy", "lint", "--file", "pol"]) == ["policy-config.yaml"])
        #expect(try await complete(["kt", "nonsense", ""]).contains("gateway"))
    }

    @Test func zshAndFishScriptsAreValidShell() async throws {
        for shell in ["zsh", "fish"] {
            let (code, script, _) = await runInProcess(["completion", shell])
            #expect(code == 0 && script.contains("gateway"))
            guard let binary = ["/usr/bin/\(shell)", "/bin/\(shell)"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
                print("skipped: \(shell) is not installed; its script was generated but not syntax-checked")
                continue
            }
            let dir = try Fixtures.tempDir()
            try script.write(toFile: dir + "/kt.\(shell)", atomically: true, encoding: .utf8)
            let check = try await ChildProcess.system([binary, "-n", dir + "/kt.\(shell)"])
            #expect(check.status == 0, "\(shell) -n rejects the script: \(check.stderr)")
        }
        let (code, _, err) = await runInProcess(["completion", "powershell"])
        #expect(code == 2 && err.contains("bash, zsh, fish"))
    }
}

@Suite struct ProfileTests {
    @Test func profilesRoundTripWithPrivateFileAndClearErrors() async throws {
        let home = try Fixtures.tempDir()
        let env = ["KEEPTRUSTS_HOME": home]
        try "secret-token\n".write(toFile: home + "/token", atomically: true, encoding: .utf8)
        #expect(await runInProcess(["profile", "add", "prod", "--url", "https://cp.example:41000", "--token-file", home + "/token"], env: env).0 == 0)
        #expect(await runInProcess(["profile", "add", "staging", "--url", "http://127.0.0.1:1"], env: env).0 == 0)
        let attrs = try FileManager.default.attributesOfItem(atPath: home + "/profiles.json")
        #expect((attrs[.posixPermissions] as? Int) == 0o600)
        #expect(try String(contentsOfFile: home + "/profiles.json", encoding: .utf8).contains("secret-token") == false)  // the path, never the token
        var (code, out, _) = await runInProcess(["profile", "list", "--json"], env: env)
        var json = try JSONValue.parse(Array(out.utf8))
        #expect(code == 0 && json["current"] == "prod")   // the first profile added is current
        #expect(json["profiles"] == [["name": "prod", "url": "https://cp.example:41000", "token_file": .string(home + "/token"), "ca_file": nil],
                                     ["name": "staging", "url": "http://127.0.0.1:1", "token_file": nil, "ca_file": nil]])
        #expect(await runInProcess(["profile", "use", "staging"], env: env).0 == 0)
        (code, out, _) = await runInProcess(["profile", "list"], env: env)
        #expect(code == 0 && out.split(separator: "\n").contains { $0.contains("staging") && $0.hasPrefix("*") })
        #expect(out.split(separator: "\n").contains { $0.contains("prod") && !$0.hasPrefix("*") })
        #expect(!out.contains("│") && !out.contains("─"))   // ASCII in a pipe
        #expect(await runInProcess(["profile", "remove", "staging"], env: env).0 == 0)
        (code, out, _) = await runInProcess(["profile", "list", "--json"], env: env)
        json = try JSONValue.parse(Array(out.utf8))
        #expect(json["current"] == .some(.null) && json["profiles"]?.arrayValue?.count == 1)
        // Mistakes say what is wrong.
        var err: String
        (code, _, err) = await runInProcess(["gateway", "list", "--profile", "nope"], env: env)
        #expect(code == 2 && err.contains("no profile 'nope'") && err.contains("prod"))
        (code, _, err) = await runInProcess(["profile", "add", "bad name", "--url", "http://x"], env: env)
        #expect(code == 2 && err.contains("profile name"))
        (code, _, err) = await runInProcess(["profile", "add", "x", "--url", "ftp://x"], env: env)
        #expect(code == 2 && err.contains("--url"))
        (code, _, err) = await runInProcess(["profile", "add", "x", "--url", "http://x", "--token-file", home + "/missing"], env: env)
        #expect(code == 2 && err.contains("no readable file"))
        (code, _, err) = await runInProcess(["gateway", "run", "--profile", "prod"], env: env)
        #expect(code == 2 && err.contains("does not use CLI profiles"))
    }

    /// A profile reaches a real control plane; the environment still wins over it.
    @Test func profileConnectsTheCLIAndEnvironmentOverrides() async throws {
        let data = try Fixtures.tempDir(), home = try Fixtures.tempDir()
        let (cp, port, token) = try await ChildProcess.controlPlane(dataDir: data)
        defer { Task { await cp.stop() } }
        try token.write(toFile: home + "/admin.token", atomically: true, encoding: .utf8)
        let env = ["KEEPTRUSTS_HOME": home]
        #expect(await runInProcess(["profile", "add", "local", "--url", "http://127.0.0.1:\(port)", "--token-file", home + "/admin.token"], env: env).0 == 0)
        var (code, out, err) = await runInProcess(["version", "--json"], env: env)
        #expect(code == 0, "\(err)")
        let json = try JSONValue.parse(Array(out.utf8))
        #expect(json["cli"]?["version"]?.stringValue == KTVersion.current)
        #expect(json["control_plane"]?["version"]?.stringValue == KTVersion.current)
        #expect(json["control_plane"]?["url"]?.stringValue == "http://127.0.0.1:\(port)")
        (code, out, _) = await runInProcess(["version"], env: env)
        #expect(code == 0 && out.hasPrefix("kt \(KTVersion.current)\ncontrol plane \(KTVersion.current) at http://127.0.0.1:\(port)"))
        (code, _, err) = await runInProcess(["gateway", "list", "--json"], env: env)
        #expect(code == 0, "\(err)")
        // The environment overrides the profile: a wrong token is used, and refused.
        (code, _, err) = await runInProcess(["version"], env: env.merging(["KEEPTRUSTS_API_TOKEN": "wrong"]) { $1 })
        #expect(code == 1 && (err.contains("401") || err.lowercased().contains("token")))
        // Without any control plane configured, the CLI's version alone.
        (code, out, _) = await runInProcess(["version"], env: ["KEEPTRUSTS_HOME": try Fixtures.tempDir()])
        #expect(code == 0 && out == "kt \(KTVersion.current)\n")
    }
}

@Suite struct InitJSONTests {
    @Test func initReportsItsFilesAsJSONAndNeverHalfWrites() async throws {
        let dir = try Fixtures.tempDir()
        var (code, out, _) = await runInProcess(["init", "--dir", dir, "--json"])
        #expect(code == 0)
        let json = try JSONValue.parse(Array(out.utf8))   // one JSON document, nothing else
        #expect(json["files"]?.arrayValue?.contains("policy-config.yaml") == true)
        #expect(json["template"] == "prompt-injection-detection")
        // One file removed, the rest in the way: refused, and the removed one is not recreated.
        try FileManager.default.removeItem(atPath: dir + "/policy-config.yaml")
        var err: String
        (code, out, err) = await runInProcess(["init", "--dir", dir])
        #expect(code == 1 && err.contains("exists; use --force"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/policy-config.yaml"))
        (code, _, _) = await runInProcess(["init", "--dir", dir, "--force"])
        #expect(code == 0 && FileManager.default.fileExists(atPath: dir + "/policy-config.yaml"))
    }
}

@Suite struct LabelSelectorTests {
    @Test func termsAndMatching() throws {
        let s = try LabelSelector("team=ai, env!=prod,canary,!legacy")
        #expect(s.terms == [.equals("team", "ai"), .notEquals("env", "prod"), .exists("canary"), .absent("legacy")])
        #expect(s.matches(["team": "ai", "env": "staging", "canary": "yes"]))
        #expect(!s.matches(["team": "ai", "env": "prod", "canary": "yes"]))
        #expect(!s.matches(["team": "ai", "canary": "yes", "legacy": "1"]))
        #expect(!s.matches(["team": "ml", "canary": ""]))
        #expect(try LabelSelector("tier==gold").terms == [.equals("tier", "gold")])
        for bad in ["", "a=1,", "=x", "a b=c"] {
            #expect(throws: LabelSelector.Invalid.self) { try LabelSelector(bad) }
        }
    }

    /// Simulated gateways carry labels (kind=normal|failing…); every command that takes
    /// `-l/--selector` narrows to the matching ones.
    @Test func selectorNarrowsListHealthPushAndDoctor() async throws {
        let data = try Fixtures.tempDir()
        let (cp, port, token) = try await ChildProcess.controlPlane(dataDir: data)
        let env = ["KEEPTRUSTS_API_URL": "http://127.0.0.1:\(port)", "KEEPTRUSTS_API_TOKEN": token, "KEEPTRUSTS_HOME": try Fixtures.tempDir()]
        let sim = try ChildProcess(["dev", "simulate-fleet", "--gateways", "3", "--failing", "1", "--prefix", "sel-", "--heartbeat-interval", "1s"], environment: env)
        defer { Task { await sim.stop(); await cp.stop() } }
        func ids(_ out: String) throws -> Set<String> {
            Set((try JSONValue.parse(Array(out.utf8))["gateways"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue })
        }
        #expect(await poll("three simulated gateways registered") {
            (try? ids(await runInProcess(["gateway", "list", "--json"], env: env).1).count) == 3
        })
        var (code, out, err) = await runInProcess(["gateway", "list", "-l", "kind=failing", "--json"], env: env)
        #expect(code == 0, "\(err)")
        let failing = try ids(out)
        #expect(failing.count == 1)
        (code, out, _) = await runInProcess(["gateway", "list", "--selector", "kind!=failing,simulated", "--json"], env: env)
        let others = try ids(out)
        #expect(others.count == 2 && others.isDisjoint(with: failing))
        (code, out, _) = await runInProcess(["gateway", "list", "-l", "kind=nothing"], env: env)
        #expect(code == 0 && out.contains("No gateways match."))
        (code, out, _) = await runInProcess(["gateway", "health", "-l", "kind=failing", "--json"], env: env)
        let healthy = try ids(out)
        #expect(code == 0 && healthy == failing)
        (code, out, err) = await runInProcess(["config", "push", "--file", "fleet/good.yaml", "-l", "kind=failing", "--dry-run", "--json"], env: env)
        #expect(code == 0, "\(err) \(out)")
        let plan = try JSONValue.parse(Array(out.utf8))
        let planned = Set((plan["targets"]?.arrayValue ?? []).compactMap { $0["gateway"]?.stringValue })
        #expect(planned == failing, "\(out)")
        (code, _, err) = await runInProcess(["doctor", "-l", "kind=nothing"], env: env)
        #expect(code == 2 && err.contains("no registered gateway matches --selector kind=nothing"))
        (code, _, err) = await runInProcess(["config", "push", "--file", "fleet/good.yaml", "-l", "kind=nothing"], env: env)
        #expect(code == 2 && err.contains("no registered gateway matches"))
        (code, _, err) = await runInProcess(["gateway", "list", "-l", "a b=c"], env: env)
        #expect(code == 2 && err.contains("--selector"))
    }
}

@Suite struct EvalInjectionJSONTests {
    @Test func evalInjectionJSONIsOneDocument() async throws {
        // A child process: scoring every fixture in process would hold a thread of the cooperative pool.
        let r = try await runKT(["dev", "eval-injection", "--fixtures", Fixtures.path("prompt-injection"), "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONValue.parse(Array(r.stdout.utf8))
        #expect(json["threshold"]?.doubleValue == 0.8)
        let all = try #require(json["hard_negatives_blocked"]?.arrayValue?.last)
        #expect(all["name"] == "all" && (all["rows"]?.intValue ?? 0) >= 300)
        #expect(json["evasion_caught"]?.arrayValue?.isEmpty == false && json["attacks_caught"]?.arrayValue?.isEmpty == false)
    }
}

@Suite struct ProfileFileTests {
    /// A damaged profiles file or an empty profile name is a clear error, never a crash or a
    /// silent fallback to no profile.
    @Test func damagedFileAndEmptyNameAreErrors() async throws {
        let home = try Fixtures.tempDir()
        let env = ["KEEPTRUSTS_HOME": home]
        try "{not json\u{1}".write(toFile: home + "/profiles.json", atomically: true, encoding: .utf8)
        var (code, _, err) = await runInProcess(["gateway", "list"], env: env)
        #expect(code == 2 && err.contains("not a valid profiles file"))
        (code, _, err) = await runInProcess(["profile", "list"], env: env)
        #expect(code == 1 && err.contains("not a valid profiles file"))
        try FileManager.default.removeItem(atPath: home + "/profiles.json")
        (code, _, err) = await runInProcess(["gateway", "list", "--profile="], env: env)
        #expect(code == 2 && err.contains("no profile ''"))
        (code, _, err) = await runInProcess(["gateway", "list", "--profile"], env: env)
        #expect(code == 2 && err.contains("--profile needs a profile name"))
        // An empty token file is read as an empty token: the environment check names what is missing.
        try "".write(toFile: home + "/empty", atomically: true, encoding: .utf8)
        #expect(await runInProcess(["profile", "add", "p", "--url", "http://127.0.0.1:1", "--token-file", home + "/empty"], env: env).0 == 0)
        (code, _, err) = await runInProcess(["gateway", "list"], env: env)
        #expect(code == 2 && err.contains("KEEPTRUSTS_API_TOKEN"), "\(err)")
    }
}
