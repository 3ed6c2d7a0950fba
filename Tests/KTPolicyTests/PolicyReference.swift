import Foundation
#if canImport(KTPolicy)
@testable import KTPolicy
#endif

/// The straightforward versions of the policy hot path, which the shipped model and the
/// recognisers' behaviour were built on. The fast paths must agree with them exactly; the unit
/// tests and the `policy-text` fuzz target (which compiles this file too) check that they do.
enum PolicyReference {
    /// Hashed features of a text: character 3–5-grams over the text padded with a space each
    /// side, then word unigrams and bigrams, deduplicated.
    static func hashed(_ text: Substring) -> [Int32] {
        let dims = UInt32(InjectionFeatures.dimensions)
        let scalars = Array(text.unicodeScalars)
        func bytes(_ i: Int) -> [UInt8] { i < 0 || i >= scalars.count ? [32] : Array(String(scalars[i]).utf8) }
        var indices: [Int32] = []
        for n in 3...5 where scalars.count + 2 >= n {
            for i in -1...(scalars.count + 1 - n) {
                var h: UInt32 = 2_166_136_261 ^ UInt32(n)
                for k in i..<(i + n) { for b in bytes(k) { h = (h ^ UInt32(b)) &* 16_777_619 } }
                indices.append(Int32(h % dims))
            }
        }
        var previous: [UInt8]?
        for w in InjectionFeatures.wordSlices(text) {
            indices.append(Int32(w.withUnsafeBufferPointer { InjectionFeatures.fnv1a(101, $0) } % dims))
            if let p = previous { indices.append(Int32((p + [32] + w).withUnsafeBufferPointer { InjectionFeatures.fnv1a(102, $0) } % dims)) }
            previous = w
        }
        return Array(Set(indices)).sorted()
    }

    /// Decoded base64/hex payloads found by the two regexes the scan replaced.
    static func payloads(_ text: String) -> [String] {
        let base64 = try! NSRegularExpression(pattern: #"[A-Za-z0-9+/]{20,}={0,2}"#)
        let hexRun = try! NSRegularExpression(pattern: #"(?:[0-9a-fA-F]{2}){12,}"#)
        let ns = text as NSString
        let full = NSRange(location: 0, length: ns.length)
        var out: [String] = []
        for m in base64.matches(in: text, range: full).prefix(16) {
            var s = ns.substring(with: m.range)
            while s.count % 4 != 0 { s += "=" }
            if let data = Data(base64Encoded: s), let t = InjectionNormalizer.readable(data) { out.append(t) }
        }
        for m in hexRun.matches(in: text, range: full).prefix(16) {
            let hex = Array(ns.substring(with: m.range).utf8)
            var bytes: [UInt8] = []
            var i = 0
            while i + 1 < hex.count { bytes.append(UInt8(String(decoding: hex[i...i + 1], as: UTF8.self), radix: 16)!); i += 2 }
            if let t = InjectionNormalizer.readable(Data(bytes)) { out.append(t) }
        }
        return out
    }

    /// The recognisers' findings with every pattern run over the whole text.
    static func find(_ r: PIIRecognizers, _ original: String) -> [PIIMatch] {
        // The same folding as the recognisers (what is compared is the windowed search).
        let folding = TextFolding(original)
        let text = folding.text
        let ns = text as NSString
        let originalNS = original as NSString
        let full = NSRange(location: 0, length: ns.length)
        var found: [PIIMatch] = []
        func add(_ entity: String, _ range: NSRange) {
            let at = folding.original(range)
            found.append(PIIMatch(entity: entity, range: at, value: originalNS.substring(with: at)))
        }
        for rec in r.recognizers {
            if rec.entity == .iban {
                var position = 0
                while position < ns.length,
                      let m = rec.regex.firstMatch(in: text, options: [.withTransparentBounds], range: NSRange(location: position, length: ns.length - position)) {
                    if let length = PIIRecognizers.ibanPrefix(ns.substring(with: m.range)) {
                        add(rec.entity.rawValue, NSRange(location: m.range.location, length: length))
                        position = m.range.location + length
                    } else {
                        position = m.range.location + 1
                    }
                }
                continue
            }
            for m in rec.regex.matches(in: text, range: full) {
                let value = ns.substring(with: m.range)
                let contextStart = max(0, m.range.location - 48)
                let before = Substring(ns.substring(with: NSRange(location: contextStart, length: m.range.location - contextStart)))
                if rec.validate(value, before) { add(rec.entity.rawValue, m.range) }
            }
        }
        return PIIRecognizers.resolvingOverlaps(found)
    }
}
