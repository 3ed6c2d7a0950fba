import KTModel

// libFuzzer target: the strict JSON parser. Never traps; what it accepts serialises and parses
// back to the same value.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = FuzzInput(data, size)
    // The stream guard's duplicate-key scan agrees with the strict parser on everything the
    // parser reads: no duplicate where it accepts, one where it refuses for a duplicate.
    let v: JSONValue
    do throws(JSONValue.ParseError) { v = try JSONValue.parse(input.bytes) } catch {
        if error.message.hasPrefix("duplicate key") {
            fuzzCheck(JSONDuplicateKeys.first(in: input.bytes) != nil, "the scan missed a duplicate the parser refused")
        }
        return 0
    }
    fuzzCheck(JSONDuplicateKeys.first(in: input.bytes) == nil, "the scan found a duplicate in JSON the parser accepted")
    let text = v.serialized()
    guard let again = try? JSONValue.parse(text) else { fatalError("serialised JSON does not parse: \(text.prefix(200))") }
    fuzzCheck(again.serialized() == text, "round trip changed the value")
    _ = v.serialized(pretty: true)
    return 0
}
