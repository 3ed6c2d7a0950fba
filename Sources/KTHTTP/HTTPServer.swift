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
        /// At most this many connections from one peer address (IPv6: one /64); 0 = no cap.
        public var maxConnectionsPerPeer: Int = 0
        /// Lower `maxConnections` to fit under the descriptor limit (off when an operator set it).
        public var fitToDescriptorLimit = true
        /// Warnings the server raises itself (descriptor exhaustion), once per episode.
        public var warn: (@Sendable (String) -> Void)?
        /// Serve HTTPS with this certificate (replaceable at run time with `replaceTLS`).
        public var tls: TLSServerContext?
        /// Bytes all connections together may hold for requests still arriving (heads, bodies
        /// read so far, pipelined input); past it the request that has waited longest for its
        /// next byte is refused with 503. nil: 64 MiB or 8 request bodies at the size limit,
        /// whichever is more. Each connection is bounded by the size limits; this bounds their sum.
        public var maxHeldRequestBytes: Int?

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
    /// Loop thread only: descriptor-exhaustion back-off of the listener.
    let acceptor: AcceptBackoff
    let state: Mutex<SharedState>
    /// Adjustable at run time (a config reload changes size_limits).
    private let maxBodyBytes: Atomic<Int>
    /// The certificate new connections get; a reload swaps it, open sessions keep theirs.
    private let tlsContext: Mutex<TLSServerContext?>
    private let tlsCounters = Mutex(TLSStatistics())

    struct SharedState {
        var listenFD: Int32 = -1
        var port = 0
        var openConnections = 0
        var acceptedTotal = 0
        var maxConnections = 0
        var draining = false
        /// The first `shutdown` drives the drain; later calls only wait for the loop to stop.
        var shutdownStarted = false
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
        var shedRequests = 0
    }

    /// A connection's held bytes changed: past the budget, refuse the stalest partial requests.
    func heldRequestBytesChanged(by delta: Int) {
        registry.heldRequestBytesChanged(by: delta)
        guard delta > 0, registry.heldRequestBytes > heldRequestBudget else { return }
        let n = registry.shedHeldRequests(over: heldRequestBudget, now: .now)
        if n > 0 { state.withLock { $0.shedRequests += n } }
    }

    public init(configuration: Configuration, errorResponder: ErrorResponder? = nil, handler: @escaping Handler) throws {
        self.configuration = configuration
        self.handler = handler
        self.errorResponder = errorResponder ?? { status, message in
            ("text/plain; charset=utf-8", Array("\(status) \(HTTPResponseHead.reason(status)): \(message)\n".utf8))
        }
        let loop = try EventLoop(name: "kt-http")
        self.loop = loop
        self.acceptor = AcceptBackoff(loop: loop, warn: configuration.warn)
        self.state = Mutex(SharedState())
        self.maxBodyBytes = Atomic(configuration.maxBodyBytes)
        self.tlsContext = Mutex(configuration.tls)
    }

    /// Whether this listener speaks TLS (fixed at start: a port is HTTPS or it is not).
    public var isTLS: Bool { configuration.tls != nil }

    /// New connections use `context` from now on; open ones keep the certificate they began with.
    public func replaceTLS(_ context: TLSServerContext) {
        precondition(isTLS, "replaceTLS on a plain-HTTP listener")
        tlsContext.withLock { $0 = context }
    }

    public var currentTLS: TLSServerContext? { tlsContext.withLock { $0 } }

    /// Handshake counts for `/metrics`.
    public var tlsStatistics: TLSStatistics { tlsCounters.withLock { $0 } }

    func tlsHandshakeSucceeded(resumed: Bool) {
        tlsCounters.withLock { s in
            s.handshakes += 1
            if resumed { s.resumed += 1 }
        }
    }

    func tlsHandshakeFailed(_ why: TLSSession.Failure) {
        tlsCounters.withLock { $0.failures[why.rawValue, default: 0] += 1 }
    }

    public var port: Int { state.withLock { $0.port } }
    /// The connection cap in force: the configured one, lowered to fit the descriptor limit.
    public var effectiveMaxConnections: Int { state.withLock { $0.maxConnections } }
    public var openConnections: Int { state.withLock { $0.openConnections } }

    public func setMaxBodyBytes(_ n: Int) { maxBodyBytes.store(n, ordering: .relaxed) }
    var currentMaxBodyBytes: Int { maxBodyBytes.load(ordering: .relaxed) }

    /// The budget of bytes held for partial requests (see `Configuration.maxHeldRequestBytes`).
    var heldRequestBudget: Int {
        configuration.maxHeldRequestBytes ?? max(64 << 20, 8 * currentMaxBodyBytes)
    }

    /// Binds and starts accepting. Returns the bound port (useful with port 0).
    @discardableResult
    public func start() async throws -> Int {
        let fd = kt_listen_tcp(configuration.host, Int32(configuration.port), 1024)
        guard fd >= 0 else {
            let reason = String(cString: strerror(-fd))
            throw HTTPServerError("cannot listen on \(configuration.host):\(configuration.port): \(reason)")
        }
        let port = Int(kt_local_port(fd))
        let fitted = Self.connectionCap(configured: configuration.maxConnections, descriptorLimit: Self.descriptorLimit)
        let cap = configuration.fitToDescriptorLimit ? fitted : configuration.maxConnections
        if cap > fitted {
            configuration.warn?("max connections \(cap) is more than the descriptor limit (\(Self.descriptorLimit), ulimit -n) leaves room for; at the limit new connections are refused with 503")
        }
        state.withLock {
            $0.listenFD = fd
            $0.port = port
            $0.maxConnections = cap
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            loop.execute { [self] in
                loop.register(fd, events: KT_EPOLLIN) { [self] _ in acceptAll(fd) }
                loop.onTick { [self] in
                    registry.tick()
                    acceptor.tick(listenFD: state.withLock { $0.listenFD })
                }
                c.resume()
            }
        }
        return port
    }

    /// The process's descriptor limit, raised to the hard limit once (servers hold many sockets;
    /// `ulimit -n 1024` is a common default soft limit).
    static let descriptorLimit: Int = Int(kt_raise_nofile_limit())

    /// Leaves room under the descriptor limit for upstream connections, logs and the database.
    static func connectionCap(configured: Int, descriptorLimit: Int) -> Int {
        guard descriptorLimit > 0 else { return configured }
        let reserve = min(256, max(16, descriptorLimit / 4))
        return max(1, min(configured, descriptorLimit - reserve))
    }

    private func acceptAll(_ listenFD: Int32) {
        while true {
            let fd = kt_accept_nonblocking(listenFD)
            if fd < 0 {
                let e = errno
                if e == EMFILE || e == ENFILE { acceptor.descriptorsExhausted(listenFD, errno: e) }
                return  // EAGAIN, or a transient error; epoll tells us again
            }
            acceptor.accepted()
            admit(fd)
        }
    }

    private func admit(_ fd: Int32) {
        let now = ContinuousClock.now
        let peer = kt_peer_key(fd)
        var (admitted, draining) = state.withLock { s -> (Bool, Bool) in
            guard !s.draining, s.openConnections < s.maxConnections else { return (false, s.draining) }
            s.openConnections += 1
            s.acceptedTotal += 1
            return (true, false)
        }
        if !admitted, !draining, registry.closeOldestIdle() {
            // Room made by closing the longest-idle connection: new clients are served before idle ones.
            admitted = state.withLock { s -> Bool in
                guard s.openConnections < s.maxConnections else { return false }
                s.openConnections += 1
                s.acceptedTotal += 1
                return true
            }
        }
        if admitted, configuration.maxConnectionsPerPeer > 0, registry.count(peer: peer) >= configuration.maxConnectionsPerPeer {
            state.withLock { $0.openConnections -= 1 }
            refuse(fd, "this client address has \(configuration.maxConnectionsPerPeer) connections open, the per-client limit")
            return
        }
        guard admitted else {
            refuse(fd, draining ? "the server is shutting down" : "the server is at its connection limit")
            return
        }
        _ = kt_set_nodelay(fd)
        var session: TLSSession?
        if let context = tlsContext.withLock({ $0 }) {
            guard let s = TLSSession(server: context, fd: fd) else {
                state.withLock { $0.openConnections -= 1 }
                close(fd)
                return
            }
            session = s
        }
        let connection = Connection(fd: fd, server: self, now: now, tls: session)
        registry.add(connection)
        connection.reportIdle()
        loop.register(fd, events: KT_EPOLLIN | KT_EPOLLRDHUP) { [weak connection] events in
            connection?.handle(events: events)
        }
    }

    /// A short 503 and close, so clients see why.
    func refuse(_ fd: Int32, _ message: String) {
        // A TLS port cannot answer in plain text, and a handshake per refusal is the cost the
        // limit exists to avoid: just close.
        guard !isTLS else { close(fd); return }
        let out = errorResponseBytes(503, message)
        _ = out.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        close(fd)
    }

    /// An answer the server makes itself, with an `x-request-id` like every other answer.
    func errorResponseBytes(_ status: Int, _ message: String) -> [UInt8] {
        let (type, body) = errorResponder(status, message)
        var h = HTTPHeaders()
        h.add("content-type", type)
        h.add("x-request-id", RequestID.make())
        if let hint = RetryHint.header(forStatus: status) { h.add(hint.0, hint.1) }
        var out: [UInt8] = []
        HTTPResponseHead.serialize(status: status, headers: h, framing: .contentLength(body.count), keepAlive: false, into: &out)
        out.append(contentsOf: body)
        return out
    }

    func connectionClosed(peer: UInt32) {
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

extension HTTPServer {
    /// What the open connections buffer: the largest input backlog, all output not yet taken
    /// by clients, and all bytes held for requests still arriving (for tests and diagnostics).
    public func bufferedBytes() async -> (largestInput: Int, totalOutput: Int, heldRequests: Int) {
        await withCheckedContinuation { c in
            loop.execute { [self] in
                let (input, output) = registry.bufferedBytes()
                c.resume(returning: (input, output, registry.heldRequestBytes))
            }
        }
    }

    /// Partial requests refused because their sum passed the budget, since start.
    public var shedRequests: Int { state.withLock { $0.shedRequests } }
}

/// TLS handshakes of one server since it started.
public struct TLSStatistics: Sendable, Equatable {
    public var handshakes = 0
    /// Of `handshakes`, the ones that resumed an earlier session.
    public var resumed = 0
    /// Failed handshakes by reason: plain_http, protocol, client_certificate, eof, timeout, other.
    public var failures: [String: Int] = [:]
    public static let failureReasons = TLSSession.Failure.allCases.map(\.rawValue)
}

/// The open connections of one server; touched on its loop thread only.
final class ConnectionRegistry: @unchecked Sendable {
    private var connections: [Int32: Connection] = [:]
    private var perPeer: [UInt32: Int] = [:]
    /// Connections in the order they became idle, with the instant they did: the front is the
    /// longest idle. Entries go stale when the connection works or closes (their instant no
    /// longer matches) and are skipped, so finding the oldest idle one is amortised O(1).
    private var idleOrder: [(connection: Connection, since: ContinuousClock.Instant)] = []
    private var idleHead = 0

    func add(_ c: Connection) {
        connections[c.fd] = c
        perPeer[c.peer, default: 0] += 1
    }

    func remove(_ c: Connection) {
        guard connections[c.fd] === c else { return }
        connections[c.fd] = nil
        let n = (perPeer[c.peer] ?? 1) - 1
        perPeer[c.peer] = n > 0 ? n : nil
    }

    func count(peer: UInt32) -> Int { perPeer[peer] ?? 0 }

    /// Sum of the bytes connections hold for requests still arriving (each reports its changes).
    private(set) var heldRequestBytes = 0

    func heldRequestBytesChanged(by delta: Int) { heldRequestBytes += delta }

    /// Refuses partial requests, the one whose last progress is oldest first, until the bytes
    /// held are within `budget`. A scan of the connections per refusal: it runs only past the
    /// budget, and every refusal frees a whole partial request. Returns how many were refused.
    func shedHeldRequests(over budget: Int, now: ContinuousClock.Instant) -> Int {
        var shed = 0
        while heldRequestBytes > budget {
            var victim: Connection?
            var oldest: ContinuousClock.Instant?
            for c in connections.values where !c.closed {
                guard let t = c.partialRequestProgress, c.heldRequestBytes > 0 else { continue }
                if oldest == nil || t < oldest! { oldest = t; victim = c }
            }
            guard let victim else { break }
            let before = heldRequestBytes
            victim.shed(now: now)
            shed += 1
            if heldRequestBytes >= before { break }   // never: a refusal frees what it held
        }
        return shed
    }

    /// `c` became idle at `since` (accepted, or its answer ended on a keep-alive connection).
    func becameIdle(_ c: Connection, since: ContinuousClock.Instant) {
        idleOrder.append((c, since))
        // Compact once the consumed front is most of the queue.
        if idleHead > 1024, idleHead * 2 > idleOrder.count {
            idleOrder.removeFirst(idleHead)
            idleHead = 0
        }
        // Stale entries of busy connections could pile up behind a long-idle front: bound them.
        if idleOrder.count - idleHead > 4 * max(1024, connections.count) {
            idleOrder = idleOrder[idleHead...].filter { !$0.connection.closed && $0.connection.idleSince == $0.since }
            idleHead = 0
        }
    }

    func bufferedBytes() -> (largestInput: Int, totalOutput: Int) {
        connections.values.reduce((0, 0)) { ($0.0 > $1.bufferedInputBytes ? $0.0 : $1.bufferedInputBytes, $0.1 + $1.bufferedBytes) }
    }

    /// Closes the connection idle the longest (one that never sent a byte counts as idle);
    /// false when every connection has work.
    func closeOldestIdle() -> Bool {
        while idleHead < idleOrder.count {
            let (c, since) = idleOrder[idleHead]
            idleHead += 1
            if !c.closed, c.idleSince == since {
                c.close()
                return true
            }
        }
        return false
    }

    func tick() {
        let now = ContinuousClock.now
        for c in Array(connections.values) { c.checkTimeouts(now: now) }
    }

    func closeIdle() {
        for c in Array(connections.values) where c.idleSince != nil { c.close() }
    }

    func closeAll() {
        for c in Array(connections.values) { c.close() }
    }
}
