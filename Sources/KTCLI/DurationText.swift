/// Durations as operators write them: `250ms`, `30s`, `10m`, `1h`, `1h30m`; a bare number is seconds.
public enum DurationText {
    public static func parse(_ text: String, flag: String) throws(UsageError) -> Duration {
        if let seconds = Double(text), seconds >= 0 { return .milliseconds(Int64(seconds * 1000)) }
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
            let unit: String
            if rest.hasPrefix("ms") { unit = "ms" } else { unit = String(c) }
            rest = rest.dropFirst(unit.count)
            guard let value = Double(number) else { throw UsageError("\(flag) '\(text)' is not a duration (e.g. 500ms, 30s, 10m)", command: flag) }
            switch unit {
            case "ms": total += value / 1000
            case "s": total += value
            case "m": total += value * 60
            case "h": total += value * 3600
            default: throw UsageError("\(flag) '\(text)': unknown unit '\(unit)'; use ms, s, m or h", command: flag)
            }
            number = ""
            sawUnit = true
        }
        guard sawUnit, number.isEmpty else { throw UsageError("\(flag) '\(text)' is not a duration (e.g. 500ms, 30s, 10m)", command: flag) }
        return .milliseconds(Int64(total * 1000))
    }
}
