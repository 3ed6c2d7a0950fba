import Foundation
import KTModel
import KTPolicy

/// `kt dev bench-detector`: prompt-injection scoring time, and the PII recognisers' search
/// time, for 1, 4 and 32 KB prompts of two kinds: plain prose, and a customer note full of
/// e-mail addresses, phone and order numbers (the mix that wakes the payload and leetspeak
/// checks and gives the recognisers work).
enum BenchDetectorCommand {
    static let texts: [(name: String, base: String)] = [
        ("prose", "Please review the attached quarterly report and summarise the revenue trends by region, noting any anomalies. "),
        ("mixed", "Customer note: please check order 5512 for Jane (jane.doe@example.com, +1 415 555 2671); the invoice total looks wrong and the shipping address changed last week. "),
    ]

    static let run: Command.Run = { args, ctx in
        let detector = InjectionDetector()
        guard let recognizers = try? PIIRecognizers() else { return 1 }
        var rows: [JSONValue] = []
        let json = args.flag("json")
        // --json prints only JSON (it is read by scripts); the table is for people.
        if !json { ctx.out("| work | prompt | size | median | p99 | iterations |\n|---|---|---|---|---|---|") }
        let work: [(name: String, run: (String) -> Void)] = [
            ("prompt-injection", { _ = detector.score($0) }),
            ("pii recognisers", { _ = try? recognizers.find(in: $0) }),
        ]
        for (workName, run) in work {
            for (name, base) in texts {
                for kb in [1, 4, 32] {
                    var text = ""
                    while text.utf8.count < kb * 1024 { text += base }
                    text = String(text.prefix(kb * 1024))
                    let iterations = kb == 32 ? 200 : 1000
                    for _ in 0..<20 { run(text) }  // warm up
                    var times: [Double] = []
                    for _ in 0..<iterations {
                        let t0 = DispatchTime.now().uptimeNanoseconds
                        run(text)
                        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                    }
                    times.sort()
                    let median = times[times.count / 2], p99 = times[Int(Double(times.count) * 0.99) - 1]
                    if !json { ctx.out(String(format: "| %@ | %@ | %d KB | %.3f ms | %.3f ms | %d |", workName, name, kb, median, p99, iterations)) }
                    rows.append(.object([("work", .string(workName)), ("text", .string(name)), ("kb", .int(kb)),
                                         ("median_ms", .double(median)), ("p99_ms", .double(p99))]))
                }
            }
        }
        if json { ctx.out(JSONValue.array(rows).serialized(pretty: true)) }
        return 0
    }
}
