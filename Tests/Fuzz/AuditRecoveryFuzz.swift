import Foundation
import KTModel
import KTConfig

// libFuzzer target: audit-log recovery and verification on segment files with arbitrary
// content (a torn write, a tampered record, garbage). Never traps; after recovery the chain
// verifies or reports where it breaks, and a new record can be appended.
let fuzzDir: String = {
    let d = NSTemporaryDirectory() + "kt-fuzz-audit-\(getpid())"
    try? FileManager.default.createDirectory(atPath: d + "/audit", withIntermediateDirectories: true)
    return d
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAuditRecovery(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let audit = fuzzDir + "/audit"
    for f in (try? FileManager.default.contentsOfDirectory(atPath: audit)) ?? [] { try? FileManager.default.removeItem(atPath: audit + "/" + f) }
    // 0xFF (never in a record) separates segments: the verifier's cross-segment links and
    // abandoned tails get arbitrary input too.
    let parts = UnsafeBufferPointer(start: data, count: size).split(separator: 0xFF, omittingEmptySubsequences: false).prefix(8)
    for (i, part) in parts.enumerated() {
        _ = FileManager.default.createFile(atPath: audit + String(format: "/segment-%06d.jsonl", i + 1), contents: Data(part))
    }
    _ = AuditLog.verify(directory: audit)
    if let log = try? AuditLog(stateDir: fuzzDir, settings: AuditLoggerSettings()) {
        log.close()
    }
    _ = AuditLog.verify(directory: audit)
    return 0
}
