import KTModel
import KTConfig

// libFuzzer target: the YAML/config loader and linter. Never traps; every diagnostic names a
// code, and a config that loads has a stable sha.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = FuzzInput(data, size).text
    let loader = ConfigLoader()
    do {
        let loaded = try loader.load(text: text, name: "fuzz.yaml")
        let again = try loader.load(text: text, name: "fuzz.yaml")
        fuzzCheck(loaded.sha == again.sha, "the same text loaded with two shas")
        for w in loaded.warnings { _ = RegexRisk.nestedQuantifier(in: w.message) }
    } catch {
        for d in error.diagnostics { fuzzCheck(!d.code.rawValue.isEmpty && !d.message.isEmpty, "a diagnostic without code or message") }
    }
    return 0
}
