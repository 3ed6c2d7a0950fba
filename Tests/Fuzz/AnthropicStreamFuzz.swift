import Foundation

// libFuzzer target: an upstream's Anthropic stream bytes through the SSE framing and the stream
// translator. Never traps (whatever the events, numbers or nesting), emits only complete SSE
// events, and gives the same output fed whole or in two pieces.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAnthropicStream(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let (body, at) = FuzzInput(data, size).split
    var whole = AnthropicStreamTranslator(created: 0)
    var pieces = AnthropicStreamTranslator(created: 0)
    guard let once = try? whole.feed(body) else { return 0 }
    guard let first = try? pieces.feed(Array(body[..<at])), let second = try? pieces.feed(Array(body[at...])) else {
        fatalError("fed in two pieces, the stream was refused; fed whole it was not")
    }
    fuzzCheck(once == first + second, "output depends on where the bytes were split")
    fuzzCheck(once.isEmpty || once.suffix(2) == [10, 10], "an event was emitted without its end")
    _ = SSEFraming.dataPayload(body)
    return 0
}
