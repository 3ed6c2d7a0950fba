import Foundation

/// Hashed character and word n-gram features with a deterministic hash (FNV-1a over UTF-8),
/// identical on every machine and shared by the gateway and the trainer.
public enum InjectionFeatures {
    public static let dimensions = 1 << 18
    /// Extra, unhashed features after the rule families: invisible characters, homoglyphs, encoded payload.
    public static let extraNames = ["invisible_characters", "homoglyphs", "encoded_payload"]
    public static var ruleCount: Int { InjectionRules.families.count + extraNames.count }

    @inline(__always)
    static func fnv1a(_ seed: UInt32, _ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var h: UInt32 = 2_166_136_261 ^ seed
        for b in bytes {
            h ^= UInt32(b)
            h = h &* 16_777_619
        }
        return h
    }

    /// Sorted unique feature indices of `text` (already normalised). L2 normalisation of a
    /// binary vector is 1/sqrt(count), applied by the scorer.
    public static func hashed(_ text: String) -> [Int32] {
        let b = ScalarBytes(text)
        return hashed(b, scalars: 0..<b.scalarCount)
    }

    /// UTF-8 bytes of a text with the byte offset of every scalar and whether it is a word
    /// character: an n-gram or a word is a byte slice, and the chunks of a text share one buffer.
    public struct ScalarBytes {
        var bytes: [UInt8] = []
        var starts: [Int] = []
        /// Per scalar: a letter, digit or apostrophe (the characters words are made of).
        var isWord: [Bool] = []
        /// Every scalar is one byte (then scalar i is byte i).
        var ascii = true
        public var scalarCount: Int { starts.count - 1 }

        public init(_ text: String) {
            let utf8 = text.utf8
            bytes.reserveCapacity(utf8.count)
            starts.reserveCapacity(utf8.count + 1)
            isWord.reserveCapacity(utf8.count)
            ascii = utf8.withContiguousStorageIfAvailable { $0.allSatisfy { $0 < 128 } } ?? utf8.allSatisfy { $0 < 128 }
            if ascii {
                bytes.append(contentsOf: utf8)
                for (i, v) in bytes.enumerated() {
                    starts.append(i)
                    isWord.append(InjectionFeatures.isASCIIWordByte(v))
                }
                starts.append(bytes.count)
                return
            }
            for scalar in text.unicodeScalars {
                starts.append(bytes.count)
                if scalar.isASCII {
                    bytes.append(UInt8(scalar.value))
                    isWord.append(InjectionFeatures.isASCIIWordByte(UInt8(scalar.value)))
                } else {
                    bytes.append(contentsOf: String(scalar).utf8)
                    let p = scalar.properties
                    isWord.append(p.isAlphabetic || p.numericType != nil)
                }
            }
            starts.append(bytes.count)
        }
    }

    @inline(__always)
    static func isASCIIWordByte(_ v: UInt8) -> Bool {
        (v >= 97 && v <= 122) || (v >= 65 && v <= 90) || (v >= 48 && v <= 57) || v == 39
    }

    /// The feature index of every 3-, 4- and 5-gram lying wholly inside a text: a chunk's
    /// n-grams away from its edges are the text's, so the chunks of a long prompt reuse them.
    public struct GramTable {
        /// `indices[n - 3][i]`: the n-gram starting at scalar i.
        var indices: [[Int32]]

        public init(_ b: ScalarBytes) {
            let count = b.scalarCount
            indices = (3...5).map { n in
                guard count >= n else { return [] }
                var out = [Int32](repeating: 0, count: count - n + 1)
                b.bytes.withUnsafeBufferPointer { buf in
                    b.starts.withUnsafeBufferPointer { starts in
                        for i in 0...(count - n) {
                            var h: UInt32 = 2_166_136_261 ^ UInt32(n)
                            for k in starts[i]..<starts[i + n] { h = (h ^ UInt32(buf[k])) &* 16_777_619 }
                            out[i] = Int32(h % UInt32(InjectionFeatures.dimensions))
                        }
                    }
                }
                return out
            }
        }
    }

    /// Features of the scalars `range` of `b` (padded with a space each side): character
    /// 3-, 4- and 5-grams, then word unigrams and bigrams of the same scalars. No allocation
    /// per n-gram or word: this runs on every chunk of every prompt. `table`, when given, is
    /// `b`'s (the interior n-grams are read from it).
    public static func hashed(_ b: ScalarBytes, scalars range: Range<Int>, table: GramTable? = nil) -> [Int32] {
        var indices: [Int32] = []
        indices.reserveCapacity(range.count * 4 + 16)
        append(b, scalars: range, table: table, to: &indices)
        return unique(indices)
    }

    /// Buffers the scorer reuses across the chunks of a text: the feature indices (with
    /// repeats) and a bitmap to drop the repeats, cleared bit by bit after use.
    public struct Scratch {
        var indices: [Int32] = []
        var seen = [UInt64](repeating: 0, count: InjectionFeatures.dimensions / 64)
        public init() {}
    }

    /// The features of `range`, with repeats, appended to `indices`.
    static func append(_ b: ScalarBytes, scalars range: Range<Int>, table: GramTable?, to indices: inout [Int32]) {
        let dims = UInt32(dimensions)
        let lo = range.lowerBound - 1, hi = range.upperBound + 1
        b.bytes.withUnsafeBufferPointer { buf in
            b.starts.withUnsafeBufferPointer { starts in
                // Positions lo and hi - 1 are the padding spaces.
                @inline(__always) func ngram(_ first: Int, _ n: Int) -> UInt32 {
                    var h: UInt32 = 2_166_136_261 ^ UInt32(n)
                    for i in first..<(first + n) {
                        if i < range.lowerBound || i >= range.upperBound {
                            h = (h ^ 32) &* 16_777_619
                        } else if b.ascii {
                            h = (h ^ UInt32(buf[i])) &* 16_777_619
                        } else {
                            for k in starts[i]..<starts[i + 1] { h = (h ^ UInt32(buf[k])) &* 16_777_619 }
                        }
                    }
                    return h
                }
                for n in 3...5 where hi - lo >= n {
                    let last = hi - n
                    if let table {
                        indices.append(Int32(ngram(lo, n) % dims))
                        var i = lo + 1
                        if i + n - 1 < range.upperBound {
                            let stop = range.upperBound - n + 1
                            indices.append(contentsOf: table.indices[n - 3][i..<stop])
                            i = stop
                        }
                        while i <= last { indices.append(Int32(ngram(i, n) % dims)); i += 1 }
                    } else if b.ascii {
                        // Interior n-grams without the padding test (ASCII: scalar i is byte i).
                        indices.append(Int32(ngram(lo, n) % dims))
                        var i = lo + 1
                        while i + n - 1 < range.upperBound {
                            var h: UInt32 = 2_166_136_261 ^ UInt32(n)
                            for k in i..<(i + n) { h = (h ^ UInt32(buf[k])) &* 16_777_619 }
                            indices.append(Int32(h % dims))
                            i += 1
                        }
                        while i <= last { indices.append(Int32(ngram(i, n) % dims)); i += 1 }
                    } else {
                        for i in lo...last { indices.append(Int32(ngram(i, n) % dims)) }
                    }
                }
                // Word unigrams and bigrams, hashed over their UTF-8 bytes; a bigram is
                // "previous word, space, word".
                b.isWord.withUnsafeBufferPointer { isWord in
                    var previous: Range<Int>? = nil
                    var i = range.lowerBound
                    while i < range.upperBound {
                        guard isWord[i] else { i += 1; continue }
                        var j = i + 1
                        while j < range.upperBound && isWord[j] { j += 1 }
                        let word = starts[i]..<starts[j]
                        var h1: UInt32 = 2_166_136_261 ^ 101
                        for k in word { h1 = (h1 ^ UInt32(buf[k])) &* 16_777_619 }
                        indices.append(Int32(h1 % dims))
                        if let p = previous {
                            var h2: UInt32 = 2_166_136_261 ^ 102
                            for k in p { h2 = (h2 ^ UInt32(buf[k])) &* 16_777_619 }
                            h2 = (h2 ^ 32) &* 16_777_619
                            for k in word { h2 = (h2 ^ UInt32(buf[k])) &* 16_777_619 }
                            indices.append(Int32(h2 % dims))
                        }
                        previous = word
                        i = j
                    }
                }
            }
        }
    }

    /// Words: runs of letters, digits and apostrophes (ASCII fast path; Unicode properties otherwise).
    static func wordSlices(_ text: some StringProtocol) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var current: [UInt8] = []
        for scalar in text.unicodeScalars {
            let isWord: Bool
            if scalar.isASCII {
                isWord = isASCIIWordByte(UInt8(scalar.value))
            } else {
                let p = scalar.properties
                isWord = p.isAlphabetic || p.numericType != nil
            }
            if isWord {
                if scalar.isASCII { current.append(UInt8(scalar.value)) } else { current.append(contentsOf: String(scalar).utf8) }
            } else if !current.isEmpty {
                out.append(current)
                current.removeAll(keepingCapacity: true)
            }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    /// Distinct indices (order does not matter to the model), deduplicated with a bitmap.
    static func unique(_ indices: [Int32]) -> [Int32] {
        var seen = [UInt64](repeating: 0, count: dimensions / 64)
        var out: [Int32] = []
        out.reserveCapacity(indices.count)
        seen.withUnsafeMutableBufferPointer { bits in
            for i in indices {
                let w = Int(i) >> 6, b = UInt64(1) << UInt64(i & 63)
                if bits[w] & b == 0 {
                    bits[w] |= b
                    out.append(i)
                }
            }
        }
        return out
    }

    /// The n-gram strings behind a text's features (for reporting the strongest signals).
    public static func ngrams(_ text: String) -> [(String, Int32)] {
        var out: [(String, Int32)] = []
        let scalars = Array((" " + text + " ").unicodeScalars)
        var previous: [UInt8]?
        for w in wordSlices(text) {
            out.append((String(decoding: w, as: UTF8.self), Int32(w.withUnsafeBufferPointer { fnv1a(101, $0) } % UInt32(dimensions))))
            if let p = previous {
                let bigram = p + [32] + w
                out.append((String(decoding: bigram, as: UTF8.self), Int32(bigram.withUnsafeBufferPointer { fnv1a(102, $0) } % UInt32(dimensions))))
            }
            previous = w
        }
        if scalars.count >= 5 {
            for i in 0...(scalars.count - 5) {
                let s = String(String.UnicodeScalarView(scalars[i..<i + 5]))
                out.append((s, Int32(Array(s.utf8).withUnsafeBufferPointer { fnv1a(5, $0) } % UInt32(dimensions))))
            }
        }
        return out
    }
}

/// Weights of the linear model plus its calibration, loaded from the shipped resource file.
public struct InjectionModel: Sendable {
    public var weights: [Float] { didSet { quantized = [] } }
    /// The shipped weights as stored (weight = int8 × scale): the scorer reads these, a quarter
    /// of the memory of `weights`, so they stay in the core's cache between requests (a 1 MB
    /// float table did not, and each of the ~30k lookups per 4 KB prompt paid for a miss). The
    /// products are the very floats `weights` holds, so scores are identical.
    private var quantized: [Int8] = []
    private var scale: Float = 0
    public var ruleWeights: [Float]
    public var bias: Float
    /// Platt calibration: p = sigmoid(calibA * z + calibB).
    public var calibA: Float
    public var calibB: Float

    public init(weights: [Float], ruleWeights: [Float], bias: Float, calibA: Float = 1, calibB: Float = 0) {
        self.weights = weights
        self.ruleWeights = ruleWeights
        self.bias = bias
        self.calibA = calibA
        self.calibB = calibB
    }

    /// A model with no n-gram knowledge: rules only (used when no weights ship).
    public static let rulesOnly = InjectionModel(
        weights: [], ruleWeights: [3.2, 2.4, 2.6, 4.0, 4.0, 2.0, 1.0, 0.8, 0.6, 1.0], bias: -3.0)

    /// `margin(indices: InjectionFeatures.hashed(b, scalars: range, table: table), rules:)`,
    /// without building the deduplicated array: the weights are summed in the same order, so the
    /// result is the same float.
    public func margin(_ b: InjectionFeatures.ScalarBytes, scalars range: Range<Int>, table: InjectionFeatures.GramTable?,
                       rules: [Float], scratch: inout InjectionFeatures.Scratch) -> Float {
        guard !weights.isEmpty else { return margin(indices: [], rules: rules) }
        scratch.indices.removeAll(keepingCapacity: true)
        InjectionFeatures.append(b, scalars: range, table: table, to: &scratch.indices)
        var z = bias
        var dot: Float = 0, count = 0
        let useQuantized = quantized.count == weights.count
        scratch.indices.withUnsafeBufferPointer { indices in
            scratch.seen.withUnsafeMutableBufferPointer { bits in
                quantized.withUnsafeBufferPointer { q in
                    weights.withUnsafeBufferPointer { w in
                        for i in indices {
                            let word = Int(i) >> 6, bit = UInt64(1) << UInt64(i & 63)
                            guard bits[word] & bit == 0 else { continue }
                            bits[word] |= bit
                            count += 1
                            dot += useQuantized ? Float(q[Int(i)]) * scale : w[Int(i)]
                        }
                        for i in indices { bits[Int(i) >> 6] = 0 }
                    }
                }
            }
        }
        if count > 0 { z += dot / Float(count).squareRoot() }
        for (k, r) in rules.enumerated() where r != 0 && k < ruleWeights.count { z += ruleWeights[k] * r }
        return z
    }

    public func margin(indices: [Int32], rules: [Float]) -> Float {
        var z = bias
        if !weights.isEmpty, !indices.isEmpty {
            var dot: Float = 0
            if quantized.count == weights.count {
                quantized.withUnsafeBufferPointer { q in for i in indices { dot += Float(q[Int(i)]) * scale } }
            } else {
                for i in indices { dot += weights[Int(i)] }
            }
            z += dot / Float(indices.count).squareRoot()
        }
        for (k, r) in rules.enumerated() where r != 0 && k < ruleWeights.count { z += ruleWeights[k] * r }
        return z
    }

    public func probability(margin z: Float) -> Float { 1 / (1 + expf(-(calibA * z + calibB))) }

    /// The margin whose calibrated probability is `p` (the inverse of `probability`).
    public func margin(forProbability p: Float) -> Float {
        let logit = logf(p / (1 - p))
        return calibA == 0 ? 0 : (logit - calibB) / calibA
    }

    // MARK: File format: "KTPI", version, dims, rule count, scale, bias, calibA, calibB,
    // rule weights (f32), then one int8 per dimension (weight = int8 * scale).

    public func serialized() -> [UInt8] {
        var out: [UInt8] = Array("KTPI".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func f32(_ v: Float) { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
        let maxAbs = weights.map { abs($0) }.max() ?? 0
        let scale = maxAbs > 0 ? maxAbs / 127 : 1
        u32(1); u32(UInt32(weights.count)); u32(UInt32(ruleWeights.count))
        f32(scale); f32(bias); f32(calibA); f32(calibB)
        for w in ruleWeights { f32(w) }
        for w in weights { out.append(UInt8(bitPattern: Int8(max(-127, min(127, (w / scale).rounded()))))) }
        return out
    }

    public static func load(_ bytes: [UInt8]) -> InjectionModel? {
        guard bytes.count >= 32, Array(bytes[0..<4]) == Array("KTPI".utf8) else { return nil }
        var offset = 4
        func u32() -> UInt32 { defer { offset += 4 }; return bytes[offset..<offset + 4].enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * $1.offset) } }
        func f32() -> Float { Float(bitPattern: u32()) }
        guard u32() == 1 else { return nil }
        let dims = Int(u32()), rules = Int(u32())
        let scale = f32(), bias = f32(), a = f32(), b = f32()
        guard bytes.count == offset + rules * 4 + dims else { return nil }
        let ruleWeights = (0..<rules).map { _ in f32() }
        let quantized = bytes[offset...].map { Int8(bitPattern: $0) }
        var model = InjectionModel(weights: quantized.map { Float($0) * scale }, ruleWeights: ruleWeights, bias: bias, calibA: a, calibB: b)
        model.quantized = quantized
        model.scale = scale
        return model
    }

    /// The model shipped with kt (Resources/injection-model.bin), or rules only if absent.
    public static let shipped: InjectionModel = {
        if let url = Bundle.module.url(forResource: "injection-model", withExtension: "bin"),
           let data = try? Data(contentsOf: url), let m = load([UInt8](data)) {
            return m
        }
        return .rulesOnly
    }()
}
