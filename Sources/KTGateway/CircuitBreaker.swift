import KTModel

/// Per-target circuit breaker: closed → open after `failureThreshold` consecutive failures →
/// half-open after `cooldown` (one probe at a time) → closed on a probe success, open again on
/// a probe failure. Time is passed in, so the machine is tested without waiting.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed(consecutiveFailures: Int)
        case open(until: ContinuousClock.Instant)
        case halfOpen(probeInFlight: Bool)
    }

    public private(set) var state = State.closed(consecutiveFailures: 0)
    public var failureThreshold: Int
    public var cooldown: Duration

    public init(settings: CircuitBreakerSettings) {
        failureThreshold = settings.failureThreshold
        cooldown = .seconds(settings.cooldownSeconds)
    }

    /// Whether a request may go to this target now; moves open → half-open after the cooldown.
    public mutating func allowRequest(now: ContinuousClock.Instant) -> Bool {
        switch state {
        case .closed:
            return true
        case .open(let until):
            guard now >= until else { return false }
            state = .halfOpen(probeInFlight: true)
            return true
        case .halfOpen(let probing):
            if probing { return false }
            state = .halfOpen(probeInFlight: true)
            return true
        }
    }

    public mutating func recordSuccess() {
        state = .closed(consecutiveFailures: 0)
    }

    public mutating func recordFailure(now: ContinuousClock.Instant) {
        switch state {
        case .closed(let n):
            state = n + 1 >= failureThreshold ? .open(until: now + cooldown) : .closed(consecutiveFailures: n + 1)
        case .halfOpen:
            state = .open(until: now + cooldown)
        case .open:
            break
        }
    }

    /// A probe that ended without a verdict (cancelled) lets the next request probe.
    public mutating func recordAbandoned() {
        if case .halfOpen = state { state = .halfOpen(probeInFlight: false) }
    }

    public var name: String {
        switch state {
        case .closed: return "closed"
        case .open: return "open"
        case .halfOpen: return "half_open"
        }
    }

    /// Prometheus gauge value: 0 closed, 1 open, 2 half-open.
    public var gaugeValue: Int {
        switch state {
        case .closed: return 0
        case .open: return 1
        case .halfOpen: return 2
        }
    }
}
