import Foundation
import KTModel
import KTConfig
import KTGateway

/// `kt gateway run`: validate everything, listen, serve until SIGTERM/SIGINT, drain, exit 0.
/// SIGHUP reloads the config files (like `POST /keeptrusts/config/reload`).
enum GatewayRunCommand {
    static let run: Command.Run = { args, ctx in
        var options = Gateway.Options()
        options.environment = ctx.environment
        let env = ctx.environment
        do throws(UsageError) {
            let listen = args.value("listen") ?? env["KEEPTRUSTS_LISTEN"] ?? "0.0.0.0:41002"
            (options.host, options.port) = try parseListen(listen, command: "kt gateway run")
            if let fm = args.value("fail-mode") {
                guard let mode = Gateway.FailMode(rawValue: fm) else { throw UsageError("--fail-mode must be block or allow, not '\(fm)'", command: "kt gateway run") }
                options.failMode = mode
            }
            if let mc = args.value("max-concurrency") {
                guard let n = Int(mc), n > 0 else { throw UsageError("--max-concurrency must be a positive integer", command: "kt gateway run") }
                options.maxConcurrency = n
            }
            if let t = args.value("header-timeout") { options.headerTimeout = try DurationText.parse(t, flag: "--header-timeout") }
            if let t = args.value("drain-timeout") { options.drainTimeout = try DurationText.parse(t, flag: "--drain-timeout") }
            if let level = args.value("log-level") {
                guard let l = JSONLogger.Level(name: level) else { throw UsageError("--log-level must be debug, info, warn or error", command: "kt gateway run") }
                options.logLevel = l
            }
        } catch {
            ctx.err("error: \(error.message)\nRun 'kt gateway run --help' for usage.")
            return 2
        }
        options.configPaths = args.all("policy-config").map { PolicyLintCommand.resolve($0, in: ctx) }
        if options.configPaths.isEmpty, let fromEnv = env["KEEPTRUSTS_POLICY_CONFIG"], !fromEnv.isEmpty {
            options.configPaths = fromEnv.split(separator: ",").map { PolicyLintCommand.resolve(String($0), in: ctx) }
        }
        if let upstream = args.value("upstream") ?? env["KEEPTRUSTS_UPSTREAM"] {
            if let problem = PolicyConfigDecoder.baseURLProblem(upstream) {
                ctx.err("error: --upstream '\(upstream)': \(problem)")
                return 2
            }
            options.upstreamOverride = UpstreamOverride(
                baseURL: upstream,
                apiKey: args.value("upstream-api-key") ?? env["KEEPTRUSTS_UPSTREAM_API_KEY"],
                apiKeyHeader: args.value("upstream-api-key-header") ?? env["KEEPTRUSTS_UPSTREAM_API_KEY_HEADER"],
                apiKeyPrefix: args.value("upstream-api-key-prefix") ?? env["KEEPTRUSTS_UPSTREAM_API_KEY_PREFIX"])
        }
        options.adminToken = args.value("admin-token") ?? env["KEEPTRUSTS_ADMIN_TOKEN"]
        if let id = args.value("gateway-id") ?? env["KEEPTRUSTS_GATEWAY_ID"] { options.gatewayID = id }
        options.stateDir = args.value("state-dir").map { PolicyLintCommand.resolve($0, in: ctx) }

        let gateway: Gateway
        do {
            gateway = try Gateway(options: options)
        } catch let error as ConfigError {
            var report = LintReport(file: options.configPaths.joined(separator: " + "), loaded: nil, errors: error.errors, warnings: [])
            report.file = args.all("policy-config").joined(separator: " + ")
            ctx.err("error: the policy config is invalid; the gateway did not start")
            ctx.stderr.write(report.human(style: TerminalStyle(color: false)))
            return 2
        } catch let error as KTError {
            ctx.err("error: \(error.message)")
            return error.code == .io ? 1 : 2
        } catch {
            ctx.err("error: \(error)")
            return 1
        }
        do {
            try await gateway.start()
        } catch {
            ctx.err("error: \(error)")
            return 1
        }
        await SignalWaiter.wait(onReload: { Task { _ = await gateway.reload() } })
        await gateway.shutdown()
        return 0
    }

    static func parseListen(_ text: String, command: String) throws(UsageError) -> (String, Int) {
        // host:port, [v6]:port, or :port
        var host = "0.0.0.0", portText = text
        if text.hasPrefix("[") , let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            portText = String(text[text.index(after: close)...].dropFirst())
        } else if let colon = text.lastIndex(of: ":") {
            let h = String(text[..<colon])
            if !h.isEmpty { host = h == "localhost" ? "127.0.0.1" : h }
            portText = String(text[text.index(after: colon)...])
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw UsageError("--listen '\(text)' is not HOST:PORT (e.g. 0.0.0.0:41002)", command: command)
        }
        return (host, port)
    }
}

/// Waits for SIGTERM or SIGINT; calls `onReload` on SIGHUP.
enum SignalWaiter {
    static func wait(onReload: @escaping @Sendable () -> Void) async {
        for s in [SIGTERM, SIGINT, SIGHUP] { signal(s, SIG_IGN) }
        let queue = DispatchQueue(label: "kt-signals")
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let once = OnceFlag()
            var sources: [DispatchSourceSignal] = []
            for s in [SIGTERM, SIGINT] {
                let source = DispatchSource.makeSignalSource(signal: s, queue: queue)
                source.setEventHandler { if once.claim() { c.resume() } }
                source.resume()
                sources.append(source)
            }
            let hup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
            hup.setEventHandler(handler: onReload)
            hup.resume()
            sources.append(hup)
            SignalSources.keep(sources)
        }
    }
}

import Synchronization

final class OnceFlag: Sendable {
    private let done = Atomic<Bool>(false)
    func claim() -> Bool { !done.exchange(true, ordering: .acquiringAndReleasing) }
}

/// Signal sources must stay alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) private static var all: [DispatchSourceSignal] = []
    static func keep(_ s: [DispatchSourceSignal]) { all += s }
}
