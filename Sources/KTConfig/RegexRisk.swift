/// Finds the shape behind catastrophic backtracking in a regular expression: a quantified group
/// whose body can itself repeat (`(a+)+`, `(\w*)*`, `(a|aa)+` is not caught, `(x+y?)+` is).
/// A cheap syntactic check for lint (W005); the gateway still runs every config pattern against
/// its evaluation budget, so a pattern this misses cannot freeze it either.
public enum RegexRisk {
    /// The first nested quantifier, as the text of the offending group, or nil.
    public static func nestedQuantifier(in pattern: String) -> String? {
        let s = Array(pattern.unicodeScalars)
        // Per open group: where it starts and whether its body has a repeating quantifier.
        var stack: [(start: Int, repeats: Bool)] = []
        var i = 0
        var inClass = false
        while i < s.count {
            let c = s[i]
            if c == "\\" { i += 2; continue }
            if inClass {
                if c == "]" { inClass = false }
                i += 1
                continue
            }
            switch c {
            case "[":
                inClass = true
            case "(":
                stack.append((i, false))
            case ")":
                guard let group = stack.popLast() else { break }
                let next = i + 1
                if group.repeats, isRepeating(s, at: next) {
                    return String(String.UnicodeScalarView(s[group.start...min(next, s.count - 1)]))
                }
                // The group's own repetition makes the enclosing group's body repeating too.
                if group.repeats || isRepeating(s, at: next), !stack.isEmpty { stack[stack.count - 1].repeats = true }
            case "+", "*":
                if !stack.isEmpty { stack[stack.count - 1].repeats = true }
            case "{":
                if isRepeating(s, at: i), !stack.isEmpty { stack[stack.count - 1].repeats = true }
            default:
                break
            }
            i += 1
        }
        return nil
    }

    /// `+`, `*` or `{n,}` / `{n,m}` with m > 1 at `i` (a variable number of repeats).
    static func isRepeating(_ s: [Unicode.Scalar], at i: Int) -> Bool {
        guard i < s.count else { return false }
        if s[i] == "+" || s[i] == "*" { return true }
        guard s[i] == "{" else { return false }
        var j = i + 1
        var text = ""
        while j < s.count, s[j] != "}" { text.unicodeScalars.append(s[j]); j += 1 }
        guard j < s.count else { return false }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard let first = parts.first, Int(first) != nil || first.isEmpty else { return false }
        if parts.count == 1 { return false }   // {n}: a fixed count cannot backtrack
        return parts[1].isEmpty || (Int(parts[1]) ?? 0) > 1
    }
}
