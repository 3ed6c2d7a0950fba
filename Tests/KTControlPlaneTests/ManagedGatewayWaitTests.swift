import Foundation
import Testing
import KTModel
import KTTestSupport
@testable import KTControlPlane

/// Parks callers on results that may arrive before they park.
actor WaiterBox {
    var waiters = OneShotWaiters<Int, String>()
    func register(_ k: Int) { waiters.register(k) }
    func park(_ k: Int) async -> String { await withCheckedContinuation { c in waiters.park(k, c) } }
    func finish(_ k: Int, _ v: String) { waiters.finish(k, with: v) }
    func finishPending(_ v: String) { waiters.finishPending { _ in v } }
    func isPending(_ k: Int) -> Bool { waiters.isPending(k) }
}

@Suite struct OneShotWaitersTests {
    @Test func aResultThatArrivesBeforeTheCallerParksIsKept() async {
        let box = WaiterBox()
        await box.register(1)
        await box.finish(1, "early")
        #expect(await box.isPending(1) == false)
        #expect(await box.park(1) == "early")
    }

    @Test func theFirstResultWins() async {
        let box = WaiterBox()
        await box.register(1)
        async let parked = box.park(1)
        await box.finish(1, "first")
        await box.finish(1, "second")
        #expect(await parked == "first")
    }

    @Test func finishPendingSkipsWaitersThatAlreadyHaveAResult() async {
        let box = WaiterBox()
        await box.register(1)
        await box.register(2)
        await box.finish(1, "own")
        await box.finishPending("broadcast")
        #expect(await box.park(1) == "own")
        #expect(await box.park(2) == "broadcast")
    }
}

/// The control plane's side of a gateway's long-poll, against a real SQLite store.
@Suite struct ManagedGatewayWaitTests {
    static func gateway() throws -> ManagedGateway {
        let store = try ControlPlaneStore(path: try Fixtures.tempDir() + "/cp.sqlite")
        let persistence = GatewayPersistence(store: store, logger: { _ in })
        return ManagedGateway(id: "gw", registeredAt: 0, persistence: persistence, now: { Date().timeIntervalSince1970 })
    }

    /// A task queued while the gateway's poll is on its way to parking reaches that poll at once
    /// (it used to sit out the poll's whole wait: the wake-up found nobody parked yet).
    @Test func aTaskQueuedAsThePollParksIsDeliveredAtOnce() async throws {
        let g = try Self.gateway()
        for round in 0..<200 {
            let id = "task-\(round)"
            async let answer = g.runTask(.object([("id", .string(id))]), id: id, timeout: .seconds(20))
            // The poll waits far longer than the task's deadline: only a delivered wake-up ends it in time.
            let poll = await g.pollConfig(knownSHA: nil, wait: .seconds(5))
            guard case .task(let task) = poll else {
                Issue.record("round \(round): the poll ended without the task: \(poll)")
                await g.finishTask(id, result: nil)
                _ = await answer
                return
            }
            #expect(task["id"]?.stringValue == id)
            #expect(await g.expectsTask(id))
            await g.finishTask(id, result: .object([("ok", .bool(true))]))
            #expect(await answer?["ok"]?.boolValue == true, "round \(round)")
        }
    }

    @Test func aPollWithNothingToSayEndsAfterItsWait() async throws {
        let g = try Self.gateway()
        guard case .unchanged = await g.pollConfig(knownSHA: nil, wait: .milliseconds(20)) else {
            Issue.record("nothing desired and no task: unchanged")
            return
        }
        #expect(await g.runTask(.object([("id", "lost")]), id: "lost", timeout: .milliseconds(20)) == nil, "nobody polled: no answer")
        #expect(await g.expectsTask("lost") == false)
    }
}
