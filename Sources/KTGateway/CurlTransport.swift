import CCurlShim
import Foundation
import Synchronization
import KTHTTP

/// HTTP(S) to providers through libcurl's multi interface, driven by one dedicated thread.
/// The multi handle keeps a connection cache, so connections to a target are reused; bodies
/// stream out chunk by chunk as curl delivers them; cancelling the awaiting task (or dropping
/// the body stream) removes the transfer, which closes its upstream connection.
public final class CurlTransport: UpstreamTransport, @unchecked Sendable {
    private let multi: UnsafeMutableRawPointer
    private let jobs = Mutex<[Job]>([])
    private let running = Atomic<Bool>(true)
    private let wakePending = Atomic<Bool>(false)
    private var transfers: [UnsafeMutableRawPointer: Transfer] = [:]   // loop thread only
    private var thread: Thread?

    private enum Job {
        case start(Transfer)
        case cancel(Transfer)
        case resume(Transfer)
    }

    public static let shared: CurlTransport = CurlTransport()

    /// `maxConnects`: idle connections kept for reuse (a fleet simulator holds thousands).
    public init(maxConnects: Int = 256) {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
        multi = curl_multi_init()!
        _ = kt_curl_multi_set_long(multi, CURLMOPT_MAXCONNECTS, maxConnects)
        let t = Thread { [self] in run() }
        t.name = "kt-curl"
        thread = t
        t.start()
    }

    public func shutdown() {
        running.store(false, ordering: .releasing)
        curl_multi_wakeup(multi)
    }

    public func send(_ request: UpstreamRequest) async throws(UpstreamError) -> UpstreamResponse {
        let transfer = Transfer(request: request)
        transfer.transport = self
        let result: Result<UpstreamResponse, UpstreamError> = await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Result<UpstreamResponse, UpstreamError>, Never>) in
                transfer.headContinuation = c
                enqueue(.start(transfer))
            }
        } onCancel: {
            enqueue(.cancel(transfer))
        }
        return try result.get()
    }

    private func enqueue(_ job: Job) {
        jobs.withLock { $0.append(job) }
        if !wakePending.exchange(true, ordering: .acquiringAndReleasing) { curl_multi_wakeup(multi) }
    }

    // MARK: Loop thread

    private func run() {
        var stillRunning: Int32 = 0
        while running.load(ordering: .acquiring) {
            wakePending.store(false, ordering: .releasing)
            let pending = jobs.withLock { q -> [Job] in let out = q; q.removeAll(); return out }
            for job in pending {
                switch job {
                case .start(let t): start(t)
                case .cancel(let t): finish(t, code: CURLE_ABORTED_BY_CALLBACK, cancelled: true)
                case .resume(let t): if !t.finished, let easy = t.easy { curl_easy_pause(easy, 0) }   // CURLPAUSE_CONT
                }
            }
            curl_multi_perform(multi, &stillRunning)
            var code = CURLE_OK
            while let easy = kt_curl_multi_next_done(multi, &code) {
                if let key = kt_curl_private(easy), let t = transfers[key] { finish(t, code: code, cancelled: false) }
            }
            var numfds: Int32 = 0
            curl_multi_poll(multi, nil, 0, 1000, &numfds)
        }
        for t in Array(transfers.values) { finish(t, code: CURLE_ABORTED_BY_CALLBACK, cancelled: true) }
        curl_multi_cleanup(multi)
    }

    private func start(_ t: Transfer) {
        guard !t.finished, let easy = curl_easy_init() else {
            t.failHead(UpstreamError(.protocolError, "could not create a curl handle"))
            return
        }
        t.easy = easy
        let key = Unmanaged.passUnretained(t).toOpaque()
        transfers[key] = t
        let r = t.request
        _ = kt_curl_set_str(easy, CURLOPT_URL, r.url)
        _ = kt_curl_set_long(easy, CURLOPT_NOSIGNAL, 1)
        _ = kt_curl_set_ptr(easy, CURLOPT_PRIVATE, key)
        _ = kt_curl_set_long(easy, CURLOPT_TCP_NODELAY, 1)
        _ = kt_curl_set_long(easy, CURLOPT_CONNECTTIMEOUT_MS, min(r.timeoutMs, 10_000))
        // HTTPS: TLS 1.2 at least, always verified (curl's default, kept explicit).
        _ = kt_curl_set_long(easy, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2)
        _ = kt_curl_set_long(easy, CURLOPT_SSL_VERIFYPEER, 1)
        _ = kt_curl_set_long(easy, CURLOPT_SSL_VERIFYHOST, 2)
        if let tls = r.tls {
            if let ca = tls.caFile {
                // The private CA in addition to the system store (curl's CAINFO alone would replace it).
                _ = kt_curl_set_str(easy, CURLOPT_CAINFO, ca)
                _ = kt_curl_set_str(easy, CURLOPT_CAPATH, "/etc/ssl/certs")
            }
            if let cert = tls.certificate {
                _ = kt_curl_set_str(easy, CURLOPT_SSLCERT, cert)
                _ = kt_curl_set_str(easy, CURLOPT_SSLKEY, tls.key ?? cert)
            }
        }
        _ = kt_curl_set_ptr(easy, CURLOPT_ERRORBUFFER, t.errorBuffer)
        if r.stream {
            // A stream may run long; abort only when it stalls for the whole timeout.
            _ = kt_curl_set_long(easy, CURLOPT_LOW_SPEED_LIMIT, 1)
            _ = kt_curl_set_long(easy, CURLOPT_LOW_SPEED_TIME, max(1, r.timeoutMs / 1000))
        } else {
            _ = kt_curl_set_long(easy, CURLOPT_TIMEOUT_MS, r.timeoutMs)
        }
        if r.method == "POST" {
            _ = kt_curl_set_long(easy, CURLOPT_POST, 1)
            _ = r.body.withUnsafeBytes { kt_curl_set_postfields(easy, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, r.body.count) }
        } else if r.method != "GET" {
            _ = kt_curl_set_str(easy, CURLOPT_CUSTOMREQUEST, r.method)
        }
        var list: UnsafeMutablePointer<curl_slist>?
        for (name, value) in r.headers { list = curl_slist_append(list, "\(name): \(value)") }
        // No "Expect: 100-continue" round trip for large bodies.
        list = curl_slist_append(list, "Expect:")
        t.headerList = list
        _ = kt_curl_set_ptr(easy, CURLOPT_HTTPHEADER, list)
        _ = kt_curl_set_header(easy, { ptr, size, n, ud in
            let t = Unmanaged<Transfer>.fromOpaque(ud!).takeUnretainedValue()
            t.headerLine(UnsafeRawBufferPointer(start: ptr, count: size * n))
            return size * n
        }, key)
        _ = kt_curl_set_write(easy, { ptr, size, n, ud in
            let t = Unmanaged<Transfer>.fromOpaque(ud!).takeUnretainedValue()
            return t.bodyData(UnsafeRawBufferPointer(start: ptr, count: size * n))
        }, key)
        curl_multi_add_handle(multi, easy)
    }

    private func finish(_ t: Transfer, code: CURLcode, cancelled: Bool) {
        guard !t.finished else { return }
        t.finished = true
        if let easy = t.easy {
            curl_multi_remove_handle(multi, easy)
            curl_easy_cleanup(easy)
            transfers[Unmanaged.passUnretained(t).toOpaque()] = nil
            t.easy = nil
        }
        if let list = t.headerList { curl_slist_free_all(list); t.headerList = nil }
        if cancelled {
            t.failHead(UpstreamError(.cancelled, "cancelled"))
            t.finishBody(error: UpstreamError(.cancelled, "cancelled"))
            return
        }
        if t.tooLarge {
            let error = UpstreamError(.responseTooLarge, "upstream response is larger than \(t.request.maxResponseBytes) bytes")
            t.failHead(error)
            t.finishBody(error: error)
        } else if code == CURLE_OK {
            t.deliverHeadIfNeeded()
            t.finishBody(error: nil)
        } else {
            let error = Self.classify(code, detail: t.errorText, url: t.request.url)
            t.failHead(error)
            t.finishBody(error: error)
        }
    }

    static func classify(_ code: CURLcode, detail: String = "", url: String = "") -> UpstreamError {
        let text = String(cString: curl_easy_strerror(code))
        let host = URLComponents(string: url).map { "\($0.host ?? "?")\($0.port.map { ":\($0)" } ?? "")" } ?? "the server"
        let reason = detail.isEmpty ? text : detail
        switch code {
        case CURLE_PEER_FAILED_VERIFICATION:
            return UpstreamError(.connectError, "TLS: cannot verify the certificate of \(host): \(reason); \(TLSClientOptions.advice(forReason: reason))")
        case CURLE_SSL_CONNECT_ERROR:
            return UpstreamError(.connectError, "TLS handshake with \(host) failed: \(reason); \(TLSClientOptions.advice(forReason: reason))")
        case CURLE_SSL_CERTPROBLEM:
            return UpstreamError(.connectError, "TLS: cannot use the client certificate: \(reason); check KEEPTRUSTS_TLS_CLIENT_CERT and KEEPTRUSTS_TLS_CLIENT_KEY")
        case CURLE_SEND_ERROR where detail.contains("alert"), CURLE_RECV_ERROR where detail.contains("alert"):
            // TLS 1.3 sends the server's verdict on our certificate after the handshake, as an alert.
            return UpstreamError(.connectError, "TLS: \(host) ended the connection: \(reason); \(TLSClientOptions.advice(forReason: reason))")
        case CURLE_SSL_CACERT_BADFILE:
            return UpstreamError(.connectError, "TLS: cannot read the CA file: \(reason); check KEEPTRUSTS_CA_FILE")
        default:
            break
        }
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_SSL_CONNECT_ERROR:
            return UpstreamError(.connectError, text)
        case CURLE_OPERATION_TIMEDOUT:
            return UpstreamError(.timeout, text)
        default:
            return UpstreamError(.protocolError, text)
        }
    }

    /// The state of one transfer; touched on the curl thread, except the continuations it resumes.
    final class Transfer: @unchecked Sendable {
        let request: UpstreamRequest
        var easy: UnsafeMutableRawPointer?
        var headerList: UnsafeMutablePointer<curl_slist>?
        /// curl's detailed reason for a failure (CURL_ERROR_SIZE bytes), e.g. the certificate problem.
        /// Allocated (not an array) so curl may keep the address for the whole transfer.
        let errorBuffer: UnsafeMutablePointer<CChar> = {
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: 256)
            p.initialize(repeating: 0, count: 256)
            return p
        }()
        var errorText: String { String(cString: errorBuffer) }
        deinit { errorBuffer.deallocate() }
        var headContinuation: CheckedContinuation<Result<UpstreamResponse, UpstreamError>, Never>?
        var bodyContinuation: AsyncThrowingStream<[UInt8], any Error>.Continuation?
        var status = 0
        var headers: [(String, String)] = []
        var headDelivered = false
        var finished = false
        /// The body passed `maxResponseBytes`; the transfer was stopped.
        var tooLarge = false
        var received = 0
        /// Streamed bytes handed to the consumer and not yet passed on by it.
        let pending = Atomic<Int>(0)
        /// Set (curl thread) when the transfer was paused because `pending` was high.
        let paused = Atomic<Bool>(false)
        weak var transport: CurlTransport?

        /// Above this many unconsumed bytes the transfer pauses (TCP then pushes back on the
        /// provider); it resumes once the consumer is down to the low watermark.
        static let pauseAbove = 1 << 20
        static let resumeBelow = 256 << 10
        static let writePause = 0x1000_0001   // CURL_WRITEFUNC_PAUSE

        /// Consumer side: `n` bytes were passed on.
        func consumed(_ n: Int) {
            let left = pending.subtract(n, ordering: .sequentiallyConsistent).newValue
            if left <= Self.resumeBelow, paused.exchange(false, ordering: .sequentiallyConsistent), let transport = CurlTransport.owner(of: self) {
                transport.enqueue(.resume(self))
            }
        }

        init(request: UpstreamRequest) { self.request = request }

        func headerLine(_ bytes: UnsafeRawBufferPointer) {
            let line = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .newlines)
            if bytes.count >= 5, bytes[0] == 72, bytes[1] == 84, bytes[2] == 84, bytes[3] == 80, bytes[4] == 47 {  // "HTTP/"
                // A new head (after 100 Continue or a redirect) replaces the previous one.
                status = Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
                headers.removeAll()
            } else if line.isEmpty {
                if status >= 200 { deliverHeadIfNeeded() }
            } else if let colon = line.firstIndex(of: ":") {
                headers.append((String(line[..<colon]).lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            }
        }

        /// Non-streamed responses are buffered and handed over whole when the transfer ends:
        /// one resume instead of a hop per chunk.
        var buffered: [UInt8] = []

        func deliverHeadIfNeeded() {
            guard request.stream || finished else { return }
            guard !headDelivered, let c = headContinuation else { return }
            headDelivered = true
            headContinuation = nil
            let (stream, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
            bodyContinuation = continuation
            continuation.onTermination = { [weak self] reason in
                // The consumer went away (client disconnected, or cancelled): stop the transfer.
                if case .cancelled = reason, let self, let transport = CurlTransport.owner(of: self) {
                    transport.enqueue(.cancel(self))
                }
            }
            if !request.stream {
                if !buffered.isEmpty { continuation.yield(buffered) }
                buffered = []
            }
            c.resume(returning: .success(UpstreamResponse(status: status, headers: headers, body: stream, consumed: { [weak self] n in self?.consumed(n) })))
        }

        func failHead(_ error: UpstreamError) {
            guard let c = headContinuation else { return }
            headContinuation = nil
            c.resume(returning: .failure(error))
        }

        /// curl's write callback: how many bytes were taken, 0 to abort, `writePause` to pause.
        func bodyData(_ bytes: UnsafeRawBufferPointer) -> Int {
            received += bytes.count
            if received > request.maxResponseBytes {
                tooLarge = true
                return 0
            }
            if !request.stream {
                buffered.append(contentsOf: bytes)
                return bytes.count
            }
            deliverHeadIfNeeded()
            guard let c = bodyContinuation else { return bytes.count }
            if request.pausesForConsumer, pending.load(ordering: .sequentiallyConsistent) > Self.pauseAbove {
                // Pause first, then look again: a consumer that drained meanwhile saw no pause to undo.
                paused.store(true, ordering: .sequentiallyConsistent)
                if pending.load(ordering: .sequentiallyConsistent) > Self.resumeBelow {
                    received -= bytes.count   // curl delivers the same bytes again after the pause
                    return Self.writePause
                }
                paused.store(false, ordering: .sequentiallyConsistent)
            }
            pending.add(bytes.count, ordering: .sequentiallyConsistent)
            if case .terminated = c.yield(Array(bytes)) { return 0 }  // consumer gone: abort
            return bytes.count
        }

        func finishBody(error: UpstreamError?) {
            guard let c = bodyContinuation else { return }
            bodyContinuation = nil
            if let error { c.finish(throwing: error) } else { c.finish() }
        }
    }

    /// Transfers are created by the shared transport in practice; tests may create others.
    static func owner(of transfer: Transfer) -> CurlTransport? { transfer.transport ?? shared }
}
