import CCrypto

/// SHA-256 through OpenSSL's libcrypto.
public enum SHA256 {
    public static func digest(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let input = Array(bytes)
        input.withUnsafeBufferPointer { buf in
            out.withUnsafeMutableBufferPointer { o in
                _ = CCrypto.SHA256(buf.baseAddress, buf.count, o.baseAddress)
            }
        }
        return out
    }

    public static func hex(_ bytes: some Collection<UInt8>) -> String {
        hexString(digest(bytes))
    }

    public static func hex(_ text: String) -> String { hex(Array(text.utf8)) }

    public static func hexString(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
