import Foundation
import Synchronization

/// A `kt` child process for end-to-end tests, with its output collected line by line.
public final class ChildProcess: @unchecked Sendable {
    public let process = Process()
    private let outLines = LineBuffer(), errLines = LineBuffer()
    private let stdoutPipe = Pipe(), stderrPipe = Pipe()

    /// The `kt` executable built next to the test bundle.
    public static var ktBinary: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return ((exe as NSString).deletingLastPathComponent as NSString).appendingPathComponent("kt")
    }

    /// `descriptorLimit`: run under `ulimit -n` (soft and hard), as an operator's shell might.
    /// `tool`: run this program (found on PATH) instead of `kt`, e.g. a long-running `curl`.
    public init(_ args: [String], environment: [String: String] = [:], descriptorLimit: Int? = nil, tool: String? = nil) throws {
        if let tool {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [tool] + args
        } else if let n = descriptorLimit {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -n \(n) && exec \"$0\" \"$@\"", Self.ktBinary] + args
        } else {
            process.executableURL = URL(fileURLWithPath: Self.ktBinary)
            process.arguments = args
        }
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        try process.run()
        ChildProcess.track(process.processIdentifier)
        Self.drain(stdoutPipe, into: outLines)
        Self.drain(stderrPipe, into: errLines)
    }

    /// Reads `pipe` to its end on a thread of its own with blocking reads. (Foundation's
    /// `readabilityHandler` traps on a spurious wake-up: `availableData` hits EAGAIN on the
    /// non-blocking descriptor dispatch leaves behind, and it took a test run down under load.)
    private static func drain(_ pipe: Pipe, into lines: LineBuffer) {
        let fd = pipe.fileHandleForReading.fileDescriptor
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0, flags & O_NONBLOCK != 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
        let reader = Thread {
            withExtendedLifetime(pipe) {
                var buffer = [UInt8](repeating: 0, count: 64 * 1024)
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if n > 0 { lines.append(buffer[0..<n]); continue }
                    if n < 0, errno == EINTR { continue }
                    break   // EOF: the child and everything that inherited the pipe are gone
                }
                lines.finish()
            }
        }
        reader.stackSize = 256 * 1024
        reader.start()
    }

    /// Every child still alive when the test process exits is killed (no orphans across runs).
    private static let live = Mutex<Set<Int32>>([])
    private static let atExitInstalled = Mutex(false)
    static func track(_ pid: Int32) {
        live.withLock { _ = $0.insert(pid) }
        atExitInstalled.withLock { installed in
            guard !installed else { return }
            installed = true
            atexit { ChildProcess.live.withLock { for p in $0 where ChildProcess.isOurChild(p) { kill(p, SIGKILL) } } }
        }
    }

    public var pid: Int32 { process.processIdentifier }
    /// stdout lines, then stderr lines.
    public var output: [String] { outLines.lines + errLines.lines }

    /// Polls (with a deadline) for an output line containing `needle`.
    public func waitForLine(containing needle: String, timeout: Duration = .seconds(20)) async -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let l = output.first(where: { $0.contains(needle) }) { return l }
            if !process.isRunning, output.first(where: { $0.contains(needle) }) == nil { return nil }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    /// Signals the child while it is ours: once it has exited and been reaped its pid may belong
    /// to another process (pid_max is 32768 here, and a test run starts thousands of processes).
    public func signal(_ sig: Int32) {
        if process.isRunning { kill(process.processIdentifier, sig) }
    }

    /// Whether `pid` is still a child of this process (alive or not yet reaped).
    static func isOurChild(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        // Fields after "(comm)": state, ppid, ...
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 && Int32(fields[1]) == getpid()
    }

    /// Waits for exit (with a deadline, then SIGKILL) and returns the status.
    @discardableResult
    public func waitForExit(timeout: Duration = .seconds(20)) async -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        return process.terminationStatus
    }

    public func stop() async {
        if process.isRunning { signal(SIGTERM) }
        await waitForExit(timeout: .seconds(10))
    }

    public struct Finished: Sendable { public var status: Int32; public var stdout: String; public var stderr: String }

    /// Runs `kt` to completion (reading both pipes before waiting, so a full pipe cannot deadlock it).
    public static func runToEnd(_ args: [String], environment: [String: String] = [:]) throws -> Finished {
        try runToEnd(executable: ktBinary, args, environment: environment)
    }

    /// Runs a system tool (`tar`, `gzip`, `sha256sum`, …) found on PATH to completion.
    public static func system(_ argv: [String]) throws -> Finished {
        try runToEnd(executable: "/usr/bin/env", argv)
    }

    /// `runToEnd` for async tests: the wait happens on a thread of its own, not the cooperative pool.
    public static func runToEnd(_ args: [String], environment: [String: String] = [:]) async throws -> Finished {
        try await onThread { Result { try runToEnd(executable: ktBinary, args, environment: environment) } }.get()
    }

    /// `system` for async tests.
    public static func system(_ argv: [String]) async throws -> Finished {
        try await onThread { Result { try runToEnd(executable: "/usr/bin/env", argv) } }.get()
    }

    static func runToEnd(executable: String, _ args: [String], environment: [String: String] = [:]) throws -> Finished {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { errBox.data = err.fileHandleForReading.readDataToEndOfFile() }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return Finished(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                        stderr: String(decoding: errBox.data, as: UTF8.self))
    }

    /// Starts `kt dev mock-upstream` on a free port and returns it with the port.
    public static func mockUpstream(_ extra: [String] = []) async throws -> (ChildProcess, Int) {
        let p = try ChildProcess(["dev", "mock-upstream", "--listen", "127.0.0.1:0"] + extra)
        guard let line = await p.waitForLine(containing: "listening on"), let port = Int(line.split(separator: ":").last ?? "") else {
            await p.stop()
            throw POSIXError(.ETIMEDOUT)
        }
        return (p, port)
    }

    /// Starts `kt gateway run` on a free port and returns it with the port.
    public static func gateway(_ args: [String], environment: [String: String] = [:], descriptorLimit: Int? = nil) async throws -> (ChildProcess, Int) {
        let p = try ChildProcess(["gateway", "run", "--listen", "127.0.0.1:0"] + args, environment: environment, descriptorLimit: descriptorLimit)
        guard let line = await p.waitForLine(containing: "gateway listening"),
              let range = line.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression),
              let port = Int(line[range].split(separator: ":")[1]) else {
            await p.stop()
            throw StartError(description: "gateway did not start: \(p.output.joined(separator: "\n"))")
        }
        return (p, port)
    }
}

extension ChildProcess {
    /// Starts `kt control-plane run` on a free port with `dataDir`; returns it, its port and the admin token.
    public static func controlPlane(dataDir: String, port: Int = 0, extraArgs: [String] = []) async throws -> (ChildProcess, port: Int, adminToken: String) {
        let p = try ChildProcess(["control-plane", "run", "--listen", "127.0.0.1:\(port)", "--data", dataDir] + extraArgs)
        guard let line = await p.waitForLine(containing: "control plane listening"),
              let range = line.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression),
              let port = Int(line[range].split(separator: ":")[1]),
              let token = try? String(contentsOfFile: dataDir + "/admin-token", encoding: .utf8) else {
            await p.stop()
            throw StartError(description: "control plane did not start: \(p.output.joined(separator: "\n"))")
        }
        return (p, port, token.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

public struct StartError: Error, CustomStringConvertible { public var description: String }

extension ChildProcess {
    /// CPU time (user + system) the process has used so far, in seconds.
    public var cpuSeconds: Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return -1 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14 and stime 15 (1-based over the whole line).
        guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else { return -1 }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

/// Complete lines so far, plus the bytes of the one still arriving (kept as bytes so a UTF-8
/// character split across two reads is decoded whole).
final class LineBuffer: Sendable {
    private let state = Mutex<(lines: [String], partial: [UInt8])>(([], []))

    var lines: [String] { state.withLock { $0.lines } }

    func append(_ bytes: ArraySlice<UInt8>) {
        state.withLock { s in
            for byte in bytes {
                if byte == UInt8(ascii: "\n") {
                    if !s.partial.isEmpty { s.lines.append(String(decoding: s.partial, as: UTF8.self)) }
                    s.partial.removeAll(keepingCapacity: true)
                } else {
                    s.partial.append(byte)
                }
            }
        }
    }

    /// End of output: an unterminated last line still counts.
    func finish() {
        state.withLock { s in
            if !s.partial.isEmpty { s.lines.append(String(decoding: s.partial, as: UTF8.self)) }
            s.partial = []
        }
    }
}
