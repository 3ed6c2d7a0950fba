import Foundation
import KTConfig

extension AuditLog {
    public struct Verification: Sendable {
        public var records = 0
        public var segments = 0
        /// Lines at the end of a closed segment that the next segment does not link to: records
        /// of a write that failed (never acknowledged), kept for investigation.
        public var abandoned = 0
        public var abandonedIn: [String] = []
        /// `audit_outage` records: episodes in which records could not be stored.
        public var outages = 0
        public var problem: String?
        public var ok: Bool { problem == nil }
    }

    /// One parsed line of a segment.
    private struct ChainedLine {
        var hash: String
        var prev: String
        var isOutage: Bool
    }

    private enum LineParse {
        case line(ChainedLine)
        case malformed
        case modified
    }

    private static func parse(_ bytes: ArraySlice<UInt8>) -> LineParse {
        let bytes = Array(bytes)
        guard let hash = hash(ofLine: bytes), bytes.count > 148,
              bytes[73..<83].elementsEqual(Array(#"","prev":""#.utf8)),
              bytes[147..<158].elementsEqual(Array(#"","record":"#.utf8)), bytes.last == 125 else { return .malformed }
        let prev = String(decoding: bytes[83..<147], as: UTF8.self)
        let body = Array(bytes[158..<(bytes.count - 1)])
        guard SHA256.hex(Array(prev.utf8) + body) == hash else { return .modified }
        return .line(ChainedLine(hash: hash, prev: prev, isOutage: body.starts(with: Array(#"{"type":"audit_outage""#.utf8))))
    }

    /// Checks every line's hash and its link to the previous one, across segments. Retention may
    /// have removed the oldest segments, so the first remaining line may link to any hash.
    /// `live`: the log is being written, so an unterminated last line is a write in progress.
    ///
    /// A closed segment may end in lines the next segment does not link to — a write that failed
    /// and could not be cut back: they are counted as abandoned, not as records, and the chain
    /// continues from the line the next segment links to. Anything else out of place fails.
    public static func verify(directory dir: String, live: Bool = false) -> Verification {
        var v = Verification()
        let auditDir = FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent("audit"))
            ? (dir as NSString).appendingPathComponent("audit") : dir
        let files = segments(in: auditDir)
        guard !files.isEmpty else { v.problem = "no audit segments in \(auditDir)"; return v }
        // The previous segment's lines not yet confirmed by a link from a later line.
        var previousFile: (name: String, lines: [ChainedLine], torn: Bool)?
        for file in files {
            v.segments += 1
            let name = (file as NSString).lastPathComponent
            guard let data = FileManager.default.contents(atPath: file) else { v.problem = "cannot read \(file)"; return v }
            let bytes = [UInt8](data)
            var rawLines = bytes.split(separator: 10)
            let unterminated = bytes.last != 10 && !rawLines.isEmpty
            let isLast = file == files.last
            if unterminated, live || !isLast { rawLines.removeLast() }
            var lines: [ChainedLine] = []
            for (i, raw) in rawLines.enumerated() {
                switch parse(raw) {
                case .malformed:
                    v.problem = "\(name):\(i + 1): not a hash-chained record"
                    return v
                case .modified:
                    v.problem = "\(name):\(i + 1): record was modified (hash mismatch)"
                    return v
                case .line(let l):
                    if let last = lines.last, l.prev != last.hash {
                        v.problem = "\(name):\(i + 1): chain broken (prev does not match the record before)"
                        return v
                    }
                    lines.append(l)
                    v.records += 1
                    if l.isOutage { v.outages += 1 }
                }
            }
            guard let first = lines.first else {
                // An empty segment links nothing; a torn line alone in one is abandoned.
                if unterminated && !isLast { v.abandoned += 1; v.abandonedIn.append(name) }
                continue
            }
            if let p = previousFile {
                // The link from this segment decides where the previous one's chain ended.
                guard let k = p.lines.lastIndex(where: { $0.hash == first.prev }) else {
                    v.problem = "\(name):1: chain broken (prev does not match the end of \(p.name))"
                    return v
                }
                let dropped = p.lines[(k + 1)...]
                v.records -= dropped.count
                v.outages -= dropped.filter(\.isOutage).count
                let abandoned = dropped.count + (p.torn ? 1 : 0)
                if abandoned > 0 { v.abandoned += abandoned; v.abandonedIn.append(p.name) }
            }
            previousFile = (name, lines, unterminated && !isLast)
        }
        return v
    }
}
