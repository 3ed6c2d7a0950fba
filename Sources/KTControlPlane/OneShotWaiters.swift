/// Waiters that each get exactly one result, for an actor to park callers on.
///
/// A waiter is registered *before* its caller parks, so a result that arrives in between (the
/// actor runs other work while a task group's child is still on its way to `park`) is kept and
/// handed over when it does park, rather than lost. The first result wins; later ones are ignored.
/// The owner removes the waiter once its caller has its result.
struct OneShotWaiters<Key: Hashable, Value: Sendable> {
    private enum Slot {
        case pending(CheckedContinuation<Value, Never>?)
        case ready(Value)
    }

    private var slots: [Key: Slot] = [:]

    /// Registers `key`; it must not be in use.
    mutating func register(_ key: Key) {
        precondition(slots[key] == nil, "waiter \(key) is already registered")
        slots[key] = .pending(nil)
    }

    /// Parks `c` on `key`, or resumes it at once when the result is already there.
    mutating func park(_ key: Key, _ c: CheckedContinuation<Value, Never>) {
        switch slots[key] {
        case .pending(nil)?: slots[key] = .pending(c)
        case .ready(let value)?: c.resume(returning: value)
        case .pending(.some)?: preconditionFailure("waiter \(key) parked twice")
        case nil: preconditionFailure("waiter \(key) parked after it was removed")
        }
    }

    /// Gives `key` its result (if it has none yet).
    mutating func finish(_ key: Key, with value: Value) {
        guard case .pending(let c)? = slots[key] else { return }
        slots[key] = .ready(value)
        c?.resume(returning: value)
    }

    /// Gives every waiter still pending the result `value(key)` returns (nil: keep waiting).
    mutating func finishPending(_ value: (Key) -> Value?) {
        for key in pendingKeys { if let v = value(key) { finish(key, with: v) } }
    }

    mutating func remove(_ key: Key) { slots.removeValue(forKey: key) }

    func isPending(_ key: Key) -> Bool {
        if case .pending? = slots[key] { return true }
        return false
    }

    var pendingKeys: [Key] { slots.compactMap { if case .pending = $0.value { $0.key } else { nil } } }
}
