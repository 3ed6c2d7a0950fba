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

    /// Applies replacements (non-overlapping UTF-16 ranges) from the end so earlier ranges stay valid.
    static func apply(_ text: String, _ replacements: [(NSRange, String)]) -> String {
        let ns = NSMutableString(string: text)
        for (range, replacement) in replacements.sorted(by: { $0.0.location > $1.0.location }) {
            ns.replaceCharacters(in: range, with: replacement)
        }
        return ns as String
    }
}
