import CKTShim
import Foundation

/// One client connection. Confined to the server's loop thread; `HTTPResponseWriter` reaches it
/// only through `EventLoop.execute`.
final class Connection: @unchecked Sendable {
    let fd: Int32
    unowned let server: HTTPServer
    let peerIsLoopback: Bool
    private var parser: HTTPRequestParser
    private var out: [UInt8] = []
    private var outOffset = 0
    private var wantsWritable = false
    private(set) var closed = false
    private var inFlight: HTTPResponseWriter?
    private var closeAfterFlush = false
    private var lastActivity = ContinuousClock.now
    private var headStartedAt: ContinuousClock.Instant?

    init(fd: Int32, server: HTTPServer) {
        self.fd = fd
        self.server = server
        self.peerIsLoopback = kt_peer_is_loopback(fd) == 1
        self.parser = HTTPRequestParser(limits: .init(maxHeaderBytes: server.configuration.maxHeaderBytes,
                                                      maxBodyBytes: server.currentMaxBodyBytes))
    }

    var isIdle: Bool { inFlight == nil && !parser.hasPartialRequest }

    func handle(events: UInt32) {
        if events & (KT_EPOLLIN | KT_EPOLLRDHUP | KT_EPOLLHUP | KT_EPOLLERR) != 0 { readAvailable() }
        if !closed, events & KT_EPOLLOUT != 0 { flush() }
    }

    private func readAvailable() {
        var sawEOF = false
        withUnsafeTemporaryAllocation(byteCount: 65_536, alignment: 16) { buf in
            while !closed {
                let n = read(fd, buf.baseAddress, buf.count)
                if n > 0 {
                    parser.feed(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
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
        lastActivity = .now
        if sawEOF {
            // The peer went away: cancel whatever it was waiting for.
            close()
            return
        }
        process()
    }

    /// Dispatches the next complete request if none is in flight (pipelined requests wait their turn).
    private func process() {
        guard !closed, inFlight == nil else { return }
        parser.limits.maxBodyBytes = server.currentMaxBodyBytes
        do {
            switch try parser.next() {
            case .needMoreData:
                if parser.wantsContinue {
                    parser.wantsContinue = false
                    enqueue(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
                }
                if parser.isReadingHead, headStartedAt == nil { headStartedAt = .now }
            case .request(var request):
                headStartedAt = nil
                request.peerIsLoopback = peerIsLoopback
                let draining = server.state.withLock { $0.draining }
                let writer = HTTPResponseWriter(connection: self, server: server, keepAlive: request.keepAlive && !draining,
                                                isHead: request.method == "HEAD")
                inFlight = writer
                let handler = server.handler
                writer.task = Task {
                    await handler(request, writer)
                    writer.finishIfHandlerForgot()
                }
            }
        } catch {
            respondError(error.status, error.message)
        }
    }

    /// An error the server answers itself; the connection closes after it.
    func respondError(_ status: Int, _ message: String) {
        let (type, body) = server.errorResponder(status, message)
        var headers = HTTPHeaders()
        headers.add("content-type", type)
        var bytes: [UInt8] = []
        HTTPResponseHead.serialize(status: status, headers: headers, framing: .contentLength(body.count), keepAlive: false, into: &bytes)
        bytes.append(contentsOf: body)
        closeAfterFlush = true
        enqueue(bytes)
    }

    // MARK: Writing (called from HTTPResponseWriter via the loop)

    func enqueue(_ bytes: [UInt8]) {
        guard !closed else { return }
        if out.count == outOffset {
            // Nothing queued: try to send directly, queue only the rest.
            let sent = bytes.withUnsafeBytes { sendAll($0) }
            if sent < 0 { close(); return }
            if sent < bytes.count {
                out = Array(bytes[sent...])
                outOffset = 0
                watchWritable(true)
            } else if closeAfterFlush {
                close()
            }
        } else {
            out.append(contentsOf: bytes)
        }
    }

    func responseEnded(_ writer: HTTPResponseWriter, keepAlive: Bool) {
        guard inFlight === writer else { return }
        inFlight = nil
        lastActivity = .now
        let draining = server.state.withLock { $0.draining }
        if !keepAlive || draining {
            closeAfterFlush = true
            if out.count == outOffset { close() }
            return
        }
        process()
    }

    private func flush() {
        guard out.count > outOffset else { watchWritable(false); return }
        let sent = out.withUnsafeBytes { sendAll(UnsafeRawBufferPointer(rebasing: $0[outOffset...])) }
        if sent < 0 { close(); return }
        outOffset += sent
        if outOffset == out.count {
            out.removeAll(keepingCapacity: out.capacity <= 1 << 20)
            outOffset = 0
            watchWritable(false)
            if closeAfterFlush { close() }
        }
    }

    /// Sends as much as the socket takes; -1 on a broken connection.
    private func sendAll(_ bytes: UnsafeRawBufferPointer) -> Int {
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

    private func watchWritable(_ on: Bool) {
        guard on != wantsWritable, !closed else { return }
        wantsWritable = on
        server.loop.modify(fd, events: KT_EPOLLIN | KT_EPOLLRDHUP | (on ? KT_EPOLLOUT : 0))
    }

    var bufferedBytes: Int { out.count - outOffset }

    // MARK: Timeouts and close

    func checkTimeouts(now: ContinuousClock.Instant) {
        guard !closed, inFlight == nil else { return }
        let config = server.configuration
        if parser.isReadingHead, let started = headStartedAt, now - started > config.headerTimeout {
            respondError(408, "the request head did not arrive within \(config.headerTimeout)")
        } else if parser.hasPartialRequest, !parser.isReadingHead, now - lastActivity > config.bodyTimeout {
            respondError(408, "the request body stopped arriving for \(config.bodyTimeout)")
        } else if !parser.hasPartialRequest, now - lastActivity > config.idleTimeout {
            close()
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        server.loop.unregister(fd)
        Foundation.close(fd)
        server.registry.remove(self)
        if let writer = inFlight {
            inFlight = nil
            writer.connectionDidClose()
        }
        server.connectionClosed()
    }
}
