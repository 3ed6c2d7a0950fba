import Foundation
import KTModel

// libFuzzer target: the prompt-injection detector and the PII recognisers on arbitrary text.
// Their hot paths do their own index arithmetic over bytes and UTF-16 units (one-pass
// normaliser, payload scan, trigger search, n-gram tables, run windows), so hostile text must
// never trap; and the fast paths must agree with the straightforward versions they replaced:
// the hashed features, the payload scan, and the PII findings of a whole-text regex scan
// (Tests/KTPolicyTests/PolicyReference.swift, compiled into this target too).

/// Outside SwiftPM there is no resource bundle; the model is read from the repository instead.
extension Bundle { static var module: Bundle { Bundle.main } }

let model: InjectionModel = {
    let path = "Sources/KTPolicy/Resources/injection-model.bin"
    guard let data = FileManager.default.contents(atPath: path), let m = InjectionModel.load([UInt8](data)) else {
        fatalError("run from the repository root: \(path) is needed")
    }
    return m
}()
let detector = InjectionDetector(model: model)
let recognizers = try! PIIRecognizers()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPolicyText(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = FuzzInput(data, size)
    let text = input.text
    let score = detector.score(text)
    fuzzCheck(score.score >= 0 && score.score <= 1, "score \(score.score) out of [0, 1]")
    // Features of the whole text and of one chunk (cut where the first byte says), against the reference.
    let normalized = InjectionNormalizer().normalize(text).text
    let b = InjectionFeatures.ScalarBytes(normalized)
    fuzzCheck(InjectionFeatures.hashed(normalized).sorted() == PolicyReference.hashed(Substring(normalized)), "hashed features differ from the reference")
    let scalars = Array(normalized.unicodeScalars)
    if !scalars.isEmpty {
        let lo = Int(input.bytes.first ?? 0) % scalars.count
        let chunk = Substring(String(String.UnicodeScalarView(scalars[lo...])))
        let fast = InjectionFeatures.hashed(b, scalars: lo..<scalars.count, table: InjectionFeatures.GramTable(b)).sorted()
        fuzzCheck(fast == PolicyReference.hashed(chunk), "chunk features (table) differ from the reference")
    }
    fuzzCheck(InjectionNormalizer.payloads(in: text) == PolicyReference.payloads(text), "payload scan differs from the regexes")
    // PII: valid, non-overlapping ranges whose values are the text's, equal to a whole-text scan.
    let found = (try? recognizers.find(in: text)) ?? []
    let ns = text as NSString
    var end = 0
    for m in found {
        fuzzCheck(m.range.location >= end && m.range.location + m.range.length <= ns.length, "finding \(m.range) out of order or out of the text")
        fuzzCheck(ns.substring(with: m.range) == m.value, "finding value is not the text at its range")
        end = m.range.location + m.range.length
    }
    fuzzCheck(found == PolicyReference.find(recognizers, text), "windowed PII search differs from a whole-text scan")
    _ = Redaction.apply(text, found.map { ($0.range, "[\($0.entity.uppercased())]") })
    return 0
}
