import Foundation
import KTModel
import KTPolicy

/// `kt dev bench-detector`: prompt-injection scoring time for 1, 4 and 32 KB prompts.
enum BenchDetectorCommand {
    static let run: Command.Run = { args, ctx in
        let detector = InjectionDetector()
        let base = "Please review the attached quarterly report and summarise the revenue trends by region, noting any anomalies. "
        var rows: [JSONValue] = []
        let json = args.flag("json")
        // --json prints only JSON (it is read by scripts); the table is for people.
        if !json { ctx.out("| prompt | median | p99 | iterations |\n|---|---|---|---|") }
        for kb in [1, 4, 32] {
            var text = ""
            while text.utf8.count < kb * 1024 { text += base }
            text = String(text.prefix(kb * 1024))
            let iterations = kb == 32 ? 200 : 1000
            for _ in 0..<20 { _ = detector.score(text) }  // warm up
            var times: [Double] = []
            for _ in 0..<iterations {
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = detector.score(text)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            }
            times.sort()
            let median = times[times.count / 2], p99 = times[Int(Double(times.count) * 0.99) - 1]
            if !json { ctx.out(String(format: "| %d KB | %.3f ms | %.3f ms | %d |", kb, median, p99, iterations)) }
            rows.append(.object([("kb", .int(kb)), ("median_ms", .double(median)), ("p99_ms", .double(p99))]))
        }
        if json { ctx.out(JSONValue.array(rows).serialized(pretty: true)) }
        return 0
    }
}
