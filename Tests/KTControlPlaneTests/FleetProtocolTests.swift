import Testing
import KTModel

/// One typed definition per fleet message: what the agent sends decodes to the same value, and
/// what a hostile or broken peer sends is refused naming the field.
@Suite struct FleetProtocolTests {
    let sha = String(repeating: "ab", count: 32)

    @Test func messagesRoundTrip() throws {
        var traffic = TrafficSample()
        traffic.record(status: 200, verdict: "allow", latencyMs: 12, overheadMs: 0.25)
        traffic.record(status: 409, verdict: "block", latencyMs: 3, overheadMs: 0.5)
        let reg = RegistrationMessage(id: "gw-1", name: "one", region: "eu", labels: [("team", "ai")], version: "0.9.0",
                                      address: "10.0.0.1:41002", heartbeatIntervalSeconds: 5,
                                      config: RunningConfigReport(version: "v1", sha: sha, source: "local", content: "{}"))
        #expect(try RegistrationMessage(json: reg.json) == reg)
        var hb = HeartbeatMessage(intervalSeconds: 5, status: "healthy", uptimeSeconds: 60, version: "0.9.0",
                                  config: RunningConfigReport(version: "v1", sha: String(sha.prefix(12))), traffic: traffic,
                                  eventsQueued: 3, eventsDropped: 1, unixMs: 1_764_590_400_000)
        hb.missedHeartbeats = 2
        hb.audit = .init(failure: "write to /var/lib/kt/audit/segment-000003.jsonl failed: No space left on device", recordsFailed: 4, recordsDropped: 0)
        #expect(try HeartbeatMessage(json: hb.json) == hb)
        let ack = ConfigAckMessage(version: "v2", sha: sha, status: .rejected, error: "E002 unknown key")
        #expect(try ConfigAckMessage(json: ack.json) == ack)
        let poll = ConfigPollAnswer(config: .init(version: "v2", sha: sha, source: "fleet", content: "pack: {}"))
        #expect(try ConfigPollAnswer(json: poll.json) == poll)
        let task = ConfigPollAnswer(task: TaskRequest(id: "t_1", kind: "doctor", parameters: .object([("checks", .array(["audit"]))])))
        #expect(try ConfigPollAnswer(json: task.json).task?.id == "t_1")
        let batch = EventBatchMessage(events: [.object([("verdict", "allow")])], dropped: 4)
        #expect(try EventBatchMessage(json: batch.json) == batch)
    }

    func refused(_ text: String, _ decode: (JSONValue) throws(BoundedFieldError) -> Void) -> String? {
        guard let j = try? JSONValue.parse(text) else { return "not JSON" }
        do { try decode(j); return nil } catch { return error.message }
    }

    @Test func hostileValuesAreRefusedNamingTheField() {
        let ackProblems = [
            #"{"sha":"a","status":"applied"}"#: "ack.sha",                                   // a one-character prefix is not a sha
            #"{"sha":"\#(sha)","status":"maybe"}"#: "ack.status",
            #"{"sha":"\#(String(repeating: "A", count: 64))","status":"applied"}"#: "ack.sha",  // upper case
            #"{"status":"applied"}"#: "ack.sha is required",
        ]
        for (text, expected) in ackProblems {
            let m = refused(text) { j throws(BoundedFieldError) in _ = try ConfigAckMessage(json: j) }
            #expect(m?.contains(expected) == true, "\(text) → \(m ?? "accepted")")
        }
        let hbProblems = [
            #"{"status":"on fire"}"#: "heartbeat.status",
            #"{"interval_seconds":1e300}"#: "heartbeat.interval_seconds",
            #"{"events_dropped":-1}"#: "heartbeat.events_dropped",
            #"{"config":{"version":"v","sha":"zz"}}"#: "config.sha",
            #"{"traffic":{"requests":1,"errors":{"nonsense":1}}}"#: "not an error class",
            #"{"version":"\#(String(repeating: "v", count: 100))"}"#: "heartbeat.version",
            #"[1,2]"#: "must be a JSON object",
        ]
        for (text, expected) in hbProblems {
            let m = refused(text) { j throws(BoundedFieldError) in _ = try HeartbeatMessage(json: j) }
            #expect(m?.contains(expected) == true, "\(text) → \(m ?? "accepted")")
        }
        let manyLabels = "{" + (0..<65).map { #""l\#($0)":"v""# }.joined(separator: ",") + "}"
        #expect(refused(#"{"labels":\#(manyLabels)}"#) { j throws(BoundedFieldError) in _ = try RegistrationMessage(json: j) }?.contains("more than 64") == true)
        #expect(refused(#"{"labels":{"a":1}}"#) { j throws(BoundedFieldError) in _ = try RegistrationMessage(json: j) } != nil)
        #expect(refused(#"{"id":"gw\u0001"}"#) { j throws(BoundedFieldError) in _ = try RegistrationMessage(json: j) } != nil)
        // Unknown keys are ignored: a newer gateway may send more.
        #expect(refused(#"{"status":"healthy","future_field":{"x":1}}"#) { j throws(BoundedFieldError) in _ = try HeartbeatMessage(json: j) } == nil)
        let tooMany = "[" + Array(repeating: #"{"verdict":"allow"}"#, count: 1001).joined(separator: ",") + "]"
        #expect(refused(#"{"events":\#(tooMany)}"#) { j throws(BoundedFieldError) in _ = try EventBatchMessage(json: j) }?.contains("at most 1000") == true)
    }
}
