import CKTShim
import Foundation

/// What the listener does when the process runs out of descriptors (EMFILE/ENFILE).
///
/// A level-triggered listener whose `accept4` keeps failing would spin the loop at 100 % CPU and
/// starve every open connection. Instead: the spare descriptor held for this moment is given up
/// to accept one waiting client and tell it 503 (so it does not hang in the backlog), the
/// listener stops being polled for a back-off that doubles up to a second, and one warning is
/// logged per episode. Loop thread only.
final class AcceptBackoff: @unchecked Sendable {
    private let loop: EventLoop
    private let warn: (@Sendable (String) -> Void)?
    private var reserveFD: Int32 = kt_open_reserve_fd()
    private var pausedUntil: ContinuousClock.Instant?
    private var backoff: Duration = .milliseconds(100)
    private var inEpisode = false
    private(set) var refusedInEpisode = 0

    init(loop: EventLoop, warn: (@Sendable (String) -> Void)?) {
        self.loop = loop
        self.warn = warn
    }

    deinit { if reserveFD >= 0 { close(reserveFD) } }

    func descriptorsExhausted(_ listenFD: Int32, errno code: Int32) {
        if !inEpisode {
            inEpisode = true
            refusedInEpisode = 0
            let what = code == EMFILE ? "the process's descriptor limit (RLIMIT_NOFILE)" : "the system's file table"
            warn?("out of file descriptors: \(what) is exhausted; new connections are refused with 503 until some close (raise `ulimit -n` or lower --max-connections)")
        }
        if reserveFD >= 0 {
            close(reserveFD)
            reserveFD = -1
            let fd = kt_accept_nonblocking(listenFD)
            if fd >= 0 {
                let body = Array("HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 47\r\nconnection: close\r\nretry-after: 1\r\n\r\nthe server is out of descriptors; retry shortly\n".utf8)
                _ = body.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(fd)
                refusedInEpisode += 1
            }
            reserveFD = kt_open_reserve_fd()
        }
        pausedUntil = .now + backoff
        backoff = min(backoff * 2, .seconds(1))
        loop.modify(listenFD, events: 0)
    }

    /// A connection was accepted: the episode is over.
    func accepted() {
        guard inEpisode else { return }
        inEpisode = false
        backoff = .milliseconds(100)
    }

    func tick(listenFD: Int32) {
        guard let until = pausedUntil, listenFD >= 0, ContinuousClock.now >= until else { return }
        pausedUntil = nil
        if reserveFD < 0 { reserveFD = kt_open_reserve_fd() }
        loop.modify(listenFD, events: KT_EPOLLIN)
    }
}
