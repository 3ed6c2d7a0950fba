import Foundation
import Synchronization
import KTModel
import KTHTTP

/// `kt bench`: concurrent load against an OpenAI-compatible endpoint. Each connection is a
/// dedicated thread with a blocking keep-alive client, so the generator itself stays cheap.
enum BenchCommand {
    struct Plan: Sendable {
        var host: String
        var port: Int
        var path: String
        var body: [UInt8]
        var stream: Bool
        var requests: Int?
        var duration: Duration?
        var concurrency: Int
        var headers: [(String, String)]
        /// HTTPS targets: one context (trust store + KEEPTRUSTS_CA_FILE) shared by every connection.
        var tls: TLSClientContext?
        var serverName: String

        func client(timeoutSeconds: Int = 60) -> BlockingHTTPClient {
            BlockingHTTPClient(host: host, port: port, timeoutSeconds: timeoutSeconds, tls: tls, serverName: serverName)
        }
    }

    struct Sample: Sendable { var total: Double; var ttfb: Double }

    final class Results: Sendable {
        let samples = Mutex<[Sample]>([])
        let statuses = Mutex<[Int: Int]>([:])
        let networkErrors = Mutex<[String: Int]>([:])
        let issued = Atomic<Int>(0)
    }

    static let run: Command.Run = { args, ctx in
        let plan: Plan
        do throws(UsageError) {
            plan = try makePlan(args, ctx)
        } catch {
            ctx.err("error: \(error.message)\nRun 'kt bench --help' for usage.")
            return 2
        }
        // Fail fast when the target is down, rather than printing a table of errors.
        do throws(BlockingHTTPClient.ClientError) {
            let probe = plan.client(timeoutSeconds: 10)
            _ = try probe.request(method: "GET", path: "/v1/models")
        } catch {
            ctx.err("error: cannot reach \(plan.host):\(plan.port): \(error.message)")
            return 1
        }
        let results = Results()
        let started = DispatchTime.now().uptimeNanoseconds
        await runLoad(plan, results)
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let report = summarize(plan, results, elapsed: elapsed)
        if let out = DoctorCommand.outFile(args) {
            do {
                try (report.serialized(pretty: true) + "\n").write(toFile: out, atomically: true, encoding: .utf8)
            } catch {
                ctx.err("error: cannot write \(out): \(error.localizedDescription)")
                return 1
            }
        }
        if args.flag("json") {
            ctx.out(report.serialized(pretty: true))
        } else {
            ctx.out(human(report))
        }
        let ok = results.statuses.withLock { $0[200] ?? 0 }
        return ok > 0 ? 0 : 1
    }

    static func makePlan(_ args: ParsedArguments, _ ctx: CLIContext) throws(UsageError) -> Plan {
        guard let target = args.value("target") else { throw UsageError("missing --target URL (e.g. http://127.0.0.1:41002)", command: "kt bench") }
        let parts: BlockingHTTPClient.Target
        do throws(BlockingHTTPClient.ClientError) { parts = try BlockingHTTPClient.split(url: target) } catch {
            throw UsageError("--target: \(error.message)", command: "kt bench")
        }
        var tls: TLSClientContext?
        if parts.secure {
            let o = TLSClientOptions.fromEnvironment(ctx.environment, clientCertificate: true)
            do throws(TLSError) { tls = try TLSClientContext(caFile: o.caFile, certificate: o.certificate, key: o.key) } catch {
                throw UsageError("--target \(target): \(error.message)", command: "kt bench")
            }
        }
        var base = parts.path
        while base.hasSuffix("/") { base.removeLast() }
        if !base.hasSuffix("/v1") { base += "/v1" }
        let stream = args.flag("stream")
        let model = args.value("model") ?? "gpt-5.4-mini"
        var prompt = "Say hello in one short sentence."
        if let file = args.value("prompt-file") {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw UsageError("cannot read --prompt-file \(file)", command: "kt bench") }
            prompt = text
        }
        let body = JSONValue.object([("model", .string(model)), ("stream", .bool(stream)),
                                     ("messages", .array([.object([("role", "user"), ("content", .string(prompt))])]))])
        let concurrency = try positive(args.value("concurrency") ?? "8", "--concurrency")
        var requests: Int? = try args.value("requests").map { v throws(UsageError) in try positive(v, "--requests") }
        let duration = try args.value("duration").map { v throws(UsageError) in try DurationText.parse(v, flag: "--duration") }
        if requests == nil && duration == nil { requests = 1000 }
        if requests != nil && duration != nil { throw UsageError("give --requests or --duration, not both", command: "kt bench") }
        var headers: [(String, String)] = [("content-type", "application/json")]
        if let key = ctx.environment["OPENAI_API_KEY"], !key.isEmpty { headers.append(("authorization", "Bearer \(key)")) }
        return Plan(host: parts.host, port: parts.port, path: base + "/chat/completions", body: Array(body.serialized().utf8),
                    stream: stream, requests: requests, duration: duration, concurrency: concurrency, headers: headers,
                    tls: tls, serverName: parts.serverName)
    }

    static func positive(_ v: String, _ flag: String) throws(UsageError) -> Int {
        try UsageError.integer(v, flag: flag, in: 1...100_000_000, command: "kt bench")
    }

    /// One thread per connection; all join before this returns.
    static func runLoad(_ plan: Plan, _ results: Results) async {
        let deadline = plan.duration.map { DispatchTime.now().uptimeNanoseconds + UInt64($0.components.seconds) * 1_000_000_000
            + UInt64($0.components.attoseconds / 1_000_000_000) }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<plan.concurrency {
                group.addTask {
                    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                        let t = Thread {
                            worker(plan, results, deadline: deadline)
                            c.resume()
                        }
                        t.stackSize = 512 * 1024
                        t.start()
                    }
                }
            }
        }
    }

    static func worker(_ plan: Plan, _ results: Results, deadline: UInt64?) {
        let client = plan.client()
        var local: [Sample] = []
        var statuses: [Int: Int] = [:]
        var errors: [String: Int] = [:]
        while true {
            if let limit = plan.requests {
                if results.issued.wrappingAdd(1, ordering: .relaxed).oldValue >= limit { break }
            } else if let deadline, DispatchTime.now().uptimeNanoseconds >= deadline {
                break
            }
            do throws(BlockingHTTPClient.ClientError) {
                let r = try client.request(method: "POST", path: plan.path, headers: plan.headers, body: plan.body,
                                           onBody: plan.stream ? { _ in } : nil)
                statuses[r.status, default: 0] += 1
                if r.status == 200 { local.append(Sample(total: r.total, ttfb: r.timeToFirstByte)) }
            } catch {
                errors[error.message.split(separator: ":").first.map(String.init) ?? error.message, default: 0] += 1
            }
        }
        results.samples.withLock { $0 += local }
        results.statuses.withLock { s in for (k, v) in statuses { s[k, default: 0] += v } }
        results.networkErrors.withLock { s in for (k, v) in errors { s[k, default: 0] += v } }
    }

    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[max(0, min(sorted.count - 1, rank))]
    }

    static func summarize(_ plan: Plan, _ results: Results, elapsed: Double) -> JSONValue {
        let samples = results.samples.withLock { $0 }
        let statuses = results.statuses.withLock { $0 }
        let network = results.networkErrors.withLock { $0 }
        func stats(_ values: [Double]) -> JSONValue {
            let s = values.sorted()
            func ms(_ v: Double) -> JSONValue { .double((v * 1_000_000).rounded() / 1000) }
            return .object([("p50", ms(percentile(s, 50))), ("p95", ms(percentile(s, 95))), ("p99", ms(percentile(s, 99))),
                            ("max", ms(s.last ?? 0)), ("mean", ms(s.isEmpty ? 0 : s.reduce(0, +) / Double(s.count)))])
        }
        let total = statuses.values.reduce(0, +) + network.values.reduce(0, +)
        let failed = total - (statuses[200] ?? 0)
        var fields: [(String, JSONValue)] = [
            ("target", .string("http://\(plan.host):\(plan.port)\(plan.path)")),
            ("stream", .bool(plan.stream)), ("concurrency", .int(plan.concurrency)),
            ("requests", .int(total)), ("ok", .int(statuses[200] ?? 0)), ("errors", .int(failed)),
            ("duration_s", .double((elapsed * 1000).rounded() / 1000)),
            ("throughput_rps", .double((Double(statuses[200] ?? 0) / max(elapsed, 1e-9) * 10).rounded() / 10)),
            ("latency_ms", stats(samples.map(\.total))),
        ]
        if plan.stream { fields.append(("ttfb_ms", stats(samples.map(\.ttfb)))) }
        fields.append(("status_counts", .object(statuses.sorted { $0.key < $1.key }.map { (String($0.key), .int($0.value)) })))
        fields.append(("network_errors", .object(network.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })))
        return .object(fields)
    }

    static func human(_ r: JSONValue) -> String {
        func num(_ v: JSONValue?) -> String {
            switch v {
            case .double(let d)?: return String(format: "%.3f", d)
            case .int(let i)?: return String(i)
            default: return "-"
            }
        }
        var out = "target      \(r["target"].map { if case .string(let s) = $0 { return s }; return "" } ?? "")\n"
        out += "requests    \(num(r["requests"])) (ok \(num(r["ok"])), errors \(num(r["errors"]))) in \(num(r["duration_s"])) s, concurrency \(num(r["concurrency"]))\n"
        out += "throughput  \(num(r["throughput_rps"])) req/s\n"
        if let l = r["latency_ms"] {
            out += "latency ms  p50 \(num(l["p50"]))  p95 \(num(l["p95"]))  p99 \(num(l["p99"]))  max \(num(l["max"]))\n"
        }
        if let t = r["ttfb_ms"] {
            out += "ttfb ms     p50 \(num(t["p50"]))  p95 \(num(t["p95"]))  p99 \(num(t["p99"]))  max \(num(t["max"]))\n"
        }
        return out
    }
}
