/// How much each gateway gives up when the event store is over its byte budget: the gateways
/// holding the most are cut down to one common cap, the smallest that frees enough
/// (water-filling), so one sender's flood is pruned from its own events and a quiet gateway keeps
/// its history until every larger one is down to its size.
enum EventShares {
    /// `(gateway, bytes to free from it)` for the gateways above the cap, largest first.
    static func cuts(_ totals: [(gateway: String, bytes: Int)], toFree need: Int) -> [(gateway: String, bytes: Int)] {
        guard need > 0 else { return [] }
        let sorted = totals.filter { $0.bytes > 0 }.sorted { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.gateway < $1.gateway }
        guard !sorted.isEmpty else { return [] }
        // With the k largest cut to `cap`, they free Σ(b_i) − k·cap; the first k whose cap is not
        // below the next gateway's total is the answer.
        var prefix = 0
        var cap = 0
        for k in 1...sorted.count {
            prefix += sorted[k - 1].bytes
            let candidate = max(0, (prefix - need) / k)     // rounds down: frees at least `need`
            let next = k < sorted.count ? sorted[k].bytes : 0
            if candidate >= next || k == sorted.count { cap = candidate; break }
        }
        return sorted.prefix { $0.bytes > cap }.map { ($0.gateway, $0.bytes - cap) }
    }
}
