/// Tells OpenAI-SDK-style clients whether repeating a request can help (`x-should-retry`, which
/// the official SDKs obey before their own status rules). They retry 408, 409, 429 and 5xx by
/// default: a policy block (409) or a malformed request repeated is the same answer three
/// times, three block events, and seconds of backoff for the user.
public enum RetryHint {
    /// Statuses a retry cannot change: the request itself is refused.
    public static let neverRetried: Set<Int> = [400, 401, 403, 404, 405, 409, 413, 415, 422, 431, 501]

    /// `x-should-retry: false` for those; nothing for the rest (429 keeps `retry-after`; 5xx,
    /// 504 and 408 may succeed when repeated, and the client decides).
    public static func header(forStatus status: Int) -> (String, String)? {
        neverRetried.contains(status) ? ("x-should-retry", "false") : nil
    }
}
