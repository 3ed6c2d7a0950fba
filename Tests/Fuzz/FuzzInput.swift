// Shared by every fuzz target (compiled into each): the input as bytes, and a split point
// taken from its first byte, so each target also checks that feeding in two pieces gives the
// same result as feeding at once.
struct FuzzInput {
    let bytes: [UInt8]
    init(_ data: UnsafePointer<UInt8>, _ size: Int) { bytes = Array(UnsafeBufferPointer(start: data, count: size)) }
    /// The body after the control byte, and where to split it.
    var split: (body: [UInt8], at: Int) {
        guard let first = bytes.first else { return ([], 0) }
        let body = Array(bytes.dropFirst())
        return (body, body.isEmpty ? 0 : Int(first) % (body.count + 1))
    }
    var text: String { String(decoding: bytes, as: UTF8.self) }
}

func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("fuzz invariant broken: \(message())") }
}
