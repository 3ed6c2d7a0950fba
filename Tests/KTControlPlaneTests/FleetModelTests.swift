import Foundation
import Testing
import KTModel

@Suite struct JSONParsingTests {
    @Test func parsesAndKeepsOrderAndTypes() throws {
        let v = try JSONValue.parse(#"{"b":1,"a":[true,null,2.5,"x\u00e9\n"],"c":{"d":-1.5e-1}}"#)
        #expect(v.objectValue?.map(\.0) == ["b", "a", "c"])
        #expect(v["b"] == .int(1))
        #expect(v["a"]?.arrayValue?[2] == .double(2.5))
        #expect(v["a"]?.arrayValue?[3].stringValue == "xé\n")
        #expect(v["c"]?["d"]?.doubleValue == -0.15)
        #expect(try JSONValue.parse(v.serialized()) == v)
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\":}", "01", "\"\\ud800\"", "tru", "{\"a\":1}x", "[\"\u{01}\"]"])
    func rejectsMalformed(_ text: String) {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(text) }
    }

    @Test func boundsDepth() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(deep) }
    }
}

@Suite struct LatencyHistogramTests {
    @Test func percentilesWithinOneBucket() {
        var h = LatencyHistogram()
        for i in 1...1000 { h.record(ms: Double(i)) }
        for (q, exact) in [(0.5, 500.0), (0.95, 950.0), (0.99, 990.0)] {
            let p = h.percentile(q)!
            #expect(p >= exact && p <= exact * 1.1, "q\(q): \(p)")
        }
    }

    @Test func mergeEqualsRecordingEverything() throws {
        var a = LatencyHistogram(), b = LatencyHistogram(), all = LatencyHistogram()
        for i in 0..<500 { a.record(ms: Double(i) * 0.3); all.record(ms: Double(i) * 0.3) }
        for i in 0..<300 { b.record(ms: Double(i) * 7); all.record(ms: Double(i) * 7) }
        a.merge(b)
        #expect(a.counts == all.counts)
        #expect(a.total == 800)
        let wire = try #require(LatencyHistogram(json: try JSONValue.parse(a.json.serialized())))
        #expect(wire.counts == a.counts)
        #expect(LatencyHistogram(json: .object([("buckets", .array([.array([.int(500), .int(1)])]))])) == nil)
    }

    @Test func bucketIndexIsMonotonicAndBounded() {
        var last = 0
        for ms in stride(from: 0.001, through: 1e7, by: 997.3) {
            let i = LatencyHistogram.index(forMs: ms)
            #expect(i >= last && i < LatencyHistogram.bucketCount)
            #expect(LatencyHistogram.upperBoundMs(i) >= ms || i == LatencyHistogram.bucketCount - 1)
            last = i
        }
    }
}

@Suite struct TrafficSampleTests {
    @Test func ratesFromKnownMix() throws {
        var s = TrafficSample()
        for _ in 0..<6 { s.record(status: 200, verdict: "allow", latencyMs: 10, overheadMs: 1) }
        for _ in 0..<2 { s.record(status: 409, verdict: "block", latencyMs: 2, overheadMs: 2) }
        s.record(status: 502, verdict: "allow", latencyMs: 100, overheadMs: 1)
        s.record(status: 429, verdict: "allow", latencyMs: 1, overheadMs: 1)
        let h = HealthSummary(window: 60, sample: s)
        #expect(h.requests == 10)
        #expect(h.blockRate == 0.2)
        #expect(h.errorRate == 0.1) // 502 counts; 409 and 429 do not
        #expect(h.requestsPerMinute == 10)
        #expect(try TrafficSample(json: s.json) == s)
    }
}
