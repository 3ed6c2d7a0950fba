import KTModel

/// The rollout state machine (PRODUCT.md §7), a plain value: events in, the action for the
/// coordinator to perform out. No I/O and no clock of its own, so every transition is tested
/// directly; the coordinator persists the machine after each transition, before acting.
public struct RolloutMachine: Sendable, Equatable {
    public enum Status: String, Sendable {
        case pending, pushing, judging, pausing
        /// Inconclusive health (too little traffic): waits for traffic, resume or abort.
        case paused
        /// A batch failed without --rollback-on-error: waits for resume, rollback or abort.
        case failed
        case rollingBack = "rolling_back"
        case succeeded, aborted
        case rolledBack = "rolled_back"

        public var isTerminal: Bool { self == .succeeded || self == .aborted || self == .rolledBack }
    }

    public enum Judgement: Sendable, Equatable {
        case pass(String)
        case fail(String)
        case inconclusive(String)
    }

    public enum Event: Sendable, Equatable {
        case start(now: Double)
        /// Every gateway of the batch answered: `applied` ACKed, `failed` NACKed / missed the deadline / offline.
        case batchPushed(applied: [String], failed: [String: String], now: Double)
        /// The health window (or canary duration) ended with this judgement, or a check during it failed.
        case judged(Judgement, now: Double)
        /// A check while pausing or while paused (inconclusive) came back.
        case checked(Judgement, now: Double)
        case pauseElapsed(now: Double)
        case resume(now: Double)
        case abort(now: Double)
        case rollback(now: Double)
        case rollbackFinished(restored: [String], failed: [String: String], now: Double)
        /// The state after a transition could not be stored: the rollout stops.
        case storageFailed(String, now: Double)
    }

    public enum Action: Sendable, Equatable {
        case push(batch: Int, gateways: [String])
        /// Watch health until `until` (checks may fail early), then judge.
        case watch(batch: Int, until: Double)
        case pause(until: Double)
        /// Re-check periodically (inconclusive pause).
        case awaitTraffic
        case rollback(gateways: [String])
        /// Nothing to do until an operator acts.
        case wait
        case finished
        /// The event does not apply in this state; the string says why (returned to the caller).
        case rejected(String)
    }

    public var status: Status = .pending
    public var batches: [[String]]
    public var batch = 0
    /// Gateways whose desired config this rollout changed (they go back on rollback).
    public var pushed: [String] = []
    public var applied: [String] = []
    public var windowStart: Double?
    public var deadline: Double?
    public var reason: String?
    public var rollbackOnError: Bool
    public var healthWindow: Double
    public var pauseBetween: Double
    /// Canary: the first batch is watched this long instead of `healthWindow`.
    public var canaryDuration: Double?
    /// Set when storage failed: the status it stopped in. Resume continues from there as a
    /// restart would (a rollback goes on rolling back, a push is re-sent).
    public var stoppedFrom: Status?

    public init(batches: [[String]], rollbackOnError: Bool, healthWindow: Double, pauseBetween: Double, canaryDuration: Double? = nil) {
        self.batches = batches
        self.rollbackOnError = rollbackOnError
        self.healthWindow = healthWindow
        self.pauseBetween = pauseBetween
        self.canaryDuration = canaryDuration
    }

    var windowLength: Double { batch == 0 && canaryDuration != nil ? canaryDuration! : healthWindow }

    public mutating func handle(_ event: Event) -> Action {
        switch (status, event) {
        case (let s, .storageFailed(let why, _)):
            // Even a finished rollout: one whose success could not be stored is not reported as such.
            if s != .failed || stoppedFrom == nil { stoppedFrom = s }
            status = .failed
            reason = "cannot store the rollout's state: \(why)"
            deadline = nil
            return .wait
        case (.failed, .resume(let now)) where stoppedFrom != nil:
            status = stoppedFrom!
            stoppedFrom = nil
            reason = nil
            return resumeAfterRestart(now: now)

        case (.pending, .start):
            guard !batches.isEmpty else { status = .succeeded; return .finished }
            return pushBatch(0)

        case (.pushing, .batchPushed(let ok, let failed, let now)):
            applied += ok.filter { !applied.contains($0) }
            if !failed.isEmpty {
                let text = failed.keys.sorted().map { "\($0): \(failed[$0]!)" }.joined(separator: "; ")
                return fail("batch \(batch + 1) failed: \(text)")
            }
            return startWindow(now)

        case (.judging, .judged(let j, let now)):
            switch j {
            case .pass: return nextBatch(now)
            case .fail(let why): return fail("batch \(batch + 1) health check failed: \(why)")
            case .inconclusive(let why):
                status = .paused
                reason = "inconclusive: \(why)"
                return .awaitTraffic
            }

        case (.pausing, .checked(.fail(let why), _)):
            return fail("health check failed during the pause after batch \(batch + 1): \(why)")
        case (.pausing, .checked):
            return .pause(until: deadline!)
        case (.pausing, .pauseElapsed):
            return pushBatch(batch + 1)

        case (.paused, .checked(.pass, let now)):
            reason = nil
            return nextBatch(now)
        case (.paused, .checked(.fail(let why), _)):
            return fail("batch \(batch + 1) health check failed: \(why)")
        case (.paused, .checked(.inconclusive, _)):
            return .awaitTraffic

        case (.paused, .resume(let now)):
            // The operator accepts the inconclusive window.
            reason = nil
            return nextBatch(now)
        case (.failed, .resume):
            // Retry the failed batch.
            reason = nil
            return pushBatch(batch)

        case (.failed, .rollback), (.paused, .rollback), (.judging, .rollback), (.pausing, .rollback), (.succeeded, .rollback),
             (.aborted, .rollback), (.pushing, .rollback):
            return startRollback()

        case (.rollingBack, .rollbackFinished(_, let failed, _)):
            status = .rolledBack
            deadline = nil
            if !failed.isEmpty { reason = (reason.map { $0 + "; " } ?? "") + "not restored: " + failed.keys.sorted().map { "\($0) (\(failed[$0]!))" }.joined(separator: ", ") }
            return .finished

        case (.rollingBack, .abort):
            return .rejected("a rollback is in progress and cannot be aborted; it restores every updated gateway")
        case (let s, .abort) where !s.isTerminal:
            stoppedFrom = nil
            status = .aborted
            reason = "aborted by an operator"
            deadline = nil
            return .finished

        default:
            return .rejected("cannot \(Self.name(event)) a rollout that is \(status.rawValue)")
        }
    }

    static func name(_ e: Event) -> String {
        switch e {
        case .resume: return "resume"
        case .abort: return "abort"
        case .rollback: return "roll back"
        default: return "apply that event to"
        }
    }

    private mutating func pushBatch(_ i: Int) -> Action {
        batch = i
        status = .pushing
        deadline = nil
        windowStart = nil
        for g in batches[i] where !pushed.contains(g) { pushed.append(g) }
        return .push(batch: i, gateways: batches[i])
    }

    private mutating func startWindow(_ now: Double) -> Action {
        guard windowLength > 0 else { return nextBatch(now) }
        status = .judging
        windowStart = now
        deadline = now + windowLength
        return .watch(batch: batch, until: deadline!)
    }

    private mutating func nextBatch(_ now: Double) -> Action {
        if batch + 1 >= batches.count {
            status = .succeeded
            deadline = nil
            return .finished
        }
        if pauseBetween > 0 {
            status = .pausing
            deadline = now + pauseBetween
            return .pause(until: deadline!)
        }
        return pushBatch(batch + 1)
    }

    private mutating func fail(_ why: String) -> Action {
        reason = why
        if rollbackOnError { return startRollback() }
        status = .failed
        deadline = nil
        return .wait
    }

    private mutating func startRollback() -> Action {
        stoppedFrom = nil
        status = .rollingBack
        deadline = nil
        return .rollback(gateways: pushed)
    }

    /// What to do after a restart, from the persisted state: a pause continues for its remaining
    /// time, a health window restarts, a push or rollback is re-sent (both are idempotent).
    public mutating func resumeAfterRestart(now: Double) -> Action {
        switch status {
        case .pending: return handle(.start(now: now))
        case .pushing: return .push(batch: batch, gateways: batches[batch])
        case .judging: return startWindow(now)
        case .pausing: return .pause(until: deadline ?? now)
        case .paused: return .awaitTraffic
        case .failed: return .wait
        case .rollingBack: return .rollback(gateways: pushed)
        case .succeeded, .aborted, .rolledBack: return .finished
        }
    }
}
