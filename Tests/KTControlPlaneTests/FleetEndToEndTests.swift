import Foundation
import Testing
import KTModel
import KTTestSupport

/// Control plane + managed gateways as real processes, driven through the `kt` CLI.
@Suite(.serialized) struct FleetEndToEndTests {
    @Test func listHealthEventsGroupsAndOffline() async throws {
        let h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        let (a, pa) = try await h.gateway("gw-a", region: "eu-west")
        let (b, pb) = try await h.gateway("gw-b", region: "us-east")
        let (c, _) = try await h.gateway("gw-c", region: "us-east")
        defer { for p in [a, b, c] { p.signal(SIGKILL) } }

        // All three registered and online, with version, config and region.
        let list = try await FleetHarness.eventually("three online gateways") { () throws -> JSONValue? in
            let l = try await h.json(["gateway", "list"])
            let online = l["gateways"]?.arrayValue?.filter { $0["status"]?.stringValue == "online" } ?? []
            return online.count == 3 ? l : .none
        }
        for (id, region) in [("gw-a", "eu-west"), ("gw-b", "us-east"), ("gw-c", "us-east")] {
            let g = try #require(list.gateway(id))
            #expect(g["version"]?.stringValue == KTVersion.current)
            #expect(g["region"]?.stringValue == region)
            #expect(g["config"]?["applied_sha"]?.stringValue?.count == 64)
            #expect(g["config"]?["applied_version"]?.stringValue == "0.1.0")
        }
        let table = try await h.kt(["gateway", "list"])
        #expect(table.status == 0)
        #expect(table.stdout.contains("ID") && table.stdout.contains("Last Seen") && table.stdout.contains("gw-b"))

        // Live events: a follower sees a new decision quickly.
        let tail = try ChildProcess(["events", "tail", "--all-gateways", "--json"], environment: h.env)
        defer { tail.signal(SIGKILL) }
        _ = await tail.waitForLine(containing: "following", timeout: .seconds(5))
        let sent = ContinuousClock.now
        #expect(await FleetHarness.chat(port: pa, "hello there", requestID: "live-probe-1")?.status == 200)
        let seen = await tail.waitForLine(containing: "live-probe-1", timeout: .seconds(3))
        #expect(seen != nil)
        #expect(ContinuousClock.now - sent < .milliseconds(1500), "a new decision should reach events tail within about a second")

        // A known mix: gw-a 6 allowed (one already sent) + 2 blocked, gw-b 4 allowed.
        for i in 0..<5 { #expect(await FleetHarness.chat(port: pa, "question \(i)")?.status == 200) }
        for _ in 0..<2 { #expect(await FleetHarness.chat(port: pa, FleetHarness.injection)?.status == 409) }
        for i in 0..<4 { #expect(await FleetHarness.chat(port: pb, "other \(i)")?.status == 200) }
        let health = try await FleetHarness.eventually("heartbeats carrying the traffic") { () throws -> JSONValue? in
            let hj = try await h.json(["gateway", "health"])
            return hj.gateway("gw-a")?["requests"]?.intValue == 8 && hj.gateway("gw-b")?["requests"]?.intValue == 4 ? hj : .none
        }
        #expect(health.gateway("gw-a")?["blocked"]?.intValue == 2)
        #expect(health.gateway("gw-a")?["block_rate"]?.doubleValue == 0.25)
        #expect(health.gateway("gw-b")?["block_rate"]?.doubleValue == 0)
        #expect(health.gateway("gw-c")?["requests"]?.intValue == 0)
        #expect(health["totals"]?["requests"]?.intValue == 12)
        #expect(health["totals"]?["blocked"]?.intValue == 2)
        let healthText = try await h.kt(["gateway", "health"])
        #expect(healthText.stdout.contains("Requests/min") && healthText.stdout.contains("25.0%"))

        // The backlog filters by verdict.
        let blockLines = try await FleetHarness.eventually("two block events") { () throws -> [Substring]? in
            let lines = try await h.kt(["events", "tail", "--all-gateways", "--verdict", "block", "--no-follow", "--json"]).stdout.split(separator: "\n")
            return lines.count >= 2 ? lines : .none
        }
        #expect(blockLines.count == 2)
        #expect(blockLines.allSatisfy { $0.contains("\"verdict\":\"block\"") && $0.contains("gw-a") })

        // --group filters by the groups file.
        let groups = h.dir + "/groups.yaml"
        try "groups:\n  edge:\n    gateways: [gw-a, gw-c]\n".write(toFile: groups, atomically: true, encoding: .utf8)
        let grouped = try await h.json(["gateway", "list", "--group", "edge", "--groups-file", groups])
        #expect(grouped["gateways"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["gw-a", "gw-c"])
        let groupEvents = try await h.kt(["events", "tail", "--group", "edge", "--groups-file", groups, "--no-follow", "--json", "--limit", "100"])
        #expect(!groupEvents.stdout.contains("gw-b"))
        #expect(groupEvents.stdout.contains("gw-a"))
        let unknown = try await h.kt(["gateway", "list", "--group", "edgy", "--groups-file", groups])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("did you mean 'edge'"))

        // Killing one shows it offline within 3 heartbeat intervals (500 ms each).
        c.signal(SIGKILL)
        let killed = ContinuousClock.now
        _ = try await FleetHarness.eventually("gw-c offline") { () throws -> Bool? in
            try await h.json(["gateway", "list", "--status", "offline"])["gateways"]?.arrayValue?.first?["id"]?.stringValue == "gw-c" ? true : nil
        }
        #expect(ContinuousClock.now - killed < .milliseconds(1500 + 1000), "offline after 3 missed intervals (plus one poll)")
        #expect(try await h.json(["gateway", "list", "--status", "online"])["gateways"]?.arrayValue?.count == 2)
    }

    @Test func controlPlaneKillRestartAndOutageLoseNothing() async throws {
        var h = try await FleetHarness.start()
        let (g, gp) = try await h.gateway("gw-d", heartbeat: "300ms", extraEnv: ["KEEPTRUSTS_EVENT_QUEUE_SIZE": "5"])
        defer { g.signal(SIGKILL) }
        for i in 0..<3 { #expect(await FleetHarness.chat(port: gp, "before \(i)")?.status == 200) }
        _ = try await FleetHarness.eventually("3 events stored") { () throws -> Bool? in
            try await h.kt(["events", "tail", "--gateway", "gw-d", "--no-follow", "--json"]).stdout.split(separator: "\n").count == 3 ? true : nil
        }

        // SIGKILL the control plane; the gateway keeps answering.
        h.cp.signal(SIGKILL)
        _ = await h.cp.waitForExit()
        for i in 0..<8 { #expect(await FleetHarness.chat(port: gp, "during outage \(i)")?.status == 200) }
        let down = try await h.kt(["gateway", "list"])
        #expect(down.status == 1)
        #expect(down.stderr.contains("cannot reach the control plane"))

        // Restart on the same port: the registry and events are there, and the queued events arrive.
        let (cp2, _, _) = try await ChildProcess.controlPlane(dataDir: h.dir + "/cp", port: h.port)
        h.cp = cp2
        defer { cp2.signal(SIGKILL) }
        let shown = try await FleetHarness.eventually("queued events delivered") { () throws -> JSONValue? in
            let lines = try await h.kt(["events", "tail", "--gateway", "gw-d", "--no-follow", "--json", "--limit", "100"]).stdout.split(separator: "\n")
            return lines.count == 3 + 5 ? try await h.json(["gateway", "show", "gw-d"]) : .none
        }
        // Queue bound 5: 8 events during the outage, the oldest 3 dropped and reported.
        #expect(shown["events_dropped"]?.intValue == 3)
        #expect(shown["config"]?["applied_sha"]?.stringValue?.count == 64)
        #expect(shown["region"]?.stringValue == "eu-west")
        // The text forms fit 100 columns: `gateway show` with its recent events, and `events tail`.
        let showText = try await h.kt(["gateway", "show", "gw-d"]).stdout
        let tailText = try await h.kt(["events", "tail", "--gateway", "gw-d", "--no-follow", "--limit", "100"]).stdout
        for line in (showText + tailText).split(separator: "\n") { #expect(line.count <= 100, "\(line.count) columns: \(line)") }
        #expect(tailText.split(separator: "\n").filter { $0.contains("req_") }.count == 8)
        #expect(showText.contains("Latency") && showText.contains("req_"))
        _ = try await FleetHarness.eventually("online again") { () throws -> Bool? in
            try await h.json(["gateway", "list"]).gateway("gw-d")?["status"]?.stringValue == "online" ? true : nil
        }
    }
}
