import CKTShim
import Foundation
import Glibc

/// One client connection: the socket and its output buffer. Every decision (dispatch, pause,
/// timeouts, close) is `ConnectionMachine`'s; this type performs them. Confined to the server's
/// loop thread; `HTTPResponseWriter` reaches it only through `EventLoop.execute`.
final class Connection: @unchecked Sendable {
    let fd: Int32
    unowned let server: HTTPServer
    let peerIsLoopback: Bool
    let peer: UInt32
    private var machine: ConnectionMachine
    private var out: [UInt8] = []
    private var outOffset = 0
    private var polledEvents: UInt32 = KT_EPOLLIN | KT_EPOLLRDHUP
    private(set) var closed = false
    private var inFlight: HTTPResponseWriter?
    /// The idle instant last reported to the registry (to report each idle period once).
    private var reportedIdle: ContinuousClock.Instant?
    /// nil on a plain-HTTP listener.
    private var tls: TLSSession?
    /// The handshake must finish by then (the header timeout from accept: a slowloris of TLS).
    private var handshakeDeadline: ContinuousClock.Instant?
    /// The session needs the socket writable to go on reading (a handshake reply that did not fit).
    private var readWaitsForWritable = false
    /// The session needs the socket readable to go on writing.
    private var writeWaitsForReadable = false
    /// A read of bytes OpenSSL holds (which epoll cannot see) is queued on the loop.
    private var pendingReadScheduled = false
    private var peerNames: [String] = []
    /// After a failed handshake: the alert is sent and our side shut; input is read and dropped
    /// until the peer closes or this instant, so no unread byte turns the close into a reset that
    /// would destroy the alert (the client then says "certificate required", not "broken pipe").
    private var lingerUntil: ContinuousClock.Instant?
    /// A server-made error was answered: the client may still be sending the request it refused
    /// (a body past the limit, a header section too large), and closing with unread input makes
    /// the kernel send a reset that can destroy the answer before the client reads it. So the
    /// close shuts our side and drains input for a while instead (a lingering close).
    private var lingerOnClose = false
    /// The bytes of partial requests last reported to the server (which bounds their sum).
    private var reportedHeld = 0

    init(fd: Int32, server: HTTPServer, now: ContinuousClock.Instant, tls: TLSSession? = nil) {
        self.fd = fd
        self.server = server
        self.tls = tls
        if tls != nil { handshakeDeadline = now + server.configuration.headerTimeout }
        self.peerIsLoopback = kt_peer_is_loopback(fd) == 1
        self.peer = kt_peer_key(fd)
        let c = server.configuration
        self.machine = ConnectionMachine(
            limits: .init(headerTimeout: c.headerTimeout, bodyTimeout: c.bodyTimeout, idleTimeout: c.idleTimeout,
                          writeStallTimeout: c.bodyTimeout),
            parserLimits: .init(maxHeaderBytes: c.maxHeaderBytes, maxBodyBytes: server.currentMaxBodyBytes), now: now)
    }

    /// When this connection became idle (nil while it has work): the oldest idle ones are closed
    /// first when the server needs room.
    var idleSince: ContinuousClock.Instant? { machine.idleSince }

    /// Tells the registry when a new idle period starts, so eviction finds the oldest quickly.
    func reportIdle() {
        guard !closed, let since = machine.idleSince, since != reportedIdle else { return }
        reportedIdle = since
        server.registry.becameIdle(self, since: since)
    }

    func handle(events: UInt32) {
        if lingerUntil != nil { drainWhileLingering(); return }
        if events & (KT_EPOLLHUP | KT_EPOLLERR) != 0 && events & KT_EPOLLIN == 0 {
            perform(machine.peerClosed())
            return
        }
        if events & KT_EPOLLIN != 0 {
            readAvailable()
            if writeWaitsForReadable, !closed { writeWaitsForReadable = false; flush() }
        } else if events & KT_EPOLLRDHUP != 0 {
            // The peer half-closed while reading is paused: it will send nothing more, and its
            // pipelined requests are past the bound; treat as gone, like an EOF.
            perform(machine.peerClosed())
        }
        if !closed, events & KT_EPOLLOUT != 0 {
            if readWaitsForWritable { readWaitsForWritable = false; readAvailable() }
            if !closed { flush() }
        }
        updatePolling()
        reportIdle()
        reportHeld()
    }

    var heldRequestBytes: Int { machine.heldRequestBytes }
    var partialRequestProgress: ContinuousClock.Instant? { machine.partialRequestProgress }

    /// Tells the server how many bytes this connection now holds for requests still arriving.
    /// Past the server's budget this may shed other connections' requests, or this one's.
    private func reportHeld() {
        let held = closed ? 0 : machine.heldRequestBytes
        guard held != reportedHeld else { return }
        let delta = held - reportedHeld
        reportedHeld = held
        server.heldRequestBytesChanged(by: delta)
    }

    /// Refused to keep the server within its budget for partial requests (503, then close).
    func shed(now: ContinuousClock.Instant) {
        guard !closed else { return }
        perform(machine.shed(now: now))
        updatePolling()
        reportHeld()
    }

    private func readAvailable() {
        if let tls { readTLS(tls); return }
        var sawEOF = false
        withUnsafeTemporaryAllocation(byteCount: 65_536, alignment: 16) { buf in
            while !closed, machine.wantsRead {
                let n = read(fd, buf.baseAddress, buf.count)
                if n > 0 {
                    machine.setMaxBodyBytes(server.currentMaxBodyBytes)
                    perform(machine.bytesReceived(UnsafeRawBufferPointer(rebasing: buf[0..<n]), now: .now))
                    if n < buf.count { break }
                } else if n == 0 {
                    sawEOF = true
                    break
                } else {
                    if errno == EINTR { continue }
                    if errno != EAGAIN && errno != EWOULDBLOCK { sawEOF = true }
                    break
                }
            }
        }
        // The peer went away: cancel whatever it was waiting for.
        if sawEOF { perform(machine.peerClosed()) }
    }

    /// Reads through the TLS session; the first reads drive the handshake.
    private func readTLS(_ tls: TLSSession) {
        var sawEOF = false
        withUnsafeTemporaryAllocation(byteCount: 65_536, alignment: 16) { buf in
            loop: while !closed, machine.wantsRead || !tls.handshakeDone {
                switch tls.read(buf) {
                case .bytes(let n):
                    if handshakeDeadline != nil { handshakeFinished(tls) }
                    machine.setMaxBodyBytes(server.currentMaxBodyBytes)
                    perform(machine.bytesReceived(UnsafeRawBufferPointer(rebasing: buf[0..<n]), now: .now))
                case .wantRead:
                    break loop
                case .wantWrite:
                    readWaitsForWritable = true
                    break loop
                case .closed:
                    sawEOF = true
                    break loop
                case .failed:
                    if tls.handshakeDone {
                        sawEOF = true
                    } else {
                        // Counted, never logged per attempt: scanners and plain-HTTP probes are routine.
                        server.tlsHandshakeFailed(tls.failure)
                        linger()
                    }
                    break loop
                }
            }
        }
        if !closed, handshakeDeadline != nil, tls.handshakeDone { handshakeFinished(tls) }
        if sawEOF {
            if handshakeDeadline != nil { server.tlsHandshakeFailed(.eof); close(); return }
            perform(machine.peerClosed())
        }
    }

    /// Closes after a server-made error once its bytes are sent: close_notify on TLS, then our
    /// side shut and input drained for up to 2 s (`linger`), so the client reads the answer.
    private func lingeringClose() {
        guard !closed, lingerUntil == nil else { return }
        if out.count > outOffset { close(); return }   // never: `.close` comes once the queue is empty
        // close_notify once, now; the session is done (lingering reads bypass it).
        tls?.shutdown()
        tls = nil
        linger()
    }

    private func linger() {
        lingerUntil = .now + .seconds(2)
        handshakeDeadline = nil
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
        polledEvents = KT_EPOLLIN | KT_EPOLLRDHUP
        server.loop.modify(fd, events: polledEvents)
        drainWhileLingering()
    }

    private func drainWhileLingering() {
        withUnsafeTemporaryAllocation(byteCount: 16_384, alignment: 16) { buf in
            while !closed {
                let n = read(fd, buf.baseAddress, buf.count)
                if n > 0 { continue }
                if n < 0, errno == EINTR { continue }
                if n < 0, errno == EAGAIN || errno == EWOULDBLOCK { return }
                close()
            }
        }
    }

    private func handshakeFinished(_ tls: TLSSession) {
        handshakeDeadline = nil
        peerNames = tls.peerNames
        server.tlsHandshakeSucceeded(resumed: tls.resumed)
    }

    private func perform(_ action: ConnectionMachine.Action) {
        switch action {
        case .none:
            break
        case .dispatch:
            guard let request = machine.takeRequest() else { return }
            dispatch(request)
        case .write(let bytes):
            enqueue(bytes)
        case .respondAndClose(let status, let message):
            lingerOnClose = true
            enqueue(errorBytes(status, message))
            perform(machine.errorQueued(now: .now))
        case .close:
            if lingerOnClose { lingeringClose() } else { close() }
        }
    }

    private func dispatch(_ request: HTTPRequest) {
        var request = request
        request.peerIsLoopback = peerIsLoopback
        request.isTLS = tls != nil
        request.peerCertificateNames = peerNames
        let draining = server.state.withLock { $0.draining }
        let writer = HTTPResponseWriter(connection: self, server: server, keepAlive: request.keepAlive && !draining,
                                        isHead: request.method == "HEAD", isHTTP10: request.isHTTP10)
        inFlight = writer
        let handler = server.handler
        writer.task = Task {
            await handler(request, writer)
            writer.finishIfHandlerForgot()
        }
    }

    /// The bytes of an error the server answers itself (framing, limits, timeouts, overload).
    private func errorBytes(_ status: Int, _ message: String) -> [UInt8] {
        server.errorResponseBytes(status, message)
    }

    /// Answers a server-made error now and closes after it (used at the connection limit).
    func respondError(_ status: Int, _ message: String) {
        guard !closed else { return }
        lingerOnClose = true
        enqueue(errorBytes(status, message))
        perform(machine.errorQueued(now: .now))
        updatePolling()
    }

    // MARK: Writing (called from HTTPResponseWriter via the loop)

    /// Queues bytes of the current answer; the writer learns how full the queue is.
    func enqueue(_ bytes: [UInt8], from writer: HTTPResponseWriter? = nil) {
        guard !closed else { return }
        if out.count == outOffset {
            // Nothing queued: try to send directly, queue only the rest.
            let sent = bytes.withUnsafeBytes { sendAll($0) }
            if sent < 0 { close(); return }
            if sent < bytes.count {
                out = Array(bytes[sent...])
                outOffset = 0
                machine.queued(bytes.count - sent, now: .now)
            }
        } else {
            out.append(contentsOf: bytes)
            machine.queued(bytes.count, now: .now)
        }
        writer?.connectionQueue(level: machine.queuedBytes, delivered: bytes.count)
        updatePolling()
    }

    func responseEnded(_ writer: HTTPResponseWriter, keepAlive: Bool) {
        guard inFlight === writer, !closed else { return }
        inFlight = nil
        let draining = server.state.withLock { $0.draining }
        perform(machine.responseEnded(keepAlive: keepAlive, serverDraining: draining, now: .now))
        updatePolling()
        reportIdle()
        reportHeld()
    }

    private func flush() {
        guard out.count > outOffset else { return }
        let sent = out.withUnsafeBytes { sendAll(UnsafeRawBufferPointer(rebasing: $0[outOffset...])) }
        if sent < 0 { close(); return }
        outOffset += sent
        if outOffset == out.count {
            out.removeAll(keepingCapacity: out.capacity <= 1 << 20)
            outOffset = 0
        } else if outOffset > 1 << 20 {
            out.removeFirst(outOffset)
            outOffset = 0
        }
        let action = machine.flushed(sent, now: .now)
        inFlight?.connectionQueue(level: machine.queuedBytes, delivered: 0)
        perform(action)
    }

    /// Sends as much as the socket takes; -1 on a broken connection.
    private func sendAll(_ bytes: UnsafeRawBufferPointer) -> Int {
        if let tls { return sendTLS(tls, bytes) }
        var total = 0
        while total < bytes.count {
            let n = send(fd, bytes.baseAddress! + total, bytes.count - total, Int32(MSG_NOSIGNAL))
            if n > 0 { total += n; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return total }
            return -1
        }
        return total
    }

    private func sendTLS(_ tls: TLSSession, _ bytes: UnsafeRawBufferPointer) -> Int {
        var total = 0
        while total < bytes.count {
            switch tls.write(UnsafeRawBufferPointer(rebasing: bytes[total...])) {
            case .bytes(let n): total += n
            case .wantWrite: return total
            case .wantRead:
                writeWaitsForReadable = true
                return total
            case .closed, .failed: return -1
            }
        }
        return total
    }

    /// Polls for input only while the machine wants it, for output only while bytes wait.
    private func updatePolling() {
        guard !closed, lingerUntil == nil else { return }
        var events = KT_EPOLLRDHUP
        let handshaking = handshakeDeadline != nil
        if machine.wantsRead || handshaking || writeWaitsForReadable { events |= KT_EPOLLIN }
        if machine.wantsWritable || readWaitsForWritable { events |= KT_EPOLLOUT }
        // Bytes OpenSSL already decrypted make no epoll event: read them on the next turn.
        if let tls, machine.wantsRead, !pendingReadScheduled, tls.hasPending {
            pendingReadScheduled = true
            server.loop.execute { [self] in
                pendingReadScheduled = false
                guard !closed else { return }
                readAvailable()
                updatePolling()
                reportIdle()
                reportHeld()
            }
        }
        guard events != polledEvents else { return }
        polledEvents = events
        server.loop.modify(fd, events: events)
    }

    var bufferedBytes: Int { out.count - outOffset }
    var bufferedInputBytes: Int { machine.parser.bufferedBytes }

    // MARK: Timeouts and close

    func checkTimeouts(now: ContinuousClock.Instant) {
        guard !closed else { return }
        if let until = lingerUntil {
            if now >= until { close() }
            return
        }
        if let deadline = handshakeDeadline, now >= deadline {
            server.tlsHandshakeFailed(.timeout)
            close()
            return
        }
        perform(machine.tick(now: now))
        updatePolling()
        reportHeld()
    }

    func close() {
        guard !closed else { return }
        closed = true
        machine.closed()
        server.loop.unregister(fd)
        // close_notify before the descriptor goes (never waits for the peer's).
        tls?.shutdown()
        tls = nil
        Foundation.close(fd)
        out = []
        server.registry.remove(self)
        reportHeld()
        if let writer = inFlight {
            inFlight = nil
            writer.connectionDidClose()
        }
        server.connectionClosed(peer: peer)
    }
}
