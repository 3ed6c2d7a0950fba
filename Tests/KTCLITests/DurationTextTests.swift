import Testing
@testable import KTCLI

@Suite struct DurationTextTests {
    @Test func parsesOperatorDurations() throws {
        #expect(try DurationText.parse("250ms", flag: "--x") == .milliseconds(250))
        #expect(try DurationText.parse("30s", flag: "--x") == .seconds(30))
        #expect(try DurationText.parse("10m", flag: "--x") == .seconds(600))
        #expect(try DurationText.parse("1h30m", flag: "--x") == .seconds(5400))
        #expect(try DurationText.parse("5", flag: "--x") == .seconds(5))
        #expect(throws: UsageError.self) { try DurationText.parse("5 parsecs", flag: "--x") }
        #expect(throws: UsageError.self) { try DurationText.parse("m5", flag: "--x") }
        #expect(throws: UsageError.self) { try DurationText.parse("5s3", flag: "--x") }
    }

    @Test func listenAddresses() throws {
        #expect(try GatewayRunCommand.parseListen("127.0.0.1:8080", command: "x") == ("127.0.0.1", 8080))
        #expect(try GatewayRunCommand.parseListen(":41002", command: "x") == ("0.0.0.0", 41002))
        #expect(try GatewayRunCommand.parseListen("[::1]:9", command: "x") == ("::1", 9))
        #expect(throws: UsageError.self) { try GatewayRunCommand.parseListen("localhost", command: "x") }
    }
}
