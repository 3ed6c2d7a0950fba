// libFuzzer target: the HTTP response parser and the SSE parser. Never traps; SSE events are
// the same whether the bytes arrive at once or in two pieces.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPResponse(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = FuzzInput(data, size)
    var p = HTTPResponseParser()
    p.feed(input.bytes)
    var guardSteps = 0
    loop: while guardSteps < 100_000 {
        guardSteps += 1
        guard let e = try? p.next() else { break }
        switch e {
        case .needMoreData:
            if case .end = p.peerClosed() { break loop }
            break loop
        case .end: p.reset()
        case .head, .body: continue
        }
    }
    let (body, at) = input.split
    var whole = SSEParser(), split = SSEParser()
    let a = whole.feed(body).map { "\($0.id ?? "-")|\($0.event ?? "-")|\($0.data)" }
    let b = (split.feed(Array(body[..<at])) + split.feed(Array(body[at...]))).map { "\($0.id ?? "-")|\($0.event ?? "-")|\($0.data)" }
    fuzzCheck(a == b, "SSE split differently")
    return 0
}
