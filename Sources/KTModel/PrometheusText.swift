import Foundation

/// A fixed-bucket histogram in seconds, rendered as Prometheus `_bucket`/`_sum`/`_count`.
public struct PrometheusHistogram: Sendable, Equatable {
    /// Request durations: 1 ms to 60 s.
    public static let durationBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
    /// What the gateway itself adds: 50 µs to 1 s (it adds 0.1–0.3 ms; 1 ms buckets cannot show that).
    public static let overheadBuckets: [Double] = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]

    public let bounds: [Double]
    public private(set) var counts: [Int]
    public private(set) var sum = 0.0
    public private(set) var count = 0

    public init(bounds: [Double] = PrometheusHistogram.durationBuckets) {
        self.bounds = bounds
        counts = [Int](repeating: 0, count: bounds.count)
    }

    public mutating func observe(_ seconds: Double) {
        guard seconds.isFinite else { return }
        if let i = bounds.firstIndex(where: { seconds <= $0 }) { counts[i] += 1 }
        sum += max(0, seconds)
        count += 1
    }
}

/// Builds the Prometheus text exposition (0.0.4): every family with HELP and TYPE, label values
/// escaped, base units in names (seconds, bytes). Both servers' `/metrics` use it.
public struct PrometheusText: Sendable {
    public private(set) var text = ""
    public init() {}

    public static func escape(_ v: String) -> String {
        v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func labels(_ l: [(String, String)]) -> String {
        l.isEmpty ? "" : "{" + l.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
    }

    static func number(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d > 0 ? "+Inf" : "-Inf" }
        return d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
    }

    private mutating func family(_ name: String, _ type: String, _ help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    public mutating func counter(_ name: String, _ help: String, _ samples: [([(String, String)], Double)]) {
        family(name, "counter", help)
        for (l, v) in samples { text += "\(name)\(Self.labels(l)) \(Self.number(v))\n" }
    }

    public mutating func counter(_ name: String, _ help: String, _ value: Double) { counter(name, help, [([], value)]) }

    public mutating func gauge(_ name: String, _ help: String, _ samples: [([(String, String)], Double)]) {
        family(name, "gauge", help)
        for (l, v) in samples { text += "\(name)\(Self.labels(l)) \(Self.number(v))\n" }
    }

    public mutating func gauge(_ name: String, _ help: String, _ value: Double) { gauge(name, help, [([], value)]) }

    public mutating func histogram(_ name: String, _ help: String, _ series: [([(String, String)], PrometheusHistogram)]) {
        family(name, "histogram", help)
        for (l, h) in series {
            var cumulative = 0
            for (i, bound) in h.bounds.enumerated() {
                cumulative += h.counts[i]
                text += "\(name)_bucket\(Self.labels(l + [("le", Self.number(bound))])) \(cumulative)\n"
            }
            text += "\(name)_bucket\(Self.labels(l + [("le", "+Inf")])) \(h.count)\n"
            text += "\(name)_sum\(Self.labels(l)) \(Self.number(h.sum))\n"
            text += "\(name)_count\(Self.labels(l)) \(h.count)\n"
        }
    }

    /// `kt_build_info` and the standard `process_*` families (Linux /proc), as client libraries export them.
    public mutating func buildAndProcess(component: String, version: String) {
        gauge("kt_build_info", "The running kt build (always 1).", [([("version", version), ("component", component)], 1)])
        let p = ProcessStats.read()
        if let cpu = p.cpuSeconds { counter("process_cpu_seconds_total", "User and system CPU time spent, in seconds.", cpu) }
        if let rss = p.residentBytes { gauge("process_resident_memory_bytes", "Resident memory size in bytes.", Double(rss)) }
        if let fds = p.openFDs { gauge("process_open_fds", "Open file descriptors.", Double(fds)) }
        if let max = p.maxFDs { gauge("process_max_fds", "The open file descriptor limit.", Double(max)) }
        if let start = p.startTime { gauge("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds.", start) }
    }
}

/// What /proc says about this process.
public struct ProcessStats: Sendable {
    public var cpuSeconds: Double?
    public var residentBytes: Int?
    public var openFDs: Int?
    public var maxFDs: Int?
    public var startTime: Double?

    public static func read() -> ProcessStats {
        var s = ProcessStats()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") {
            let f = stat[stat.index(after: close)...].split(separator: " ")
            // After the command: field 3 is f[0]; utime 14, stime 15, starttime 22 (1-based).
            if f.count > 19, let u = Double(f[11]), let sy = Double(f[12]) { s.cpuSeconds = (u + sy) / ticks }
            if f.count > 19, let startTicks = Double(f[19]),
               let uptime = (try? String(contentsOfFile: "/proc/uptime", encoding: .utf8))?.split(separator: " ").first.flatMap({ Double($0) }) {
                s.startTime = Date().timeIntervalSince1970 - uptime + startTicks / ticks
            }
        }
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) {
            let f = statm.split(separator: " ")
            if f.count > 1, let pages = Int(f[1]) { s.residentBytes = pages * Int(sysconf(Int32(_SC_PAGESIZE))) }
        }
        s.openFDs = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count).map { $0 - 1 }   // minus the listing's own
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 { s.maxFDs = Int(limit.rlim_cur) }
        return s
    }
}
