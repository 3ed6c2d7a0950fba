import KTModel

// libFuzzer target: the strict JSON parser. Never traps; what it accepts serialises and parses
// back to the same value.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = FuzzInput(data, size)
    guard let v = try? JSONValue.parse(input.bytes) else { return 0 }
    let text = v.serialized()
    guard let again = try? JSONValue.parse(text) else { fatalError("serialised JSON does not parse: \(text.prefix(200))") }
    fuzzCheck(again.serialized() == text, "round trip changed the value")
    _ = v.serialized(pretty: true)
    return 0
}
