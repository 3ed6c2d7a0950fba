import Foundation
import Synchronization

/// Runs CPU-heavy policy evaluation on threads of its own, so the cooperative pool that also
/// answers `/healthz`, heartbeats and small requests never waits behind a megabyte prompt.
///
/// A fixed number of threads (one per core, at least two) takes jobs in order from a bounded queue; when the queue is full the caller is told
/// at once (`Overloaded`, answered 503) instead of queueing without bound.
public final class PolicyExecutor: Sendable {
    public struct Overloaded: Error, Sendable {}

    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var head = 0
        var stopped = false
    }

    private let state = Mutex(State())
    private let available = DispatchSemaphore(value: 0)
    public let threadCount: Int
    public let queueLimit: Int

    public static let shared = PolicyExecutor()

    public init(threads: Int = max(2, ProcessInfo.processInfo.activeProcessorCount), queueLimit: Int = 4096) {
        threadCount = threads
        self.queueLimit = queueLimit
        for i in 0..<threads {
            let t = Thread { [self] in work() }
            t.name = "kt-policy-\(i)"
            t.stackSize = 4 << 20
            t.start()
        }
    }

    /// Runs `body` on a policy thread and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async throws(Overloaded) -> T {
        let result: T? = await withCheckedContinuation { (c: CheckedContinuation<T?, Never>) in
            let accepted = state.withLock { s -> Bool in
                guard !s.stopped, s.jobs.count - s.head < queueLimit else { return false }
                s.jobs.append { c.resume(returning: body()) }
                return true
            }
            if accepted { available.signal() } else { c.resume(returning: nil) }
        }
        guard let result else { throw Overloaded() }
        return result
    }

    /// Jobs waiting for a thread.
    public var queued: Int { state.withLock { $0.jobs.count - $0.head } }

    private func work() {
        // Same priority as the I/O threads: a lower one (nice 5 was tried) cost 1.3 ms per
        // request at c=1 on 2 cores, and the pool is free anyway.
        while true {
            available.wait()
            let job = state.withLock { s -> (@Sendable () -> Void)? in
                guard s.head < s.jobs.count else { return nil }
                let j = s.jobs[s.head]
                s.head += 1
                if s.head > 1024, s.head * 2 > s.jobs.count {
                    s.jobs.removeFirst(s.head)
                    s.head = 0
                }
                return j
            }
            job?()
        }
    }
}
