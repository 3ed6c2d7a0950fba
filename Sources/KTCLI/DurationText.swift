import KTModel

/// `--flag 30s` values; a bad one is a usage error naming the flag.
public enum DurationText {
    public static func parse(_ text: String, flag: String) throws(UsageError) -> Duration {
        switch DurationSyntax.seconds(text) {
        case .success(let s): return .milliseconds(Int64(s * 1000))
        case .failure(let problem): throw UsageError("\(flag) \(problem.message)", command: flag)
        }
    }
}
