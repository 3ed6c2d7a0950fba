// libFuzzer target: the HTTP/1.1 request parser (heads, chunked bodies, pipelining).
// Never traps; the same bytes split in two give the same requests and the same verdict.
func parseAll(_ pieces: [[UInt8]]) -> (targets: [String], bodies: [[UInt8]], status: Int?) {
    var p = HTTPRequestParser(limits: .init(maxHeaderBytes: 4096, maxBodyBytes: 65_536))
    var targets: [String] = [], bodies: [[UInt8]] = []
    for piece in pieces {
        p.feed(piece)
        while true {
            do {
                guard case .request(let r) = try p.next() else { break }
                targets.append(r.method + " " + r.target)
                bodies.append(r.body)
                fuzzCheck(r.body.count <= 65_536, "a body over the limit was accepted")
            } catch {
                fuzzCheck([400, 413, 431, 501, 505].contains(error.status), "unexpected status \(error.status)")
                return (targets, bodies, error.status)
            }
        }
        fuzzCheck(p.bufferedBytes >= 0, "negative buffer")
    }
    return (targets, bodies, nil)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = FuzzInput(data, size)
    let (body, at) = input.split
    let whole = parseAll([body])
    let split = parseAll([Array(body[..<at]), Array(body[at...])])
    fuzzCheck(whole.targets == split.targets && whole.bodies == split.bodies, "split input parsed differently")
    // A failure seen whole may be reported a request later when split only if it is the same one.
    fuzzCheck(whole.status == split.status, "split input failed differently: \(String(describing: whole.status)) vs \(String(describing: split.status))")
    return 0
}
