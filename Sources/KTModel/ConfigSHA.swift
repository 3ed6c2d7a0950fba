/// Config shas are shown short (12 hex) and stored full (64): both name the same config.
public enum ConfigSHA {
    public static func matches(_ a: String, _ b: String) -> Bool {
        guard !a.isEmpty, !b.isEmpty else { return false }
        return a.count <= b.count ? b.hasPrefix(a) : a.hasPrefix(b)
    }
}
