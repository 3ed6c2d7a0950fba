import Foundation
import Synchronization
import KTConfig

/// Where a command writes, what environment it sees, and whether it talks to a terminal.
/// Injected so commands can be run in-process by tests.
public struct CLIContext: Sendable {
    public var stdout: OutputSink
    public var stderr: OutputSink
    public var environment: [String: String]
    public var stdoutIsTTY: Bool
    public var currentDirectory: String

    public init(stdout: OutputSink, stderr: OutputSink, environment: [String: String], stdoutIsTTY: Bool,
                currentDirectory: String = FileManager.default.currentDirectoryPath) {
        self.stdout = stdout
        self.stderr = stderr
        self.environment = environment
        self.stdoutIsTTY = stdoutIsTTY
        self.currentDirectory = currentDirectory
    }

    public static func process() -> CLIContext {
        CLIContext(stdout: .fileDescriptor(1), stderr: .fileDescriptor(2),
                   environment: ProcessInfo.processInfo.environment, stdoutIsTTY: isatty(1) == 1)
    }

    /// Colour only on a TTY, never with NO_COLOR set (any value) or TERM=dumb; symbols (✓ ✗ ⚠)
    /// only on a TTY too — a pipe gets words (OK, FAIL, WARN) that grep and logs read.
    public var style: TerminalStyle {
        let noColor = environment["NO_COLOR"] != nil || environment["TERM"] == "dumb"
        return TerminalStyle(color: stdoutIsTTY && !noColor, unicode: stdoutIsTTY && environment["TERM"] != "dumb")
    }

    /// Table options for this output: fitted to 100 columns with Unicode on a terminal, whole
    /// values in plain ASCII for a pipe.
    func render(_ table: TextTable, separatorBefore: Int = 0) -> String {
        table.render(maxWidth: stdoutIsTTY ? 100 : .max, separatorBefore: separatorBefore, unicode: style.unicode)
    }

    /// "→" on a terminal, "->" elsewhere.
    var arrow: String { style.unicode ? "→" : "->" }

    public func out(_ s: String) { stdout.write(s.hasSuffix("\n") ? s : s + "\n") }
    public func err(_ s: String) { stderr.write(s.hasSuffix("\n") ? s : s + "\n") }
}

/// A destination for text: a file descriptor, or a buffer tests can read.
public final class OutputSink: Sendable {
    private enum Target { case fd(Int32), buffer }
    private let target: Target
    private let buffer = Mutex<String>("")

    private init(_ target: Target) { self.target = target }

    public static func fileDescriptor(_ fd: Int32) -> OutputSink { OutputSink(.fd(fd)) }
    public static func capture() -> OutputSink { OutputSink(.buffer) }

    public func write(_ s: String) {
        switch target {
        case .fd(let fd):
            var bytes = Array(s.utf8)
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeMutableBytes { Foundation.write(fd, $0.baseAddress! + offset, $0.count - offset) }
                if n < 0 { if errno == EINTR { continue }; return }
                offset += n
            }
        case .buffer:
            buffer.withLock { $0 += s }
        }
    }

    /// Everything written so far (capture sinks only).
    public var text: String { buffer.withLock { $0 } }
}
