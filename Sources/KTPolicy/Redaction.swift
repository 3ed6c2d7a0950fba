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
    /// back (bytes for an ASCII text, where offsets are the same; UTF-16 otherwise).
    static func apply(_ text: String, _ replacements: [(NSRange, String)]) -> String {
        let sorted = replacements.sorted { $0.0.location < $1.0.location }
        let bytes = Array(text.utf8)
        if bytes.count == text.utf16.count {
            return String(decoding: splice(bytes, sorted.map { ($0.0, Array($0.1.utf8)) }), as: UTF8.self)
        }
        return String(decoding: splice(Array(text.utf16), sorted.map { ($0.0, Array($0.1.utf16)) }), as: UTF16.self)
    }

    /// `units` with each range (in order, not overlapping) replaced.
    static func splice<Unit>(_ units: [Unit], _ replacements: [(NSRange, [Unit])]) -> [Unit] {
        var out: [Unit] = []
        out.reserveCapacity(units.count)
        var last = 0
        for (range, replacement) in replacements {
            out += units[last..<range.location]
            out += replacement
            last = range.location + range.length
        }
        out += units[last...]
        return out
    }
}
