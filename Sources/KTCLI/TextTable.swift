/// Aligned text tables that fit a width (default 100 columns): the widest columns are
/// shortened with "…" until the table fits.
struct TextTable {
    var headers: [String]
    var rows: [[String]] = []
    var rightAligned: Set<Int> = []

    init(_ headers: [String], rightAligned: Set<Int> = []) {
        self.headers = headers
        self.rightAligned = rightAligned
    }

    mutating func add(_ row: [String]) { rows.append(row) }

    static func width(_ s: String) -> Int { s.count }

    /// `unicode`: box and ellipsis characters (a terminal); plain ASCII otherwise. Columns in
    /// `keep` (by default the first: the gateway or token id) are never shortened, so rows stay distinct;
    /// pass `maxWidth: .max` to shorten nothing (output read by scripts).
    func render(maxWidth: Int = 100, separatorBefore lastRows: Int = 0, unicode: Bool = true, keep: Set<Int> = [0]) -> String {
        var widths = headers.indices.map { i in ([headers[i]] + rows.map { $0[i] }).map(Self.width).max() ?? 0 }
        let gap = 2
        while widths.reduce(0, +) + gap * (widths.count - 1) > maxWidth,
              let i = widths.indices.filter({ !keep.contains($0) }).max(by: { widths[$0] < widths[$1] }), widths[i] > 6 {
            widths[i] -= 1
        }
        let ellipsis = unicode ? "…" : "~"
        func fit(_ s: String, _ w: Int, right: Bool) -> String {
            var t = s
            if Self.width(t) > w { t = String(t.prefix(max(1, w - ellipsis.count))) + ellipsis }
            let pad = String(repeating: " ", count: max(0, w - Self.width(t)))
            return right ? pad + t : t + pad
        }
        func line(_ cells: [String]) -> String {
            cells.indices.map { fit(cells[$0], widths[$0], right: rightAligned.contains($0)) }.joined(separator: "  ")
                .replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        var out = line(headers) + "\n"
        for (i, r) in rows.enumerated() {
            if lastRows > 0, i == rows.count - lastRows {
                out += String(repeating: unicode ? "─" : "-", count: min(maxWidth, widths.reduce(0, +) + gap * (widths.count - 1))) + "\n"
            }
            out += line(r) + "\n"
        }
        return out
    }
}

import Foundation
