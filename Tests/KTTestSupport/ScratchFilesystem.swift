import Foundation
import Glibc

/// A small tmpfs the test mounts (as root; CI runs as root) so it can fill a real disk and
/// free it again. `mount()` answers nil with the reason when the test cannot mount one, and
/// the caller skips with that message.
public final class ScratchFilesystem: Sendable {
    public let path: String
    private let filler: String

    private init(path: String) {
        self.path = path
        self.filler = (path as NSString).appendingPathComponent(".filler")
    }

    /// Mounts a tmpfs of `bytes` (rounded up to pages) at a fresh directory under /tmp.
    public static func mount(bytes: Int) -> Result<ScratchFilesystem, SkipReason> {
        guard geteuid() == 0 else { return .failure(SkipReason("not root: a tmpfs cannot be mounted (CI runs as root)")) }
        let dir = NSTemporaryDirectory() + "kt-tmpfs-\(UUID().uuidString.prefix(8))"
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            return .failure(SkipReason("cannot create \(dir): \(error)"))
        }
        guard Glibc.mount("tmpfs", dir, "tmpfs", 0, "size=\(bytes),mode=0755") == 0 else {
            let why = String(cString: strerror(errno))
            rmdir(dir)
            return .failure(SkipReason("cannot mount a tmpfs at \(dir): \(why)"))
        }
        return .success(ScratchFilesystem(path: dir))
    }

    /// Fills the disk with a filler file until writes fail with ENOSPC; returns the bytes written.
    @discardableResult
    public func fill() -> Int {
        let fd = open(filler, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        let block = [UInt8](repeating: 0x2E, count: 4096)
        var total = 0
        while true {
            let n = block.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
            if n <= 0 { break }
            total += n
        }
        // The last partial page too: a byte at a time until nothing fits.
        while block.withUnsafeBytes({ write(fd, $0.baseAddress!, 1) }) == 1 { total += 1 }
        return total
    }

    /// Removes the filler: the disk has space again.
    public func release() { unlink(filler) }

    public var freeBytes: Int {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return -1 }
        return Int(s.f_bavail) * Int(s.f_frsize)
    }

    /// Unmounts (lazily, so an open descriptor in a child still exiting cannot block it) and
    /// removes the directory.
    public func unmount() {
        umount2(path, Int32(MNT_DETACH))
        rmdir(path)
    }
}

public struct SkipReason: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
