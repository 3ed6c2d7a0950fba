/// How much each gateway gives up when the event store is over its budget (bytes or events): the gateways
/// holding the most are cut down to one common cap, the smallest that frees enough
/// (water-filling), so one sender's flood is pruned from its own events and a quiet gateway keeps
/// its history until every larger one is down to its size.
enum EventShares {
    /// `(gateway, amount to free from it)` for the gateways above the cap, largest first.
    static func cuts(_ totals: [(gateway: String, amount: Int)], toFree need: Int) -> [(gateway: String, amount: Int)] {
        guard need > 0 else { return [] }
        let sorted = totals.filter { $0.amount > 0 }.sorted { $0.amount != $1.amount ? $0.amount > $1.amount : $0.gateway < $1.gateway }
        guard !sorted.isEmpty else { return [] }
        // With the k largest cut to `cap`, they free Σ(b_i) − k·cap; the first k whose cap is not
        // below the next gateway's total is the answer.
        var prefix = 0
        var cap = 0
        for k in 1...sorted.count {
            prefix += sorted[k - 1].amount
            let candidate = max(0, (prefix - need) / k)     // rounds down: frees at least `need`
            let next = k < sorted.count ? sorted[k].amount : 0
            if candidate >= next || k == sorted.count { cap = candidate; break }
        }
        return sorted.prefix { $0.amount > cap }.map { ($0.gateway, $0.amount - cap) }
    }
}
