/// Durations as people type them: `500ms`, `30s`, `10m`, `1h`, `1m30s`, or plain seconds.
public enum DurationSyntax {
    public struct Problem: Error, Sendable { public var message: String }

    /// Seconds, or the problem with `text`.
    public static func seconds(_ text: String) -> Result<Double, Problem> {
        if let seconds = Double(text), seconds >= 0, seconds.isFinite { return .success(seconds) }
        var total: Double = 0
        var number = ""
        var rest = Substring(text)
        var sawUnit = false
        while let c = rest.first {
            if c.isNumber || c == "." {
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
        guard sawUnit, number.isEmpty else { return .failure(Problem(message: "'\(text)' is not a duration (e.g. 500ms, 30s, 10m)")) }
        return .success(total)
    }
}
