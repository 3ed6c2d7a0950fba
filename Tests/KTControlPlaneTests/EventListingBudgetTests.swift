import Testing
@testable import KTControlPlane

/// `GET /v1/events` answers at most 16 MB of events: paging forward keeps the oldest (the caller
/// goes on after `last_seq`), "the latest N" keeps the newest, and one event always goes out.
@Suite struct EventListingBudgetTests {
    func events(_ n: Int, bytes: Int) -> [StoredEvent] {
        let body = String(repeating: "x", count: bytes)   // one buffer, shared by every event
        return (1...n).map { StoredEvent(seq: $0, gateway: "gw", at: 0, verdict: "allow", body: body) }
    }

    @Test func answersStayWithinTheBudget() {
        let mb = 1 << 20
        let (forward, cutForward) = ControlPlane.withinResponseBudget(events(40, bytes: mb), pagingForward: true)
        #expect(cutForward && forward.map(\.seq) == Array(1...16))
        let (latest, cutLatest) = ControlPlane.withinResponseBudget(events(40, bytes: mb), pagingForward: false)
        #expect(cutLatest && latest.map(\.seq) == Array(25...40))
        let (small, cutSmall) = ControlPlane.withinResponseBudget(events(1000, bytes: 1000), pagingForward: false)
        #expect(!cutSmall && small.count == 1000)
        let (one, _) = ControlPlane.withinResponseBudget(events(2, bytes: 20 * mb), pagingForward: true)
        #expect(one.map(\.seq) == [1])
    }
}
