/// The life of one HTTP/1.1 connection, decided without I/O: what to read, when to dispatch a
/// request, when to stop reading (pipelined bytes or unread answers over their bounds), which
/// timeout fired, and when to close. `Connection` feeds it events and performs the actions.
///
/// Bounds (the answer to "full" for every buffer the network fills):
/// - input: while a request is in flight at most `pipelineBufferBytes` of what follows it are
///   buffered; then reading stops until the response ends (TCP pushes back on the client);
/// - output: the next pipelined request is not dispatched while more than `writeHighWatermark`
///   bytes of earlier answers wait for the client to read them (resumes below the low watermark);
///   a client that takes nothing for `writeStallTimeout` is cut off.
struct ConnectionMachine {
    struct Limits {
        /// A new connection must send its first byte, and a started head must complete, within this.
        var headerTimeout: Duration = .seconds(10)
        var bodyTimeout: Duration = .seconds(30)
        var idleTimeout: Duration = .seconds(75)
        /// Output that waits this long without the client taking a byte closes the connection.
        var writeStallTimeout: Duration = .seconds(30)
        var pipelineBufferBytes = 64 * 1024
        var writeHighWatermark = 256 * 1024
        var writeLowWatermark = 64 * 1024
    }

    enum State {
        /// Accepted, nothing received yet.
        case awaitingFirstByte(since: ContinuousClock.Instant)
        /// Keep-alive between requests.
        case idle(since: ContinuousClock.Instant)
        case readingHead(started: ContinuousClock.Instant)
        case readingBody(lastByte: ContinuousClock.Instant)
        /// A handler owns the response.
        case inFlight
        /// The last answer is queued; close once the client has taken it.
        case closingAfterFlush(since: ContinuousClock.Instant)
        case closed
    }

    enum Action: Equatable {
        case none
        case dispatch(index: Int)
        /// Server-made bytes (100 Continue).
        case write([UInt8])
        /// A server-made error answer; the connection closes once it is sent.
        case respondAndClose(status: Int, message: String)
        case close
    }

    let limits: Limits
    private(set) var state: State
    private(set) var parser: HTTPRequestParser
    /// Output bytes the socket has not taken yet.
    private(set) var queuedBytes = 0
    private var lastWriteProgress: ContinuousClock.Instant
    /// Requests handed out by `dispatch`, taken with `takeRequest`.
    private var ready: HTTPRequest?
    private var dispatched = 0

    init(limits: Limits, parserLimits: HTTPRequestParser.Limits, now: ContinuousClock.Instant) {
        self.limits = limits
        self.parser = HTTPRequestParser(limits: parserLimits)
        self.state = .awaitingFirstByte(since: now)
        self.lastWriteProgress = now
    }

    var isClosed: Bool { if case .closed = state { return true }; return false }

    /// Nothing in flight and no partial request: may be closed to make room, or at shutdown.
    var idleSince: ContinuousClock.Instant? {
        switch state {
        case .awaitingFirstByte(let t), .idle(let t): return queuedBytes == 0 ? t : nil
        case .readingHead, .readingBody, .inFlight, .closingAfterFlush, .closed: return nil
        }
    }

    var isInFlight: Bool { if case .inFlight = state { return true }; return false }

    /// Bytes held for requests not complete yet (the server bounds their sum over connections).
    var heldRequestBytes: Int { parser.heldBytes }

    /// While a request is arriving: when it last made progress (the head's start, the body's
    /// last byte). The server sheds the request that has waited longest first.
    var partialRequestProgress: ContinuousClock.Instant? {
        switch state {
        case .readingHead(let t), .readingBody(let t): return t
        case .awaitingFirstByte, .idle, .inFlight, .closingAfterFlush, .closed: return nil
        }
    }

    /// Whether the socket should be polled for input now.
    var wantsRead: Bool {
        switch state {
        case .closed, .closingAfterFlush: return false
        case .inFlight: return parser.bufferedBytes < limits.pipelineBufferBytes
        case .awaitingFirstByte, .idle, .readingHead, .readingBody:
            // A request waits for earlier answers to drain: do not take more behind it.
            return !(parser.bufferedBytes > 0 && queuedBytes > limits.writeHighWatermark)
        }
    }

    var wantsWritable: Bool { queuedBytes > 0 && !isClosed }

    mutating func setMaxBodyBytes(_ n: Int) { parser.limits.maxBodyBytes = n }

    /// The request of the last `.dispatch` action.
    mutating func takeRequest() -> HTTPRequest? {
        defer { ready = nil }
        return ready
    }

    // MARK: Events

    mutating func bytesReceived(_ bytes: UnsafeRawBufferPointer, now: ContinuousClock.Instant) -> Action {
        guard !isClosed else { return .none }
        parser.feed(bytes)
        if case .readingBody = state { state = .readingBody(lastByte: now) }
        return advance(now: now)
    }

    mutating func bytesReceived(_ bytes: [UInt8], now: ContinuousClock.Instant) -> Action {
        bytes.withUnsafeBytes { bytesReceived($0, now: now) }
    }

    /// The handler's response ended; `keepAlive` is what it told the client.
    mutating func responseEnded(keepAlive: Bool, serverDraining: Bool, now: ContinuousClock.Instant) -> Action {
        guard case .inFlight = state else { return .none }
        if !keepAlive || serverDraining {
            if queuedBytes == 0 { state = .closed; return .close }
            state = .closingAfterFlush(since: now)
            return .none
        }
        state = .idle(since: now)
        return advance(now: now)
    }

    /// Bytes of an answer that the socket did not take at once.
    mutating func queued(_ n: Int, now: ContinuousClock.Instant) {
        if queuedBytes == 0 { lastWriteProgress = now }
        queuedBytes += n
    }

    /// The socket took `n` queued bytes.
    mutating func flushed(_ n: Int, now: ContinuousClock.Instant) -> Action {
        guard n > 0 else { return .none }
        let wasOverHigh = queuedBytes > limits.writeHighWatermark
        queuedBytes = max(0, queuedBytes - n)
        lastWriteProgress = now
        switch state {
        case .closingAfterFlush:
            if queuedBytes == 0 { state = .closed; return .close }
            return .none
        case .awaitingFirstByte, .idle, .readingHead, .readingBody:
            // A pipelined request held back by unread answers may go now.
            if queuedBytes <= limits.writeLowWatermark || !wasOverHigh { return advance(now: now) }
            return .none
        case .inFlight, .closed:
            return .none
        }
    }

    /// A server-made error was queued; close after it.
    mutating func errorQueued(now: ContinuousClock.Instant) -> Action {
        guard !isClosed else { return .none }
        if queuedBytes == 0 { state = .closed; return .close }
        state = .closingAfterFlush(since: now)
        return .none
    }

    /// The server holds more partial requests than its budget: refuse the one arriving here.
    mutating func shed(now: ContinuousClock.Instant) -> Action {
        switch state {
        case .readingHead, .readingBody:
            return fail(503, "the server is holding too many partly received requests; send this one again", now: now)
        case .awaitingFirstByte, .idle, .inFlight, .closingAfterFlush, .closed:
            return .none
        }
    }

    mutating func peerClosed() -> Action {
        guard !isClosed else { return .none }
        state = .closed
        return .close
    }

    /// The owner closed the socket (shutdown, a broken send).
    mutating func closed() { state = .closed }

    mutating func tick(now: ContinuousClock.Instant) -> Action {
        if queuedBytes > 0, now - lastWriteProgress > limits.writeStallTimeout {
            state = .closed
            return .close
        }
        switch state {
        case .awaitingFirstByte(let since):
            // Never sent a byte: no answer is owed, and none would be read.
            if now - since > limits.headerTimeout { state = .closed; return .close }
        case .idle(let since):
            if now - since > limits.idleTimeout { state = .closed; return .close }
        case .readingHead(let started):
            if now - started > limits.headerTimeout {
                return fail(408, "the request head did not arrive within \(limits.headerTimeout)", now: now)
            }
        case .readingBody(let last):
            if now - last > limits.bodyTimeout {
                return fail(408, "the request body stopped arriving for \(limits.bodyTimeout)", now: now)
            }
        case .closingAfterFlush(let since):
            if now - since > limits.writeStallTimeout { state = .closed; return .close }
        case .inFlight, .closed:
            break
        }
        return .none
    }

    // MARK: Decisions

    private mutating func advance(now: ContinuousClock.Instant) -> Action {
        switch state {
        case .inFlight, .closingAfterFlush, .closed: return .none
        case .awaitingFirstByte, .idle, .readingHead, .readingBody: break
        }
        // Earlier answers still wait for the client: keep the next request for later.
        if queuedBytes > limits.writeHighWatermark, parser.bufferedBytes > 0 { return .none }
        let event: HTTPRequestParser.Event
        do {
            event = try parser.next()
        } catch {
            return fail(error.status, error.message, now: now)
        }
        switch event {
        case .request(let request):
            state = .inFlight
            ready = request
            dispatched += 1
            return .dispatch(index: dispatched)
        case .needMoreData:
            if parser.isReadingHead {
                if case .readingHead = state {} else { state = .readingHead(started: now) }
            } else if parser.hasPartialRequest {
                if case .readingBody = state {} else { state = .readingBody(lastByte: now) }
            } else if case .awaitingFirstByte = state {
                // Only empty lines so far: still waiting for a request.
            } else if case .idle = state {
            } else {
                state = .idle(since: now)
            }
            if parser.wantsContinue {
                parser.wantsContinue = false
                return .write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
            }
            return .none
        }
    }

    private mutating func fail(_ status: Int, _ message: String, now: ContinuousClock.Instant) -> Action {
        state = .closingAfterFlush(since: now)
        // Nothing more is read from this connection: its partial request is freed now, not when
        // the connection object goes (it may linger for a while after the answer).
        parser.discardInput()
        return .respondAndClose(status: status, message: message)
    }
}
