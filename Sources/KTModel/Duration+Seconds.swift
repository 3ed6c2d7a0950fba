extension Duration {
    /// The duration in seconds, as a Double (timeouts, rates, JSON).
    public var secondsDouble: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}
