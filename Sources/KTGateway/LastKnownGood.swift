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

/// Write-to-temp, fsync, rename, fsync the directory: readers see the old file or the new one,
/// never a torn one. Files are created 0600 (configs and bundles are sensitive).
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to path: String) throws(KTError) {
        let dir = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let tmp = path + ".tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KTError(.io, "cannot write \(tmp): \(String(cString: strerror(errno)))") }
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 { if errno == EINTR { continue }; close(fd); throw KTError(.io, "cannot write \(tmp): \(String(cString: strerror(errno)))") }
            off += n
        }
        fsync(fd)
        close(fd)
        guard rename(tmp, path) == 0 else { throw KTError(.io, "cannot rename \(tmp) to \(path): \(String(cString: strerror(errno)))") }
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}
