import CZlib

/// gzip (RFC 1952) through zlib, in memory.
public enum Gzip {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public static func compress(_ input: [UInt8], level: Int32 = 6) throws(Failure) -> [UInt8] {
        var stream = z_stream()
        guard kt_deflate_init_gzip(&stream, level) == Z_OK else { throw Failure(description: "zlib deflateInit2 failed") }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 64)
        let status: Int32 = input.withUnsafeBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
                stream.avail_in = uInt(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = uInt(outBuf.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { throw Failure(description: "zlib deflate failed (\(status))") }
        return Array(output.prefix(Int(stream.total_out)))
    }

    public static func decompress(_ input: [UInt8], limit: Int = 1 << 30) throws(Failure) -> [UInt8] {
        var stream = z_stream()
        guard kt_inflate_init_gzip(&stream) == Z_OK else { throw Failure(description: "zlib inflateInit2 failed") }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var status: Int32 = Z_OK
        try input.withUnsafeBufferPointer { (inBuf) throws(Failure) in
            stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
            stream.avail_in = uInt(inBuf.count)
            while status != Z_STREAM_END {
                let produced: Int = chunk.withUnsafeMutableBufferPointer { c in
                    stream.next_out = c.baseAddress
                    stream.avail_out = uInt(c.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return c.count - Int(stream.avail_out)
                }
                guard status == Z_OK || status == Z_STREAM_END else { throw Failure(description: "not valid gzip data (zlib \(status))") }
                out += chunk.prefix(produced)
                guard out.count <= limit else { throw Failure(description: "decompressed data is larger than \(limit) bytes") }
                if produced == 0 && stream.avail_in == 0 && status != Z_STREAM_END { throw Failure(description: "gzip data is truncated") }
            }
        }
        return out
    }
}
