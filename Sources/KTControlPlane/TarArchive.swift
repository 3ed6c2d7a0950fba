import Foundation

/// A POSIX ustar archive of regular files, built in memory (support bundles are small): a
/// 512-byte header per file, the data padded to 512, and two zero blocks at the end. Names
/// longer than 100 bytes are split into the 155-byte prefix field at a '/'.
public struct TarArchive: Sendable {
    public struct EntryError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public private(set) var bytes: [UInt8] = []
    public private(set) var paths: [String] = []
    let mtime: Int

    public init(mtime: Int) { self.mtime = mtime }

    /// Adds a regular file (mode 0644). Paths are relative, '/'-separated, without '..'.
    public mutating func add(path: String, contents: [UInt8]) throws(EntryError) {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !path.isEmpty, !path.hasPrefix("/"), !parts.contains(where: { $0.isEmpty || $0 == ".." || $0 == "." }) else {
            throw EntryError(description: "tar entry '\(path)' must be a relative path without empty, '.' or '..' parts")
        }
        let (prefix, name) = try Self.split(path)
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ s: String, at offset: Int, width: Int) {
            for (i, b) in s.utf8.prefix(width).enumerated() { h[offset + i] = b }
        }
        func octal(_ v: Int, at offset: Int, width: Int) {
            // width-1 octal digits, zero padded, then NUL.
            put(String(String(v, radix: 8).suffix(width - 1)).leftPadded(to: width - 1), at: offset, width: width - 1)
        }
        put(name, at: 0, width: 100)
        octal(0o644, at: 100, width: 8)
        octal(0, at: 108, width: 8)            // uid
        octal(0, at: 116, width: 8)            // gid
        octal(contents.count, at: 124, width: 12)
        octal(mtime, at: 136, width: 12)
        for i in 148..<156 { h[i] = 0x20 }     // checksum is computed with spaces here
        h[156] = UInt8(ascii: "0")             // regular file
        put("ustar", at: 257, width: 6)        // "ustar\0"
        put("00", at: 263, width: 2)
        put("kt", at: 265, width: 32)          // uname
        put("kt", at: 297, width: 32)          // gname
        put(prefix, at: 345, width: 155)
        let sum = h.reduce(0) { $0 + Int($1) }
        put(String(String(sum, radix: 8)).leftPadded(to: 6), at: 148, width: 6)
        h[154] = 0
        h[155] = 0x20
        guard contents.count < 0o77777777777 else { throw EntryError(description: "tar entry '\(path)' is too large") }
        bytes += h
        bytes += contents
        let pad = (512 - contents.count % 512) % 512
        bytes += [UInt8](repeating: 0, count: pad)
        paths.append(path)
    }

    /// The archive with its end-of-archive marker.
    public func finished() -> [UInt8] { bytes + [UInt8](repeating: 0, count: 1024) }

    static func split(_ path: String) throws(EntryError) -> (prefix: String, name: String) {
        let utf8 = Array(path.utf8)
        if utf8.count <= 100 { return ("", path) }
        // The last '/' that leaves a name of at most 100 bytes and a prefix of at most 155.
        for i in stride(from: utf8.count - 1, through: 0, by: -1) where utf8[i] == UInt8(ascii: "/") {
            if utf8.count - i - 1 > 100 { break }
            if i <= 155 && utf8.count - i - 1 > 0 {
                return (String(decoding: utf8[..<i], as: UTF8.self), String(decoding: utf8[(i + 1)...], as: UTF8.self))
            }
        }
        throw EntryError(description: "tar entry '\(path)' is too long for ustar (name ≤ 100 bytes after a prefix ≤ 155)")
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
