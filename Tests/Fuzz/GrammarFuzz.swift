import KTModel

// libFuzzer target: the duration grammar (`1m30s`), the success-threshold grammar
// (`block_rate<5%,p99<500ms`) and the CLI's integer grammar. Never traps; accepted values are
// finite and inside their bounds.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGrammar(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = FuzzInput(data, size).text
    if case .success(let s) = DurationSyntax.seconds(text) {
        fuzzCheck(s.isFinite && s >= 0 && s <= DurationSyntax.maxSeconds, "duration \(s) out of bounds")
        _ = Duration.milliseconds(Int64(s * 1000))
    }
    if let gate = try? HealthGate.parse(text) {
        for t in gate.thresholds { fuzzCheck(t.value.isFinite && t.value >= 0, "threshold \(t.value)") }
    }
    if let n = try? BoundedField.integer(text: text, "n", in: 0...1_000_000) { fuzzCheck((0...1_000_000).contains(n), "integer \(n)") }
    return 0
}
