import KTModel

// libFuzzer target: the fleet wire decoders that take numbers from gateways — heartbeat
// traffic samples and histograms, bounded fields — and the merges that sum them. Never traps.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWire(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = FuzzInput(data, size)
    guard let v = try? JSONValue.parse(input.bytes) else { return 0 }
    for candidate in [v, v["traffic"] ?? .null] {
        guard let s = try? TrafficSample(json: candidate) else { continue }
        fuzzCheck(s.blocked <= s.requests && s.redacted <= s.requests, "blocked or redacted over requests")
        var window = TrafficSample()
        for _ in 0..<4 { window.merge(s) }   // saturating sums
        _ = HealthSummary(window: 60, sample: window).json.serialized()
        guard let back = try? TrafficSample(json: s.json) else { fatalError("a sample's own wire form does not parse") }
        fuzzCheck(back.requests == s.requests, "round trip changed requests")
    }
    for key in ["interval_seconds", "events_dropped", "unix_ms", "batch_size"] {
        _ = try? BoundedField.integer(v[key], key, in: 0...TrafficSample.maxCount)
        _ = try? BoundedField.number(v[key], key, in: 0...3600)
    }
    return 0
}
