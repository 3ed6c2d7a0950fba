/// Durations as people type them: `500ms`, `30s`, `10m`, `1h`, `1m30s`, or plain seconds.
public enum DurationSyntax {
    public struct Problem: Error, Sendable { public var message: String }

    /// The longest duration accepted anywhere (about ten years): longer is a typo or an attack,
    /// and would overflow the integer clocks it is converted to.
    public static let maxSeconds: Double = 315_360_000

    /// Seconds, or the problem with `text`.
    public static func seconds(_ text: String) -> Result<Double, Problem> {
        switch unbounded(text) {
        case .success(let s) where s > maxSeconds:
            return .failure(Problem(message: "'\(text.prefix(40))' is longer than the maximum of \(Int(maxSeconds)) seconds (10 years)"))
        case let other:
            return other
        }
    }

    private static func unbounded(_ text: String) -> Result<Double, Problem> {
        guard text.utf8.count <= 64 else { return .failure(Problem(message: "'\(text.prefix(40))…' is not a duration (e.g. 500ms, 30s, 10m)")) }
        if let seconds = Double(text), seconds >= 0, seconds.isFinite { return .success(seconds) }
        var total: Double = 0
        var number = ""
        var rest = Substring(text)
        var sawUnit = false
        while let c = rest.first {
            if c.isASCII && (c.isNumber || c == ".") {
                number.append(c)
                rest = rest.dropFirst()
                continue
            }
            let unit = rest.hasPrefix("ms") ? "ms" : String(c)
            rest = rest.dropFirst(unit.count)
            guard let value = Double(number) else { return .failure(Problem(message: "'\(text)' is not a duration (e.g. 500ms, 30s, 10m)")) }
            switch unit {
            case "ms": total += value / 1000
            case "s": total += value
            case "m": total += value * 60
            case "h": total += value * 3600
            default: return .failure(Problem(message: "'\(text)': unknown unit '\(unit)'; use ms, s, m or h"))
            }
            number = ""
            sawUnit = true
        }
        guard sawUnit, number.isEmpty, total.isFinite else { return .failure(Problem(message: "'\(text)' is not a duration (e.g. 500ms, 30s, 10m)")) }
        return .success(total)
    }
}
