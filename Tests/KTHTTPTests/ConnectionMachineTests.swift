import Testing
@testable import KTHTTP

/// The connection's decisions without sockets: bounds on what it buffers, timeouts, closing.
@Suite struct ConnectionMachineTests {
    let t0 = ContinuousClock.now
    func machine(_ limits: ConnectionMachine.Limits = .init()) -> ConnectionMachine {
        ConnectionMachine(limits: limits, parserLimits: .init(), now: t0)
    }
    let get = Array("GET /a HTTP/1.1\r\nHost: h\r\n\r\n".utf8)

    @Test func pipelinedInputStopsBeingReadPastTheBoundWhileARequestIsInFlight() {
        var m = machine()
        #expect(m.bytesReceived(get, now: t0) == .dispatch(index: 1))
        #expect(m.takeRequest()?.target == "/a")
        #expect(m.wantsRead)
        // 64 KiB of further requests arrive behind the one in flight: reading stops.
        let flood = Array(repeating: get, count: 64 * 1024 / get.count + 1).flatMap { $0 }
        #expect(m.bytesReceived(flood, now: t0) == .none)
        #expect(!m.wantsRead)
        #expect(m.parser.bufferedBytes == flood.count)
        // The answer ends: the next one is dispatched, and reading resumes below the bound.
        #expect(m.responseEnded(keepAlive: true, serverDraining: false, now: t0) == .dispatch(index: 2))
        _ = m.takeRequest()
        #expect(m.wantsRead)
    }

    /// The server refuses partial requests past its budget: a request still arriving is answered
    /// 503 and its bytes are freed at once; one in flight or an idle connection is left alone.
    @Test func sheddingRefusesOnlyARequestStillArrivingAndFreesItsBytes() {
        var m = machine()
        let head = Array("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n".utf8)
        #expect(m.bytesReceived(head + Array(repeating: 65, count: 40_000), now: t0) == .none)
        #expect(m.heldRequestBytes == 40_000)
        #expect(m.partialRequestProgress == t0)
        _ = m.bytesReceived(Array(repeating: 65, count: 10), now: t0 + .seconds(1))
        #expect(m.partialRequestProgress == t0 + .seconds(1))   // the body's last byte
        guard case .respondAndClose(503, _) = m.shed(now: t0 + .seconds(2)) else { Issue.record("expected 503"); return }
        #expect(m.heldRequestBytes == 0)
        #expect(m.partialRequestProgress == nil)

        var idle = machine()
        #expect(idle.shed(now: t0) == .none)
        var busy = machine()
        _ = busy.bytesReceived(get, now: t0)
        _ = busy.takeRequest()
        #expect(busy.partialRequestProgress == nil)
        #expect(busy.shed(now: t0) == .none)
        #expect(busy.isInFlight)
    }

    @Test func unreadAnswersHoldBackTheNextPipelinedRequest() {
        var m = machine()
        _ = m.bytesReceived(get + get, now: t0)
        _ = m.takeRequest()
        // The first answer is larger than the socket took: 300 KiB wait for the client.
        m.queued(300 * 1024, now: t0)
        #expect(m.responseEnded(keepAlive: true, serverDraining: false, now: t0) == .none)
        #expect(!m.wantsRead)
        #expect(m.wantsWritable)
        // Still above the low watermark after a little was taken.
        #expect(m.flushed(100 * 1024, now: t0) == .none)
        // Below it: the held request goes.
        #expect(m.flushed(150 * 1024, now: t0) == .dispatch(index: 2))
    }

    @Test func aConnectionThatNeverSendsIsClosedAtTheHeaderTimeout() {
        var m = machine(.init(headerTimeout: .seconds(10)))
        #expect(m.tick(now: t0 + .seconds(9)) == .none)
        #expect(m.idleSince == t0)
        #expect(m.tick(now: t0 + .seconds(11)) == .close)
        #expect(m.isClosed)
    }

    @Test func aSlowHeadGets408AndASlowBodyToo() {
        var m = machine(.init(headerTimeout: .seconds(10), bodyTimeout: .seconds(30)))
        _ = m.bytesReceived(Array("GET / HTTP/1.1\r\n".utf8), now: t0)
        #expect(m.tick(now: t0 + .seconds(5)) == .none)
        guard case .respondAndClose(408, _) = m.tick(now: t0 + .seconds(11)) else { Issue.record("expected 408"); return }
        #expect(m.errorQueued(now: t0 + .seconds(11)) == .close)

        var b = machine(.init(headerTimeout: .seconds(10), bodyTimeout: .seconds(30)))
        _ = b.bytesReceived(Array("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc".utf8), now: t0)
        _ = b.bytesReceived(Array("d".utf8), now: t0 + .seconds(20))
        #expect(b.tick(now: t0 + .seconds(45)) == .none)   // the last byte came at 20 s
        guard case .respondAndClose(408, _) = b.tick(now: t0 + .seconds(51)) else { Issue.record("expected 408"); return }
    }

    @Test func idleKeepAliveAndStalledWritesClose() {
        var m = machine(.init(idleTimeout: .seconds(75), writeStallTimeout: .seconds(30)))
        _ = m.bytesReceived(get, now: t0)
        _ = m.takeRequest()
        #expect(m.tick(now: t0 + .seconds(500)) == .none)   // in flight: the handler owns the time
        _ = m.responseEnded(keepAlive: true, serverDraining: false, now: t0 + .seconds(500))
        #expect(m.tick(now: t0 + .seconds(570)) == .none)
        #expect(m.tick(now: t0 + .seconds(576)) == .close)

        var w = machine(.init(writeStallTimeout: .seconds(30)))
        _ = w.bytesReceived(get, now: t0)
        _ = w.takeRequest()
        w.queued(1 << 20, now: t0)
        _ = w.flushed(1024, now: t0 + .seconds(20))
        #expect(w.tick(now: t0 + .seconds(45)) == .none)    // progress at 20 s
        #expect(w.tick(now: t0 + .seconds(51)) == .close)   // nothing taken for 31 s
    }

    @Test func closeAfterTheLastAnswerIsFlushed() {
        var m = machine()
        _ = m.bytesReceived(get, now: t0)
        _ = m.takeRequest()
        m.queued(1000, now: t0)
        #expect(m.responseEnded(keepAlive: false, serverDraining: false, now: t0) == .none)
        #expect(!m.wantsRead)
        #expect(m.flushed(1000, now: t0) == .close)
    }

    @Test func badFramingIsAnsweredOnceAndNothingMoreIsRead() {
        var m = machine()
        guard case .respondAndClose(400, _) = m.bytesReceived(Array("GET /\r\n".utf8), now: t0) else { Issue.record("expected 400"); return }
        #expect(!m.wantsRead)
        #expect(m.bytesReceived(get, now: t0) == .none)
        m.queued(10, now: t0)
        #expect(m.errorQueued(now: t0) == .none)
        #expect(m.flushed(10, now: t0) == .close)
    }

    @Test func expectContinueIsAnsweredOnce() {
        var m = machine()
        let a = m.bytesReceived(Array("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n".utf8), now: t0)
        #expect(a == .write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)))
        #expect(m.bytesReceived(Array("a".utf8), now: t0) == .none)
        #expect(m.bytesReceived(Array("b".utf8), now: t0) == .dispatch(index: 1))
    }
}
