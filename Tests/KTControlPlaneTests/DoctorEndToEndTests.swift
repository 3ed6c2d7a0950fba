import Foundation
import Synchronization
import Testing
import KTModel
import KTTestSupport

/// `kt doctor` and `kt doctor --bundle` against a real control plane, real managed gateways and
/// a real mock provider, all child processes on 127.0.0.1.
@Suite(.serialized) struct DoctorEndToEndTests {
    static let plantedEnvKey = "sk-planted-env-5f3a9c0e1d2b4a6879"
    static let plantedFileKey = "planted-file-secret-7d41c2b9e05f"

    /// A config whose targets point at `ports` (each an openai-compatible target with a key).
    static func config(dir: String, name: String, ports: [Int], includeContent: Bool = false, timeoutMs: Int = 3000) throws -> String {
        try (plantedFileKey + "\n").write(toFile: dir + "/provider-key.txt", atomically: true, encoding: .utf8)
        var targets = ""
        for (i, port) in ports.enumerated() {
            let secret = i == 0 ? "{ env: DOCTOR_PLANTED_KEY }" : "{ file: \(dir)/provider-key.txt }"
            targets += """
                    - id: target-\(i + 1)
                      provider: openai-compatible
                      model: gpt-5.4-mini
                      base_url: http://127.0.0.1:\(port)
                      secret_key_ref: \(secret)
                      timeout_ms: \(timeoutMs)

                """
        }
        let text = """
            pack: { name: \(name), version: 1.0.0 }
            providers:
              targets:
            \(targets)policies:
              chain: [prompt-injection, audit-logger]
            policy:
              prompt-injection: { threshold: 0.8, action: block }
              audit-logger: { retention_days: 30, include_content: \(includeContent) }

            """
        let path = dir + "/\(name).yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A port nothing listens on: bound, read, closed.
    static func closedPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// A listener that accepts connections and never answers (a provider that hangs).
    final class SilentListener: @unchecked Sendable {
        let fd: Int32
        let port: Int
        private let accepted = AcceptedSockets()

        init() throws {
            let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, len) } }
            guard bound == 0, listen(s, 16) == 0 else { Glibc.close(s); throw POSIXError(.EADDRINUSE) }
            _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) } }
            port = Int(UInt16(bigEndian: addr.sin_port))
            fd = s
            let accepted = self.accepted
            // Only this thread closes the listening socket, once accept fails after `close()`'s
            // shutdown: a descriptor number is never closed twice or used after another thread
            // may have been given it.
            Thread {
                while true {
                    let c = accept(s, nil, nil)
                    if c < 0 { break }
                    accepted.add(c)
                }
                Glibc.close(s)
            }.start()
        }

        var connections: Int { accepted.count }

        /// Resets every connection (the waiting client sees the peer go away) and stops listening.
        /// Idempotent.
        func close() {
            if accepted.closeAll() { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    final class AcceptedSockets: Sendable {
        private let state = Mutex<(fds: [Int32], accepted: Int, closed: Bool)>(([], 0, false))
        func add(_ fd: Int32) {
            state.withLock { s in
                s.accepted += 1
                if s.closed { Glibc.close(fd) } else { s.fds.append(fd) }
            }
        }
        /// Connections accepted so far (closing them does not lower it).
        var count: Int { state.withLock { $0.accepted } }
        /// Closes every connection once; false when already closed.
        func closeAll() -> Bool {
            state.withLock { s in
                guard !s.closed else { return false }
                s.closed = true
                for c in s.fds { Glibc.close(c) }
                s.fds = []
                return true
            }
        }
    }

    static func checks(_ report: JSONValue, _ gateway: String) -> [JSONValue] {
        report.gateway(gateway)?["checks"]?.arrayValue ?? []
    }

    static func waitOnline(_ h: FleetHarness, _ ids: [String]) async throws {
        _ = try await FleetHarness.eventually("\(ids) online") { () -> Bool? in
            let list = try await h.json(["gateway", "list"])
            return ids.allSatisfy { list.gateway($0)?["status"]?.stringValue == "online" } ? true : nil
        }
    }

    @Test func healthyGatewayIsAllOkAndAnUnreachableTargetFailsOnlyItsGateway() async throws {
        let h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        let (upstream, upstreamPort) = try await ChildProcess.mockUpstream()
        defer { upstream.signal(SIGKILL) }
        let good = try Self.config(dir: h.dir, name: "good-targets", ports: [upstreamPort, upstreamPort])
        let bad = try Self.config(dir: h.dir, name: "bad-target", ports: [Self.closedPort()])
        let env = ["DOCTOR_PLANTED_KEY": Self.plantedEnvKey]
        let (gwGood, goodPort) = try await h.gateway("gw-good", heartbeat: "1s", extraEnv: env, config: good)
        defer { gwGood.signal(SIGKILL) }
        let (gwBad, _) = try await h.gateway("gw-bad", heartbeat: "1s", extraEnv: env, config: bad)
        defer { gwBad.signal(SIGKILL) }
        try await Self.waitOnline(h, ["gw-good", "gw-bad"])
        // Traffic through the good gateway gives its audit log records to verify.
        #expect(await FleetHarness.chat(port: goodPort, "hello there")?.status == 200)

        let r = try await h.kt(["doctor", "--json", "--timeout", "8s"])
        #expect(r.status == 1, "a failing check exits 1: \(r.stderr)")
        let report = try JSONValue.parse(r.stdout)
        // The stable shape: keys and their order.
        #expect(report.objectValue?.map(\.0) == ["mode", "generated_at", "control_plane_version", "checks", "timeout_seconds", "gateways", "summary", "ok"])
        #expect(report["checks"] == .array(DoctorCheck.fleetChecks.map { .string($0) }))
        #expect(report.gateway("gw-good")?.objectValue?.map(\.0) == ["id", "name", "region", "registered", "status", "checks"])
        for c in Self.checks(report, "gw-good") {
            #expect(c.objectValue?.map(\.0) == ["check", "target", "status", "message", "hint", "latency_ms"])
            #expect(c["status"]?.stringValue == "ok", "gw-good: \(c.serialized())")
        }
        let goodNames = Self.checks(report, "gw-good").compactMap { $0["check"]?.stringValue }
        #expect(goodNames == ["heartbeat", "config", "version", "clock", "audit", "upstream", "upstream"])
        let upstreamTargets = Self.checks(report, "gw-good").filter { $0["check"] == "upstream" }.compactMap { $0["target"]?.stringValue }
        #expect(upstreamTargets == ["target-1", "target-2"])
        #expect(Self.checks(report, "gw-good").first { $0["check"] == "upstream" }?["latency_ms"]?.doubleValue != nil)
        #expect(Self.checks(report, "gw-good").first { $0["check"] == "audit" }?["message"]?.stringValue?.contains("verified") == true)
        #expect(report.gateway("gw-good")?["status"] == "ok")

        let badUpstream = Self.checks(report, "gw-bad").filter { $0["check"] == "upstream" }
        #expect(badUpstream.count == 1)
        #expect(badUpstream.first?["status"] == "fail")
        #expect(badUpstream.first?["message"]?.stringValue?.contains("unreachable") == true, "\(badUpstream)")
        #expect(badUpstream.first?["hint"]?.stringValue?.isEmpty == false)
        for c in Self.checks(report, "gw-bad") where c["check"] != "upstream" {
            #expect(c["status"]?.stringValue == "ok", "gw-bad: only upstream fails: \(c.serialized())")
        }
        #expect(report["summary"]?["gateways_fail"] == 1)
        #expect(report["summary"]?["gateways_ok"] == 1)
        #expect(report["ok"] == false)

        // One gateway, as text: exit 0, each check on its line, no failure.
        let text = try await h.kt(["doctor", "--gateway", "gw-good"])
        #expect(text.status == 0, "\(text.stdout)\n\(text.stderr)")
        #expect(text.stdout.contains("gw-good"))
        #expect(!text.stdout.contains("gw-bad"))
        #expect(text.stdout.contains("Gateways: 1 ok, 0 with warnings, 0 failing."), "\(text.stdout)")
        // The failing one as text names the error and the fix.
        let failing = try await h.kt(["doctor", "--gateway", "gw-bad", "--checks", "upstream"])
        #expect(failing.status == 1)
        #expect(failing.stdout.contains("FAIL upstream"), "\(failing.stdout)")
        #expect(failing.stdout.contains("fix: "))

        // --checks selects, in report order.
        let some = try JSONValue.parse(try await h.kt(["doctor", "--gateway", "gw-good", "--checks", "version,heartbeat", "--json"]).stdout)
        #expect(Self.checks(some, "gw-good").compactMap { $0["check"]?.stringValue } == ["heartbeat", "version"])
        // Bad input: exit 2 with what is wrong.
        let unknown = try await h.kt(["doctor", "--checks", "heartbeat,uptsream"])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("unknown check 'uptsream'") && unknown.stderr.contains("did you mean 'upstream'"), "\(unknown.stderr)")
        // A gateway the control plane never heard of is a failure, not a crash.
        let missing = try JSONValue.parse(try await h.kt(["doctor", "--gateway", "gw-nope", "--json"]).stdout)
        #expect(Self.checks(missing, "gw-nope").first?["message"]?.stringValue == "not registered with the control plane")
    }

    @Test func driftVersionSkewAndClockSkewAreDetected() async throws {
        let h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        // A gateway speaking the protocol by hand: an old version, a clock two minutes fast, and
        // it never applies what it is given.
        let token = try await h.createToken(role: "gateway", gatewayID: "gw-skew")
        let auth = ["authorization": "Bearer \(token)"]
        let ahead = 120_000
        let reg = await RawClient.request(port: h.port, method: "POST", path: "/v1/gateways/register",
                                    body: #"{"id":"gw-skew","version":"0.0.9","heartbeat_interval_seconds":30}"#, headers: auth)
        #expect(reg?.status == 200)
        let beat = await RawClient.request(port: h.port, method: "POST", path: "/v1/gateways/gw-skew/heartbeat",
                                     body: #"{"version":"0.0.9","unix_ms":\#(Int(Date().timeIntervalSince1970 * 1000) + ahead)}"#, headers: auth)
        #expect(beat?.status == 200)
        let push = try await h.kt(["config", "push", "--file", Fixtures.path("fleet/good.yaml"), "--gateway", "gw-skew", "--source", "skewtest",
                             "--confirm", "--strategy", "all-at-once", "--ack-timeout", "1s"])
        #expect(push.status == 1, "no ACK: the rollout fails: \(push.stdout)")
        let shown = try await h.json(["gateway", "show", "gw-skew"])
        let desired = try #require(shown["config"]?["desired_sha"]?.stringValue)

        // Answer doctor tasks the way a gateway does, two minutes ahead. Blocking socket calls:
        // on a thread of its own, never on the cooperative pool other tests need.
        let port = h.port
        let stop = Atomic<Bool>(false)
        let answering = Thread {
            while !stop.load(ordering: .relaxed) {
                let poll = RawClient.request(port: port, method: "GET", path: "/v1/gateways/gw-skew/config?known_sha=\(desired)&wait=1s", headers: auth)
                guard let body = poll?.body, poll?.status == 200, let task = try? JSONValue.parse(body)["task"], let id = task["id"]?.stringValue else { continue }
                let answer: JSONValue = .object([("id", .string(id)), ("kind", "doctor"), ("checks", .array([])),
                                                 ("unix_ms", .int(Int(Date().timeIntervalSince1970 * 1000) + ahead))])
                _ = RawClient.request(port: port, method: "POST", path: "/v1/gateways/gw-skew/tasks/\(id)", body: answer.serialized(), headers: auth)
            }
        }
        answering.start()
        defer { stop.store(true, ordering: .relaxed) }

        let r = try await h.kt(["doctor", "--gateway", "gw-skew", "--json", "--timeout", "15s"])
        #expect(r.status == 1)
        let report = try JSONValue.parse(r.stdout)
        func check(_ name: String) -> JSONValue? { Self.checks(report, "gw-skew").first { $0["check"]?.stringValue == name } }
        #expect(check("heartbeat")?["status"] == "ok")
        #expect(check("version")?["status"] == "warn")
        #expect(check("version")?["message"]?.stringValue?.contains("0.0.9") == true)
        #expect(check("config")?["status"] == "fail")
        #expect(check("config")?["message"]?.stringValue?.hasPrefix("drift:") == true, "\(check("config")?.serialized() ?? "")")
        #expect(check("clock")?["status"] == "fail")
        #expect(check("clock")?["message"]?.stringValue?.contains("ahead of") == true)
        // The hand-made gateway runs none of the gateway-side checks: skipped, not passed.
        #expect(check("audit")?["status"] == "skip")
    }

    /// A gateway busy with a doctor task (its provider hangs) still takes a config push at once:
    /// tasks run beside the config long-poll, not in it.
    @Test func aConfigPushIsNotHeldUpByARunningDoctorTask() async throws {
        let h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        let hanging = try SilentListener()
        defer { hanging.close() }
        let config = try Self.config(dir: h.dir, name: "hanging-target", ports: [hanging.port], timeoutMs: 60_000)
        let (gw, _) = try await h.gateway("gw-busy", heartbeat: "1s", extraEnv: ["DOCTOR_PLANTED_KEY": Self.plantedEnvKey], config: config)
        defer { gw.signal(SIGKILL) }
        try await Self.waitOnline(h, ["gw-busy"])

        async let doctor = h.kt(["doctor", "--gateway", "gw-busy", "--checks", "upstream", "--timeout", "60s", "--json"])
        _ = try await FleetHarness.eventually("the doctor's probe reaches the hanging provider") { hanging.connections > 0 ? true : nil }
        let next = try Self.config(dir: h.dir, name: "hanging-target-next", ports: [hanging.port], timeoutMs: 60_000)
        let push = try await h.kt(["config", "push", "--file", next, "--gateway", "gw-busy", "--source", "busy", "--confirm",
                                   "--strategy", "all-at-once", "--adopt", "--ack-timeout", "5s", "--health-window", "0s", "--min-requests", "0"])
        #expect(push.status == 0, "the ACK came while the doctor task still ran: \(push.stdout)\n\(push.stderr)")
        #expect(hanging.connections > 0)

        hanging.close()
        let r = try await doctor
        let report = try JSONValue.parse(r.stdout)
        let upstream = Self.checks(report, "gw-busy").first { $0["check"] == "upstream" }
        #expect(upstream?["status"] == "fail", "the provider went away mid-probe: \(upstream?.serialized() ?? r.stderr)")
    }

    /// A gateway that cannot send its effective config is named in the manifest with the reason,
    /// rather than silently missing from the bundle.
    @Test func theManifestNamesWhatAnOfflineGatewayCouldNotSend() async throws {
        let h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        let token = try await h.createToken(role: "gateway", gatewayID: "gw-gone")
        let reg = await RawClient.request(port: h.port, method: "POST", path: "/v1/gateways/register",
                                          body: #"{"id":"gw-gone","heartbeat_interval_seconds":0.3}"#, headers: ["authorization": "Bearer \(token)"])
        #expect(reg?.status == 200)
        _ = try await FleetHarness.eventually("gw-gone offline") { () -> Bool? in
            try await h.json(["gateway", "list"]).gateway("gw-gone")?["status"]?.stringValue == "offline" ? true : nil
        }
        let output = h.dir + "/gone.tar.gz"
        let r = try await h.kt(["doctor", "--bundle", "--out-file", output])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        let manifestText = try await ChildProcess.system(["tar", "-xzOf", output, "--wildcards", "*/manifest.json"]).stdout
        let missing = try JSONValue.parse(manifestText)["missing"]?.arrayValue ?? []
        #expect(missing.count == 1)
        #expect(missing.first?["path"]?.stringValue == "gateways/gw-gone/effective-config.json")
        #expect(missing.first?["reason"]?.stringValue?.contains("offline") == true, "\(missing)")
    }

    @Test func bundleListsWithTarHasMatchingManifestHashesAndNoSecrets() async throws {
        let h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        let (upstream, upstreamPort) = try await ChildProcess.mockUpstream()
        defer { upstream.signal(SIGKILL) }
        let config = try Self.config(dir: h.dir, name: "bundle-targets", ports: [upstreamPort, upstreamPort], includeContent: true)
        let gatewayToken = try await h.createToken(role: "gateway", gatewayID: "gw-bundle")
        let (gw, gwPort) = try await h.gateway("gw-bundle", heartbeat: "1s", extraEnv: ["DOCTOR_PLANTED_KEY": Self.plantedEnvKey], config: config)
        defer { gw.signal(SIGKILL) }
        try await Self.waitOnline(h, ["gw-bundle"])
        #expect(await FleetHarness.chat(port: gwPort, FleetHarness.injection)?.status == 409)
        let prompt = "a normal question about planted-prompt-text-42"
        #expect(await FleetHarness.chat(port: gwPort, prompt)?.status == 200)
        let stored = try await FleetHarness.eventually("events stored") { () -> String? in
            let out = try await h.kt(["events", "tail", "--gateway", "gw-bundle", "--no-follow", "--json"]).stdout
            return out.split(separator: "\n").count >= 2 ? out : nil
        }
        #expect(stored.contains("planted-prompt-text-42"), "the control plane holds the prompt text the bundle must leave out")
        // A rollout for the history, and a pushed config for configs/.
        let next = try Self.config(dir: h.dir, name: "bundle-targets-next", ports: [upstreamPort, upstreamPort])
        let push = try await h.kt(["config", "push", "--file", next, "--gateway", "gw-bundle", "--source", "bundle", "--confirm",
                             "--strategy", "all-at-once", "--adopt", "--health-window", "0s", "--min-requests", "0"])
        #expect(push.status == 0, "\(push.stdout)\n\(push.stderr)")

        let output = h.dir + "/out/fleet-diagnostics.tar.gz"
        try FileManager.default.createDirectory(atPath: h.dir + "/out", withIntermediateDirectories: true)
        let r = try await h.kt(["doctor", "--bundle", "--output", output])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("Wrote support bundle"))
        let mode = (try FileManager.default.attributesOfItem(atPath: output)[.posixPermissions] as? Int) ?? 0
        #expect(mode == 0o600)

        let list = try await ChildProcess.system(["tar", "-tzf", output])
        #expect(list.status == 0, "\(list.stderr)")
        let names = list.stdout.split(separator: "\n").map(String.init)
        let root = try #require(names.first?.split(separator: "/").first.map(String.init))
        #expect(root.hasPrefix("fleet-diagnostics-"))
        for expected in ["manifest.json", "control-plane.json", "doctor.json", "rollouts.json", "gateways/gw-bundle/record.json",
                         "gateways/gw-bundle/health-samples.json", "gateways/gw-bundle/events.json", "gateways/gw-bundle/effective-config.json"] {
            #expect(names.contains("\(root)/\(expected)"), "missing \(expected) in \(names)")
        }
        #expect(names.contains { $0.hasPrefix("\(root)/configs/bundle/bundle-v") })

        let extract = h.dir + "/extracted"
        try FileManager.default.createDirectory(atPath: extract, withIntermediateDirectories: true)
        #expect(try await ChildProcess.system(["tar", "-xzf", output, "-C", extract]).status == 0)
        let manifest = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: "\(extract)/\(root)/manifest.json"))))
        let files = manifest["files"]?.arrayValue ?? []
        #expect(files.count == names.count - 1, "every file but the manifest is listed")
        #expect(manifest["missing"]?.arrayValue?.isEmpty == true, "nothing missing: \(manifest["missing"]?.serialized() ?? "")")
        for f in files {
            let path = try #require(f["path"]?.stringValue)
            let sum = try await ChildProcess.system(["sha256sum", "\(extract)/\(root)/\(path)"])
            #expect(sum.stdout.split(separator: " ").first.map(String.init) == f["sha256"]?.stringValue, "hash of \(path)")
        }
        let doctor = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: "\(extract)/\(root)/doctor.json"))))
        #expect(doctor.gateway("gw-bundle") != nil)
        #expect(Self.checks(doctor, "gw-bundle").allSatisfy { $0["status"]?.stringValue == "ok" }, "\(doctor.gateway("gw-bundle")?.serialized() ?? "")")
        let rollouts = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: "\(extract)/\(root)/rollouts.json"))))
        #expect(rollouts["rollouts"]?.arrayValue?.count == 1)

        // No planted secret anywhere: not in the compressed bytes, not in the archive they expand to.
        let compressed = Array(try Data(contentsOf: URL(fileURLWithPath: output)))
        let tarBytes = try await ChildProcess.system(["gzip", "-dc", output]).stdout
        // Prompt text (include_content) is user data: left out too.
        #expect(!tarBytes.contains("planted-prompt-text-42"))
        for secret in [Self.plantedEnvKey, Self.plantedFileKey, h.admin, gatewayToken] {
            #expect(!tarBytes.contains(secret), "a secret leaked into the bundle")
            #expect(!compressed.contains(Array(secret.utf8)), "a secret leaked into the bundle")
        }
        // Where each key comes from is kept (it helps support); the value is not.
        let effective = try String(contentsOfFile: "\(extract)/\(root)/gateways/gw-bundle/effective-config.json", encoding: .utf8)
        #expect(effective.contains("DOCTOR_PLANTED_KEY"))
    }
}

extension Array where Element == UInt8 {
    func contains(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return false }
        for i in 0...(count - needle.count) where self[i] == needle[0] && Array(self[i..<(i + needle.count)]) == needle { return true }
        return false
    }
}
