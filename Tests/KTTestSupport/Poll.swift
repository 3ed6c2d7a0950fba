import Testing

/// Polls `condition` every 20 ms until it holds; records an issue naming `what` and returns
/// false when `timeout` passes first. (Tests wait for events this way, never by sleeping.)
public func poll(_ what: String, timeout: Duration = .seconds(20), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("timed out waiting until \(what)")
    return false
}
