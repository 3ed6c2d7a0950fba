import CKTShim
import Foundation
import Synchronization

/// An HTTP/1.1 server on our own sockets: one epoll loop thread, handlers as async tasks.
///
/// Keep-alive and pipelining (requests answered in order: the next pipelined request is
/// dispatched when the previous response ends), Content-Length and chunked request bodies,
/// streamed chunked responses, limits (header size 431, body size 413, header-read timeout,
/// idle timeout, max connections) and graceful shutdown.
public final class HTTPServer: Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var maxConnections: Int
        /// The whole head must arrive within this time once it starts (slowloris).
        public var headerTimeout: Duration
        /// An idle keep-alive connection is closed after this.
        public var idleTimeout: Duration
        /// A request body that stops arriving for this long is abandoned.
        public var bodyTimeout: Duration
        public var maxHeaderBytes: Int
        public var maxBodyBytes: Int

        public init(host: String = "127.0.0.1", port: Int = 0, maxConnections: Int = 10_000,
                    headerTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(75),
                    bodyTimeout: Duration = .seconds(30), maxHeaderBytes: Int = 16 * 1024, maxBodyBytes: Int = 1 << 20) {
            self.host = host
            self.port = port
            self.maxConnections = maxConnections
            self.headerTimeout = headerTimeout
            self.idleTimeout = idleTimeout
            self.bodyTimeout = bodyTimeout
            self.maxHeaderBytes = maxHeaderBytes
            self.maxBodyBytes = maxBodyBytes
        }
    }

    public typealias Handler = @Sendable (HTTPRequest, HTTPResponseWriter) async -> Void
    /// Builds the body of an error the server itself answers (bad framing, limits, timeouts).
    public typealias ErrorResponder = @Sendable (_ status: Int, _ message: String) -> (contentType: String, body: [UInt8])

    let configuration: Configuration
    let handler: Handler
    let errorResponder: ErrorResponder
    let loop: EventLoop
    let registry = ConnectionRegistry()
    let state: Mutex<SharedState>
    /// Adjustable at run time (a config reload changes size_limits).
    private let maxBodyBytes: Atomic<Int>

    struct SharedState {
        var listenFD: Int32 = -1
        var port = 0
        var openConnections = 0
        var acceptedTotal = 0
        var draining = false
        /// The first `shutdown` drives the drain; later calls only wait for the loop to stop.
        var shutdownStarted = false
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
    }

    public init(configuration: Configuration, errorResponder: ErrorResponder? = nil, handler: @escaping Handler) throws {
        self.configuration = configuration
        self.handler = handler
        self.errorResponder = errorResponder ?? { status, message in
            ("text/plain; charset=utf-8", Array("\(status) \(HTTPResponseHead.reason(status)): \(message)\n".utf8))
        }
        self.loop = try EventLoop(name: "kt-http")
        self.state = Mutex(SharedState())
        self.maxBodyBytes = Atomic(configuration.maxBodyBytes)
    }

    public var port: Int { state.withLock { $0.port } }
    public var openConnections: Int { state.withLock { $0.openConnections } }

    public func setMaxBodyBytes(_ n: Int) { maxBodyBytes.store(n, ordering: .relaxed) }
    var currentMaxBodyBytes: Int { maxBodyBytes.load(ordering: .relaxed) }

    /// Binds and starts accepting. Returns the bound port (useful with port 0).
    @discardableResult
    public func start() async throws -> Int {
        let fd = kt_listen_tcp(configuration.host, Int32(configuration.port), 1024)
        guard fd >= 0 else {
            let reason = String(cString: strerror(-fd))
            throw HTTPServerError("cannot listen on \(configuration.host):\(configuration.port): \(reason)")
        }
        let port = Int(kt_local_port(fd))
        state.withLock {
            $0.listenFD = fd
            $0.port = port
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            loop.execute { [self] in
                loop.register(fd, events: KT_EPOLLIN) { [self] _ in acceptAll(fd) }
                loop.onTick { [self] in registry.tick() }
                c.resume()
            }
        }
        return port
    }

    private func acceptAll(_ listenFD: Int32) {
        while true {
            let fd = kt_accept_nonblocking(listenFD)
            if fd < 0 { return }  // EAGAIN, or a transient error; epoll tells us again
            let admitted = state.withLock { s -> Bool in
                guard !s.draining, s.openConnections < configuration.maxConnections else { return false }
                s.openConnections += 1
                s.acceptedTotal += 1
                return true
            }
            guard admitted else {
                // Over the limit: a short 503 and close, so clients see why.
                var out: [UInt8] = []
                let (type, body) = errorResponder(503, "the server is at its connection limit")
                var h = HTTPHeaders()
                h.add("content-type", type)
                HTTPResponseHead.serialize(status: 503, headers: h, framing: .contentLength(body.count), keepAlive: false, into: &out)
                out.append(contentsOf: body)
                _ = out.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(fd)
                continue
            }
            _ = kt_set_nodelay(fd)
            let connection = Connection(fd: fd, server: self)
            registry.add(connection)
            loop.register(fd, events: KT_EPOLLIN | KT_EPOLLRDHUP) { [weak connection] events in
                connection?.handle(events: events)
            }
        }
    }

    func connectionClosed() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.openConnections -= 1
            guard s.draining, s.openConnections == 0 else { return [] }
            let w = s.drainWaiters
            s.drainWaiters.removeAll()
            return w
        }
        for w in waiters { w.resume() }
    }

    /// Stops accepting, lets in-flight requests finish for up to `gracePeriod`, then closes
    /// everything and stops the loop thread.
    public func shutdown(gracePeriod: Duration = .seconds(10)) async {
        let first = state.withLock { s -> Bool in
            defer { s.shutdownStarted = true }
            return !s.shutdownStarted
        }
        guard first else {
            await loop.waitUntilStopped()
            return
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            loop.execute { [self] in
                let fd = state.withLock { s -> Int32 in
                    s.draining = true
                    let fd = s.listenFD
                    s.listenFD = -1
                    return fd
                }
                if fd >= 0 {
                    loop.unregister(fd)
                    close(fd)
                }
                registry.closeIdle()
                c.resume()
            }
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let done = state.withLock { s -> Bool in
                        if s.openConnections == 0 { return true }
                        s.drainWaiters.append(c)
                        return false
                    }
                    if done { c.resume() }
                }
            }
            group.addTask { try? await Task.sleep(for: gracePeriod) }
            await group.next()
            group.cancelAll()
            // Whichever finished first, release a drain waiter that may still be parked.
            let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                let w = s.drainWaiters
                s.drainWaiters.removeAll()
                return w
            }
            for w in waiters { w.resume() }
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            loop.execute { [self] in
                registry.closeAll()
                c.resume()
            }
        }
        loop.stop()
        await loop.waitUntilStopped()
    }
}

/// The open connections of one server; touched on its loop thread only.
final class ConnectionRegistry: @unchecked Sendable {
    private var connections: [Int32: Connection] = [:]

    func add(_ c: Connection) { connections[c.fd] = c }
    func remove(_ c: Connection) { if connections[c.fd] === c { connections[c.fd] = nil } }

    func tick() {
        let now = ContinuousClock.now
        for c in Array(connections.values) { c.checkTimeouts(now: now) }
    }

    func closeIdle() {
        for c in Array(connections.values) where c.isIdle { c.close() }
    }

    func closeAll() {
        for c in Array(connections.values) { c.close() }
    }
}
