/// Finds a key given twice in one object, in one pass without building values, for a payload
/// another parser has already accepted (the stream guard's per-event check, where a full strict
/// parse of every event cost 17 % of a policed stream's CPU).
///
/// Why it matters: parsers disagree on which of two equal keys wins — the last (Foundation,
/// Python, Go), the first (several C and C++ parsers) — and the gateway may release an event's
/// bytes as they came once the text it read passed. A key given twice is the way one valid JSON
/// text reads differently to two conforming parsers.
public enum JSONDuplicateKeys {
    /// The first key given twice in one object (decoded), or nil. For text that is not valid
    /// JSON the answer is unspecified, never a trap: validate first.
    public static func first(in bytes: [UInt8]) -> String? {
        var scanner = Scanner()
        return scanner.firstDuplicate(in: bytes)
    }

    /// Reusable buffers: after the first payload a scan allocates nothing.
    public struct Scanner: Sendable {
        /// Open containers: whether each is an object, and where its keys start in `keys`.
        private var frames: [(isObject: Bool, firstKey: Int)] = []
        /// Byte ranges (between the quotes) of the keys of the open objects.
        private var keys: [Range<Int>] = []

        public init() {}

        public mutating func firstDuplicate(in bytes: [UInt8]) -> String? {
            frames.removeAll(keepingCapacity: true)
            keys.removeAll(keepingCapacity: true)
            var expectKey = false
            var i = 0
            let n = bytes.count
            while i < n {
                switch bytes[i] {
                case UInt8(ascii: "{"):
                    frames.append((true, keys.count))
                    expectKey = true
                    i += 1
                case UInt8(ascii: "["):
                    frames.append((false, keys.count))
                    expectKey = false
                    i += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    if let f = frames.popLast() { keys.removeSubrange(f.firstKey...) }
                    expectKey = false
                    i += 1
                case UInt8(ascii: ","):
                    expectKey = frames.last?.isObject ?? false
                    i += 1
                case UInt8(ascii: "\""):
                    let (start, end, escaped) = Self.string(bytes, at: &i)
                    guard expectKey, let frame = frames.last else { continue }
                    expectKey = false
                    // Rare shapes — an escaped key ("\u0061" is "a"), an object of many keys —
                    // take the thorough scan, which decodes and uses a set.
                    if escaped || keys.count - frame.firstKey >= 32 { return Self.thoroughScan(bytes) }
                    let key = bytes[start..<end]
                    for k in keys[frame.firstKey...] where k.count == key.count && bytes[k].elementsEqual(key) {
                        return String(decoding: key, as: UTF8.self)
                    }
                    keys.append(start..<end)
                default:
                    i += 1
                }
            }
            return nil
        }

        /// Skips the string whose opening quote is at `i`: its contents' range and whether it
        /// holds an escape; `i` ends past the closing quote.
        static func string(_ bytes: [UInt8], at i: inout Int) -> (start: Int, end: Int, escaped: Bool) {
            let start = i + 1
            i += 1
            var escaped = false
            while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                if bytes[i] == UInt8(ascii: "\\") { escaped = true; i += 2 } else { i += 1 }
            }
            let end = min(i, bytes.count)
            i += 1
            return (start, end, escaped)
        }

        /// The thorough scan for the rare shapes: escaped keys compared decoded, a set per object
        /// beyond 16 keys. It does not depend on the rest of the text being strict JSON.
        static func thoroughScan(_ bytes: [UInt8]) -> String? {
            struct Frame {
                var isObject: Bool
                var small: [[UInt8]] = []
                var large: Set<[UInt8]>? = nil
                mutating func insert(_ key: [UInt8]) -> Bool {
                    if large != nil { return large!.insert(key).inserted }
                    if small.contains(key) { return false }
                    small.append(key)
                    if small.count > 16 { large = Set(small); small = [] }
                    return true
                }
            }
            var stack: [Frame] = []
            var expectKey = false
            var i = 0
            let n = bytes.count
            while i < n {
                switch bytes[i] {
                case UInt8(ascii: "{"): stack.append(Frame(isObject: true)); expectKey = true; i += 1
                case UInt8(ascii: "["): stack.append(Frame(isObject: false)); expectKey = false; i += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"): if !stack.isEmpty { stack.removeLast() }; expectKey = false; i += 1
                case UInt8(ascii: ","): expectKey = stack.last?.isObject ?? false; i += 1
                case UInt8(ascii: "\""):
                    let (start, end, escaped) = Self.string(bytes, at: &i)
                    guard expectKey, !stack.isEmpty else { continue }
                    expectKey = false
                    var key = Array(bytes[start..<end])
                    if escaped, end < n, let decoded = try? JSONValue.parse(Array(bytes[(start - 1)...end])).stringValue { key = Array(decoded.utf8) }
                    if !stack[stack.count - 1].insert(key) { return String(decoding: key, as: UTF8.self) }
                default: i += 1
                }
            }
            return nil
        }
    }
}
