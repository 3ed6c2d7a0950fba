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
        return hashed(b, scalars: 0..<b.scalarCount, words: text)
    }

    /// UTF-8 bytes of a text padded with a space each side, with the byte offset of every
    /// scalar: an n-gram is a byte slice, and chunks share one buffer.
    public struct ScalarBytes {
        var bytes: [UInt8] = []
        var starts: [Int] = []
        public var scalarCount: Int { starts.count - 1 }

        public init(_ text: String) {
            bytes.reserveCapacity(text.utf8.count + 2)
            starts.reserveCapacity(text.utf8.count + 3)
            for scalar in text.unicodeScalars {
                starts.append(bytes.count)
                if scalar.isASCII { bytes.append(UInt8(scalar.value)) } else { bytes.append(contentsOf: String(scalar).utf8) }
            }
            starts.append(bytes.count)
        }
    }

    /// Features of the scalars `range` of `b` (padded with spaces), plus word features of `words`.
    public static func hashed(_ b: ScalarBytes, scalars range: Range<Int>, words: some StringProtocol) -> [Int32] {
        var indices: [Int32] = []
        indices.reserveCapacity(range.count * 3 + 64)
        let dims = UInt32(dimensions)
        b.bytes.withUnsafeBufferPointer { buf in
            // Positions -1 and count are the padding spaces.
            @inline(__always) func ngram(_ first: Int, _ n: Int) -> UInt32 {
                var h: UInt32 = 2_166_136_261 ^ UInt32(n)
                var i = first
                while i < first + n {
                    if i < range.lowerBound || i >= range.upperBound {
                        h = (h ^ 32) &* 16_777_619
                    } else {
                        for k in b.starts[i]..<b.starts[i + 1] { h = (h ^ UInt32(buf[k])) &* 16_777_619 }
                    }
                    i += 1
                }
                return h
            }
            let lo = range.lowerBound - 1, hi = range.upperBound + 1
            for n in 3...5 where hi - lo >= n {
                for i in lo...(hi - n) { indices.append(Int32(ngram(i, n) % dims)) }
            }
        }
        // Word unigrams and bigrams, hashed over their UTF-8 bytes.
        var previous: ArraySlice<UInt8>?
        for w in wordSlices(words) {
            let h1 = w.withUnsafeBufferPointer { fnv1a(101, $0) }
            indices.append(Int32(h1 % dims))
            if let p = previous {
                let h2 = (Array(p) + [32] + w).withUnsafeBufferPointer { fnv1a(102, $0) }
                indices.append(Int32(h2 % dims))
            }
            previous = w[...]
        }
        return unique(indices)
    }

    /// Words: runs of letters, digits and apostrophes (ASCII fast path; Unicode properties otherwise).
    static func wordSlices(_ text: some StringProtocol) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var current: [UInt8] = []
        for scalar in text.unicodeScalars {
            let isWord: Bool
            if scalar.isASCII {
                let v = scalar.value
                isWord = (v >= 97 && v <= 122) || (v >= 65 && v <= 90) || (v >= 48 && v <= 57) || v == 39
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
    public var weights: [Float]
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
        weights: [], ruleWeights: [3.2, 2.4, 2.6, 4.0, 4.0, 0.8, 0.6, 1.0], bias: -3.0)

    public func margin(indices: [Int32], rules: [Float]) -> Float {
        var z = bias
        if !weights.isEmpty, !indices.isEmpty {
            var dot: Float = 0
            for i in indices { dot += weights[Int(i)] }
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
        let weights = bytes[offset...].map { Float(Int8(bitPattern: $0)) * scale }
        return InjectionModel(weights: weights, ruleWeights: ruleWeights, bias: bias, calibA: a, calibB: b)
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
