import Foundation
import KTModel
import KTConfig

/// Replaces matched spans with markers: `label` ([EMAIL]), `mask` (same length of *), or
/// `hash` ([EMAIL:1a2b3c4d], stable per value so repeated values stay linkable).
enum Redaction {
    static func marker(entity: String, value: String, format: RedactionMarkerFormat) -> String {
        let label = entity.uppercased()
        switch format {
        case .label: return "[\(label)]"
        case .mask: return String(repeating: "*", count: value.count)
        case .hash: return "[\(label):\(SHA256.hex(value).prefix(8))]"
        }
    }

    /// Applies replacements (non-overlapping UTF-16 ranges), building the text once, front to
    /// back (bytes for an ASCII text, UTF-16 otherwise).
    static func apply(_ text: String, _ replacements: [(NSRange, String)]) -> String {
        let sorted = replacements.sorted { $0.0.location < $1.0.location }
        let bytes = Array(text.utf8)
        if bytes.count == text.utf16.count {
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count)
            var last = 0
            for (range, replacement) in sorted {
                out += bytes[last..<range.location]
                out += replacement.utf8
                last = range.location + range.length
            }
            out += bytes[last...]
            return String(decoding: out, as: UTF8.self)
        }
        let units = Array(text.utf16)
        var out: [UInt16] = []
        out.reserveCapacity(units.count)
        var last = 0
        for (range, replacement) in sorted {
            out += units[last..<range.location]
            out += replacement.utf16
            last = range.location + range.length
        }
        out += units[last...]
        return String(decoding: out, as: UTF16.self)
    }
}
