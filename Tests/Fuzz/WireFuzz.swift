import KTModel

// libFuzzer target: the fleet wire decoders (registration, heartbeat with its traffic samples
// and histograms, config answer, ACK, event batch) and the merges that sum them. Never traps.
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
    // Every fleet message: a decoded one re-encodes to wire form that decodes again, to the same
    // wire form (histogram sums are rounded to 0.001 ms on the wire, so compare encodings).
    if let m = try? RegistrationMessage(json: v) { fuzzCheck((try? RegistrationMessage(json: m.json))?.json == m.json, "registration round trip") }
    if let m = try? HeartbeatMessage(json: v) {
        let once = (try? HeartbeatMessage(json: m.json))?.json
        fuzzCheck(once != nil && (try? HeartbeatMessage(json: once!))?.json == once, "heartbeat round trip")
    }
    if let m = try? ConfigAckMessage(json: v) { fuzzCheck((try? ConfigAckMessage(json: m.json)) == m, "ack round trip") }
    if let m = try? ConfigPollAnswer(json: v) { fuzzCheck((try? ConfigPollAnswer(json: m.json))?.config == m.config, "poll answer round trip") }
    if let m = try? EventBatchMessage(json: v) { fuzzCheck(m.events.count <= EventBatchMessage.maxEvents, "batch over the limit") }
    for key in ["interval_seconds", "events_dropped", "unix_ms", "batch_size"] {
        _ = try? BoundedField.integer(v[key], key, in: 0...TrafficSample.maxCount)
        _ = try? BoundedField.number(v[key], key, in: 0...3600)
    }
    return 0
}
