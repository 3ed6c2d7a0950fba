import Foundation


/// Structured logs: one JSON object per line on stderr.
public struct JSONLogger: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case debug, info, warn, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        public init?(name: String) {
            switch name.lowercased() {
            case "debug": self = .debug
            case "info": self = .info
            case "warn", "warning": self = .warn
            case "error": self = .error
            default: return nil
            }
        }
        public var name: String { ["debug", "info", "warn", "error"][rawValue] }
    }

    public var minimum: Level
    public var component: String

    public init(minimum: Level = .info, component: String = "gateway") {
        self.minimum = minimum
        self.component = component
    }

    public func log(_ level: Level, _ message: String, _ fields: [(String, JSONValue)] = [], always: Bool = false) {
        guard always || level >= minimum else { return }
        let ts = Date().formatted(.iso8601.year().month().day().timeSeparator(.colon).time(includingFractionalSeconds: true))
        let obj = JSONValue.object([("ts", .string(ts)), ("level", .string(level.name)), ("component", .string(component)),
                                    ("msg", .string(message))] + fields)
        let line = Array((obj.serialized() + "\n").utf8)
        line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }

    public func info(_ m: String, _ f: [(String, JSONValue)] = []) { log(.info, m, f) }
    public func warn(_ m: String, _ f: [(String, JSONValue)] = []) { log(.warn, m, f) }
    public func error(_ m: String, _ f: [(String, JSONValue)] = []) { log(.error, m, f) }
}
