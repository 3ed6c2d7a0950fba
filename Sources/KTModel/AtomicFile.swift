import Foundation

/// Write-to-temp, fsync, rename, fsync the directory: readers see the old file or the new one,
/// never a torn one, and a file this returned for survives a crash. Every step's result is
/// checked (a full disk fails the write, and the old file stays). Files are created 0600
/// (configs, bundles, tokens and identities are sensitive).
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to path: String) throws(KTError) {
        let dir = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let tmp = path + ".tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KTError(.io, "cannot write \(tmp): \(String(cString: strerror(errno)))") }
        func fail(_ what: String) -> KTError {
            let e = KTError(.io, "cannot \(what) \(tmp): \(String(cString: strerror(errno)))")
            close(fd)
            unlink(tmp)
            return e
        }
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 { if errno == EINTR { continue }; throw fail("write") }
            if n == 0 { errno = EIO; throw fail("write") }
            off += n
        }
        guard fsync(fd) == 0 else { throw fail("fsync") }
        close(fd)
        guard rename(tmp, path) == 0 else {
            let e = KTError(.io, "cannot rename \(tmp) to \(path): \(String(cString: strerror(errno)))")
            unlink(tmp)
            throw e
        }
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { return }
        defer { close(dfd) }
        guard fsync(dfd) == 0 else { throw KTError(.io, "cannot fsync the directory \(dir): \(String(cString: strerror(errno)))") }
    }
}
