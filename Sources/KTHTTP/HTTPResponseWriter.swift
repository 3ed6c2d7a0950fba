import Foundation
import Synchronization

/// Writes one response. Safe to use from any task; bytes are serialised on the caller's thread
/// and handed to the connection's loop. When the client disconnects, the handler's task is
/// cancelled (so an upstream transfer it is awaiting stops) and `isClientGone` turns true.
public final class HTTPResponseWriter: Sendable {
    private enum Phase { case initial, streaming, ended }
    private struct State {
        var phase = Phase.initial
        var clientGone = false
        var task: Task<Void, Never>?
        var goneWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
        var cancelledWaiters: Set<Int> = []
        /// Decided when the head is written: a response that starts during shutdown closes.
        var keepAlive = true
        /// Bytes handed to the loop and not yet on the connection's queue.
        var inTransit = 0
        /// The connection's queue of unsent bytes, as it last reported.
        var queued = 0
        /// Writers parked above the high watermark (one at a time in practice).
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// Above this many unsent bytes `write` suspends until the client has taken the queue down
    /// to the low watermark (NIOAsyncWriter's and hummingbird's ResponseBodyWriter's model).
    public static let highWatermark = 256 * 1024
    public static let lowWatermark = 64 * 1024

    private let connection: Connection
    private let loop: EventLoop
    private let requestedKeepAlive: Bool
    private let isHead: Bool
    /// The request was HTTP/1.0: streams are close-delimited, keep-alive is announced.
    private let isHTTP10: Bool
    private let server: HTTPServer
    private let state = Mutex(State())

    init(connection: Connection, server: HTTPServer, keepAlive: Bool, isHead: Bool, isHTTP10: Bool = false) {
        self.isHTTP10 = isHTTP10
        self.connection = connection
        self.loop = server.loop
        self.server = server
        self.requestedKeepAlive = keepAlive
        self.isHead = isHead
    }

    private func decideKeepAlive() -> Bool {
        let keep = requestedKeepAlive && !server.state.withLock { $0.draining }
        state.withLock { $0.keepAlive = keep }
        return keep
    }

    var task: Task<Void, Never>? {
        get { state.withLock { $0.task } }
        set {
            let cancelNow = state.withLock { s -> Bool in
                s.task = newValue
                return s.clientGone
            }
            if cancelNow { newValue?.cancel() }
        }
    }

    public var isClientGone: Bool { state.withLock { $0.clientGone } }
    public var hasStarted: Bool { state.withLock { $0.phase != .initial } }

    /// Suspends until the client disconnects (returns at once if it already has, or when the
    /// waiting task is cancelled).
    public func waitForClientGone() async {
        let id = state.withLock { s -> Int in s.nextWaiter += 1; return s.nextWaiter }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.clientGone || s.cancelledWaiters.remove(id) != nil { return true }
                    s.goneWaiters[id] = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
                if let c = s.goneWaiters.removeValue(forKey: id) { return c }
                s.cancelledWaiters.insert(id)
                return nil
            }
            c?.resume()
        }
    }

    /// A complete response in one write (head and body together).
    public func respond(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        guard transition(from: .initial, to: .ended) else { return }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256 + body.count)
        HTTPResponseHead.serialize(status: status, headers: headers, framing: .contentLength(body.count), keepAlive: decideKeepAlive(),
                                   announceKeepAlive: isHTTP10, into: &bytes)
        if !isHead { bytes.append(contentsOf: body) }
        send(bytes, ended: true)
    }

    /// Starts a chunked (streamed) response; follow with `writeChunk` and `end`.
    public func startStream(status: Int, headers: HTTPHeaders) {
        guard transition(from: .initial, to: .streaming) else { return }
        var bytes: [UInt8] = []
        if isHTTP10 {
            // No chunked coding for HTTP/1.0: the body runs until the connection closes.
            state.withLock { $0.keepAlive = false }
            HTTPResponseHead.serialize(status: status, headers: headers, framing: .closeDelimited, keepAlive: false, into: &bytes)
        } else {
            HTTPResponseHead.serialize(status: status, headers: headers, framing: .chunked, keepAlive: decideKeepAlive(), into: &bytes)
        }
        send(bytes, ended: false)
    }

    /// Writes one chunk of a streamed response; suspends while the client is slower than the
    /// producer (more than `highWatermark` bytes unsent), so the producer's source (an upstream
    /// read, an event feed) pauses with it. Returns at once once the client is gone.
    public func writeChunk(_ body: some Collection<UInt8>) async {
        guard !body.isEmpty, state.withLock({ $0.phase == .streaming }) else { return }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(body.count + 12)
        if isHTTP10 { bytes.append(contentsOf: body) } else { HTTPResponseHead.chunk(body, into: &bytes) }
        send(bytes, ended: false)
        await waitForDrain()
    }

    /// Unsent bytes of this response (in transit to the loop, or queued on the socket).
    public var pendingBytes: Int { state.withLock { $0.inTransit + $0.queued } }

    private func waitForDrain() async {
        guard state.withLock({ $0.inTransit + $0.queued > Self.highWatermark && !$0.clientGone }) else { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.clientGone || s.inTransit + s.queued <= Self.lowWatermark { return true }
                s.drainWaiters.append(c)
                return false
            }
            if resumeNow { c.resume() }
        }
    }

    /// Loop thread: the connection's queue level after it took `delivered` bytes of ours.
    func connectionQueue(level: Int, delivered: Int) {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.inTransit = max(0, s.inTransit - delivered)
            s.queued = level
            guard s.inTransit + s.queued <= Self.lowWatermark, !s.drainWaiters.isEmpty else { return [] }
            defer { s.drainWaiters.removeAll() }
            return s.drainWaiters
        }
        for w in waiters { w.resume() }
    }

    /// Ends a streamed response cleanly.
    public func endStream() {
        guard transition(from: .streaming, to: .ended) else { return }
        send(isHTTP10 ? [] : HTTPResponseHead.lastChunk, ended: true)
    }

    /// Ends a streamed response *without* the terminating chunk and closes the connection, so the
    /// client sees a truncated body rather than a clean end.
    public func abortStream() {
        guard transition(from: .streaming, to: .ended) else { return }
        let connection = self.connection
        loop.execute { connection.close() }
    }

    private func transition(from: Phase, to: Phase) -> Bool {
        state.withLock { s in
            guard s.phase == from else { return false }
            s.phase = to
            return true
        }
    }

    private func send(_ bytes: [UInt8], ended: Bool) {
        let connection = self.connection
        let keepAlive = state.withLock { s -> Bool in
            s.inTransit += bytes.count
            return s.keepAlive
        }
        loop.execute { [self] in
            connection.enqueue(bytes, from: self)
            if ended { connection.responseEnded(self, keepAlive: keepAlive) }
        }
    }

    /// A handler that returned without answering gets a 500; an unfinished stream is ended.
    func finishIfHandlerForgot() {
        let phase = state.withLock { $0.phase }
        switch phase {
        case .initial:
            respond(status: 500, headers: HTTPHeaders([("content-type", "text/plain")]), body: Array("handler produced no response\n".utf8))
        case .streaming:
            endStream()
        case .ended:
            break
        }
    }

    func connectionDidClose() {
        let (task, waiters) = state.withLock { s -> (Task<Void, Never>?, [CheckedContinuation<Void, Never>]) in
            s.clientGone = true
            if s.phase != .ended { s.phase = .ended }
            let w = Array(s.goneWaiters.values) + s.drainWaiters
            s.goneWaiters.removeAll()
            s.drainWaiters.removeAll()
            return (s.task, w)
        }
        task?.cancel()
        for w in waiters { w.resume() }
    }
}
