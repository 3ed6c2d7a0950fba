/// Removes secrets from diagnostics before they leave a process (doctor answers, support
/// bundles). Three nets, because no single one is enough:
/// 1. exact values the caller knows are secret (a gateway knows its resolved provider keys);
/// 2. string values under keys named like secrets (`api_key`, `password`, `*_token`, …);
/// 3. shapes of credentials inside any string: `Bearer …`, kt tokens, `sk-…` keys, URL userinfo.
/// `secret_key_ref` objects are kept: they name where a key lives (`env: OPENAI_API_KEY`), not the key.
public struct SecretScrubber: Sendable {
    public static let mask = "[redacted]"
    /// Secret values to replace wherever they appear (shorter than 6 characters are ignored: too
    /// likely to match ordinary text, and too short to be a real key).
    public var knownSecrets: [String]

    public init(knownSecrets: [String] = []) {
        self.knownSecrets = knownSecrets.filter { $0.count >= 6 }.sorted { $0.count > $1.count }
    }

    public func scrub(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string(let s): return .string(scrub(s))
        case .array(let a): return .array(a.map(scrub))
        case .object(let pairs):
            return .object(pairs.map { k, v in
                if Self.isSecretKey(k), case .string(let s) = v, !s.isEmpty { return (k, .string(Self.mask)) }
                return (k, scrub(v))
            })
        default: return value
        }
    }

    public func scrub(_ text: String) -> String {
        var s = text
        for secret in knownSecrets where s.contains(secret) { s = s.replacingOccurrences(of: secret, with: Self.mask) }
        guard s.utf8.count >= 8 else { return s }
        s = Self.maskAfter(prefixes: ["Bearer ", "bearer ", "Basic ", "basic "], in: s, minLength: 1)
        s = Self.maskAfter(prefixes: ["ktv_", "kto_", "kta_", "ktg_", "sk-", "sk_live_", "xoxb-", "ghp_", "AKIA"], in: s, minLength: 12)
        s = Self.maskUserinfo(s)
        return s
    }

    /// Keys whose string values are credentials.
    public static func isSecretKey(_ key: String) -> Bool {
        let k = key.lowercased().replacingOccurrences(of: "-", with: "_")
        if k == "secret_key_ref" { return false }
        if ["api_key", "apikey", "password", "passwd", "secret", "token", "authorization", "bearer", "credential", "credentials",
            "private_key", "client_secret", "access_key", "secret_key", "admin_token", "cookie", "set_cookie"].contains(k) { return true }
        return k.hasSuffix("_api_key") || k.hasSuffix("_token") || k.hasSuffix("_secret") || k.hasSuffix("_password")
    }

    /// Replaces the token that follows each prefix (up to whitespace, quote or delimiter); the prefix stays.
    static func maskAfter(prefixes: [String], in text: String, minLength: Int) -> String {
        guard prefixes.contains(where: { text.contains($0) }) else { return text }
        var out = ""
        var rest = Substring(text)
        outer: while !rest.isEmpty {
            for p in prefixes where rest.hasPrefix(p) {
                // Only at a word start: "desk-top" must not match "sk-".
                if let last = out.unicodeScalars.last, last.properties.isAlphabetic || ("0"..."9").contains(last) { break }
                let afterPrefix = rest.dropFirst(p.count)
                let token = afterPrefix.prefix { !$0.isWhitespace && !"\"'`,;)]}<>".contains($0) }
                if token.count >= minLength {
                    out += p + mask
                    rest = afterPrefix.dropFirst(token.count)
                    continue outer
                }
            }
            out.append(rest.removeFirst())
        }
        return out
    }

    /// `scheme://user:pass@host` → `scheme://[redacted]@host`.
    static func maskUserinfo(_ text: String) -> String {
        guard text.contains("://"), text.contains("@") else { return text }
        var out = ""
        var rest = Substring(text)
        while let r = rest.range(of: "://") {
            out += rest[..<r.upperBound]
            rest = rest[r.upperBound...]
            let authority = rest.prefix { !"/?# \"'".contains($0) }
            if let at = authority.lastIndex(of: "@") {
                out += mask
                rest = rest[at...]
            }
        }
        return out + rest
    }
}
