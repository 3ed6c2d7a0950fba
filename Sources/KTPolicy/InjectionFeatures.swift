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
        var indices: [Int32] = []
        // One flat UTF-8 buffer with the start of every scalar: an n-gram is a byte slice.
        var bytes: [UInt8] = [32]
        var starts: [Int] = [0]
        for scalar in text.unicodeScalars {
            starts.append(bytes.count)
            bytes.append(contentsOf: String(scalar).utf8)
        }
        starts.append(bytes.count)
        bytes.append(32)
        starts.append(bytes.count)
        let count = starts.count - 1  // scalars, including the two padding spaces
        indices.reserveCapacity(count * 3 + 64)
        bytes.withUnsafeBufferPointer { buf in
            for n in 3...5 where count >= n {
                for i in 0...(count - n) {
                    let slice = UnsafeBufferPointer(rebasing: buf[starts[i]..<starts[i + n]])
                    indices.append(Int32(fnv1a(UInt32(n), slice) % UInt32(dimensions)))
                }
            }
        }
        // Word unigrams and bigrams.
        let words = text.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "'") })
        var previous: Substring?
        for w in words {
            let h1 = Array(w.utf8).withUnsafeBufferPointer { fnv1a(101, $0) }
            indices.append(Int32(h1 % UInt32(dimensions)))
            if let p = previous {
                let h2 = Array((p + " " + w).utf8).withUnsafeBufferPointer { fnv1a(102, $0) }
                indices.append(Int32(h2 % UInt32(dimensions)))
            }
            previous = w
        }
        indices.sort()
        var unique: [Int32] = []
        unique.reserveCapacity(indices.count)
        for i in indices where unique.last != i { unique.append(i) }
        return unique
    }

    /// The n-gram strings behind a text's features (for reporting the strongest signals).
    public static func ngrams(_ text: String) -> [(String, Int32)] {
        var out: [(String, Int32)] = []
        let scalars = Array((" " + text + " ").unicodeScalars)
        let words = text.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "'") })
        var previous: Substring?
        for w in words {
            out.append((String(w), Int32(Array(w.utf8).withUnsafeBufferPointer { fnv1a(101, $0) } % UInt32(dimensions))))
            if let p = previous {
                let bigram = String(p + " " + w)
                out.append((bigram, Int32(Array(bigram.utf8).withUnsafeBufferPointer { fnv1a(102, $0) } % UInt32(dimensions))))
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
