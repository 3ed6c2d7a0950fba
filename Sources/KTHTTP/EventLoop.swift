import CKTShim
import Foundation
import Synchronization

/// One epoll loop on a dedicated thread. Everything that touches sockets runs here, so the
/// cooperative thread pool never blocks on I/O; other threads hand work in with `execute`.
final class EventLoop: @unchecked Sendable {
    private let epfd: Int32
    private let wakeFD: Int32
    private let jobs = Mutex<[@Sendable () -> Void]>([])
    private var handlers: [Int32: (UInt32) -> Void] = [:]   // loop thread only
    private var tickHandlers: [() -> Void] = []               // loop thread only
    private let running = Atomic<Bool>(true)
    /// Set while a wakeup is pending, so a burst of `execute` calls costs one eventfd write.
    private let wakePending = Atomic<Bool>(false)
    private let finished = Mutex<[CheckedContinuation<Void, Never>]>([])
    private let done = Atomic<Bool>(false)
    private var thread: Thread?

    init(name: String) throws {
        epfd = kt_epoll_create()
        wakeFD = kt_eventfd()
        guard epfd >= 0, wakeFD >= 0 else { throw HTTPServerError("could not create epoll/eventfd: errno \(errno)") }
        _ = kt_epoll_ctl(epfd, KT_EPOLL_CTL_ADD, wakeFD, KT_EPOLLIN)
        let t = Thread { [self] in self.run() }
        t.name = name
        t.stackSize = 1 << 20
        thread = t
        t.start()
    }

    /// Runs `job` on the loop thread, soon.
    func execute(_ job: @escaping @Sendable () -> Void) {
        jobs.withLock { $0.append(job) }
        if !wakePending.exchange(true, ordering: .acquiringAndReleasing) {
            _ = kt_eventfd_signal(wakeFD)
        }
    }

    /// Loop thread only.
    func register(_ fd: Int32, events: UInt32, handler: @escaping (UInt32) -> Void) {
        handlers[fd] = handler
        _ = kt_epoll_ctl(epfd, KT_EPOLL_CTL_ADD, fd, events)
    }

    func modify(_ fd: Int32, events: UInt32) { _ = kt_epoll_ctl(epfd, KT_EPOLL_CTL_MOD, fd, events) }

    func unregister(_ fd: Int32) {
        handlers[fd] = nil
        _ = kt_epoll_ctl(epfd, KT_EPOLL_CTL_DEL, fd, 0)
    }

    /// Called about every 100 ms on the loop thread (timeouts).
    func onTick(_ handler: @escaping () -> Void) { tickHandlers.append(handler) }

    func stop() {
        running.store(false, ordering: .releasing)
        _ = kt_eventfd_signal(wakeFD)
    }

    /// Returns once the loop thread has exited.
    func waitUntilStopped() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let alreadyDone = finished.withLock { list -> Bool in
                if done.load(ordering: .acquiring) { return true }
                list.append(c)
                return false
            }
            if alreadyDone { c.resume() }
        }
    }

    private func run() {
        var events = [kt_epoll_ready](repeating: kt_epoll_ready(), count: 256)
        var lastTick = DispatchTime.now().uptimeNanoseconds
        while running.load(ordering: .acquiring) {
            let n = events.withUnsafeMutableBufferPointer { kt_epoll_wait(epfd, $0.baseAddress, 256, 100) }
            if n < 0 {
                // EINTR is retried in the shim; anything else means our epoll descriptor was closed
                // by code that did not own it. Spinning on the error would hang every connection.
                let e = errno
                preconditionFailure("epoll_wait on descriptor \(epfd) failed: \(String(cString: strerror(e))); another part of the process closed it")
            }
            if n > 0 {
                for i in 0..<Int(n) {
                    let ev = events[i]
                    if ev.fd == wakeFD {
                        _ = kt_eventfd_drain(wakeFD)
                        continue
                    }
                    handlers[ev.fd]?(ev.events)
                }
            }
            // Clear the flag before taking the queue: a job added after this point signals again.
            wakePending.store(false, ordering: .releasing)
            let pending = jobs.withLock { q -> [@Sendable () -> Void] in
                let out = q
                q.removeAll(keepingCapacity: true)
                return out
            }
            for job in pending { job() }
            let now = DispatchTime.now().uptimeNanoseconds
            if now - lastTick >= 100_000_000 {
                lastTick = now
                for tick in tickHandlers { tick() }
            }
        }
        // Run what was queued before stop so no continuation is left hanging.
        let pending = jobs.withLock { q -> [@Sendable () -> Void] in let out = q; q.removeAll(); return out }
        for job in pending { job() }
        close(epfd)
        close(wakeFD)
        let waiters = finished.withLock { list -> [CheckedContinuation<Void, Never>] in
            done.store(true, ordering: .releasing)
            let out = list
            list.removeAll()
            return out
        }
        for w in waiters { w.resume() }
    }
}

public struct HTTPServerError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
