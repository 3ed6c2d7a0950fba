import Foundation
import KTHTTP
import KTModel
import KTGateway

/// `kt dev simulate-fleet`: N simulated gateways against the control plane in KEEPTRUSTS_API_URL.
enum SimulateFleetCommand {
    static let run: Command.Run = { args, ctx in
        var o = FleetSimulator.Options()
        do throws(UsageError) {
            func int(_ name: String) throws(UsageError) -> Int? {
                guard let v = args.value(name) else { return nil }
                return try UsageError.integer(v, flag: "--\(name)", in: 0...100_000, command: "kt dev simulate-fleet")
            }
            func double(_ name: String) throws(UsageError) -> Double? {
                guard let v = args.value(name) else { return nil }
                guard let d = Double(v.hasSuffix("%") ? String(v.dropLast()) : v), d.isFinite, d >= 0, d <= 1e9 else {
                    throw UsageError("--\(name) must be a non-negative number", command: "kt dev simulate-fleet")
                }
                return v.hasSuffix("%") ? d / 100 : d
            }
            o.gateways = try int("gateways") ?? 10
            o.slow = try int("slow") ?? 0
            o.failing = try int("failing") ?? 0
            o.offline = try int("offline") ?? 0
            o.rejecting = try int("rejecting") ?? 0
            o.eventsPerHeartbeat = try int("events-per-heartbeat") ?? 0
            o.requestsPerSecond = try double("rps") ?? o.requestsPerSecond
            o.blockRate = try double("block-rate") ?? o.blockRate
            o.errorRate = try double("error-rate") ?? o.errorRate
            if let p = args.value("prefix") { o.prefix = p }
            if let r = args.value("region") { o.region = r }
            if let h = args.value("heartbeat-interval") { o.heartbeatInterval = try DurationText.parse(h, flag: "--heartbeat-interval") }
            guard o.slow + o.failing + o.offline + o.rejecting <= o.gateways else {
                throw UsageError("--slow + --failing + --offline + --rejecting exceed --gateways", command: "kt dev simulate-fleet")
            }
        } catch {
            ctx.err("error: \(error.message)\nRun 'kt dev simulate-fleet --help' for usage.")
            return 2
        }
        var parsedDuration: Duration?
        if let d = args.value("duration") {
            do throws(UsageError) { parsedDuration = try DurationText.parse(d, flag: "--duration") } catch { ctx.err("error: \(error.message)"); return 2 }
        }
        let duration = parsedDuration
        let opts = o
        let clients: [ControlPlaneClient]
        switch ControlPlaneClient.fromEnvironment(ctx.environment) {
        case .success(let c):
            // One libcurl thread per ~500 gateways.
            let shards = max(1, min(16, opts.gateways / 500))
            clients = (0..<shards).map { _ in
                ControlPlaneClient(baseURL: c.baseURL, token: ctx.environment["KEEPTRUSTS_API_TOKEN"]!,
                                   tls: TLSClientOptions.fromEnvironment(ctx.environment, clientCertificate: true), transport: CurlTransport(maxConnects: opts.gateways * 2 / shards + 64))
            }
        case .failure(let e): ctx.err("error: \(e.message)"); return 2
        }
        let sim = FleetSimulator(options: opts, clients: clients)
        ctx.err("simulating \(opts.gateways) gateways (\(opts.slow) slow, \(opts.failing) failing, \(opts.offline) offline, \(opts.rejecting) rejecting), heartbeat every \(opts.heartbeatInterval)")
        let warmup = args.value("warmup").flatMap { try? DurationText.parse($0, flag: "--warmup") }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await sim.run() }
            group.addTask {
                if let warmup {
                    try? await Task.sleep(for: warmup)
                    sim.resetLatency()
                    ctx.err("warm-up over: \(sim.report().registered) registered; measuring")
                }
                if let duration { try? await Task.sleep(for: duration) } else { await SignalWaiter.wait(onReload: {}) }
                // Keep the report of the measured window.
                sim.freeze()
            }
            group.addTask {
                // Progress every 10 s on stderr.
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(10))
                    ctx.err(sim.report().json.serialized())
                }
            }
            // The timer (or Ctrl-C) ends the run; the gateways and the progress printer are cancelled.
            _ = await group.next()
            group.cancelAll()
        }
        let report = sim.report()
        if args.flag("json") { ctx.out(report.json.serialized(pretty: true)) } else {
            ctx.out("registered \(report.registered), heartbeats \(report.heartbeats) (failed \(report.heartbeatFailures)), heartbeat p50 \(report.p50Ms.map { String(format: "%.1f", $0) } ?? "—") ms, p99 \(report.p99Ms.map { String(format: "%.1f", $0) } ?? "—") ms, acks \(report.acks), nacks \(report.nacks)")
        }
        return 0
    }
}
