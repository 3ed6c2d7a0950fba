import Foundation
import KTModel

/// The last config a managed gateway applied from the control plane, kept in its state dir
/// (`last-known-good.yaml` + `last-known-good.json`) so a restart without the control plane
/// serves it. Written atomically: temp file, fsync, rename.
public struct LastKnownGood: Sendable, Equatable {
    public var version: String
    public var sha: String
    public var source: String?
    public var appliedAt: Double

    public static func contentPath(_ stateDir: String) -> String { (stateDir as NSString).appendingPathComponent("last-known-good.yaml") }
    static func metaPath(_ stateDir: String) -> String { (stateDir as NSString).appendingPathComponent("last-known-good.json") }

    public init(version: String, sha: String, source: String?, appliedAt: Double) {
        self.version = version
        self.sha = sha
        self.source = source
        self.appliedAt = appliedAt
    }

    /// The saved one, when both files are there and readable.
    public static func load(stateDir: String) -> LastKnownGood? {
        guard FileManager.default.fileExists(atPath: contentPath(stateDir)),
              let data = FileManager.default.contents(atPath: metaPath(stateDir)),
              let j = try? JSONValue.parse(Array(data)),
              let v = j["version"]?.stringValue, let s = j["sha"]?.stringValue else { return nil }
        return LastKnownGood(version: v, sha: s, source: j["source"]?.stringValue, appliedAt: j["applied_at"]?.doubleValue ?? 0)
    }

    public func save(content: String, stateDir: String) throws(KTError) {
        try AtomicFile.write(Array(content.utf8), to: Self.contentPath(stateDir))
        let meta: JSONValue = .object([("version", .string(version)), ("sha", .string(sha)), ("source", .optional(source)),
                                       ("applied_at", .double(appliedAt))])
        try AtomicFile.write(Array(meta.serialized(pretty: true).utf8), to: Self.metaPath(stateDir))
    }

    /// Whether the saved config is newer than every one of `files` (then a restart starts from it).
    public static func isNewer(stateDir: String, than files: [String]) -> Bool {
        func mtime(_ p: String) -> Date? { (try? FileManager.default.attributesOfItem(atPath: p))?[.modificationDate] as? Date }
        guard let saved = mtime(metaPath(stateDir)) else { return false }
        return files.allSatisfy { f in mtime(f).map { $0 < saved } ?? true }
    }
}
