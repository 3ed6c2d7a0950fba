import Foundation

/// The few distributions and tests the rollout judge needs, in closed form (no dependencies).
public enum Statistics {
    /// Φ(z), the standard normal CDF.
    public static func normalCDF(_ z: Double) -> Double { 0.5 * erfc(-z / 2.0.squareRoot()) }

    /// Φ⁻¹(p) (Acklam's rational approximation, refined by one Halley step: |error| < 1e-12).
    public static func normalQuantile(_ p: Double) -> Double {
        precondition(p > 0 && p < 1, "a probability strictly between 0 and 1")
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        let low = 0.02425
        var x: Double
        if p < low {
            let q = (-2 * log(p)).squareRoot()
            x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        } else if p <= 1 - low {
            let q = p - 0.5, r = q * q
            x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        } else {
            let q = (-2 * log(1 - p)).squareRoot()
            x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        let e = normalCDF(x) - p
        let u = e * (2 * Double.pi).squareRoot() * exp(x * x / 2)
        x -= u / (1 + x * u / 2)
        return x
    }

    /// One-sided p-value for "the first group's rate is higher than the second's": Fisher's exact
    /// test (the hypergeometric upper tail given the total count) when any expected cell count is
    /// under 10, else the pooled z-test with continuity correction. Both are valid at small
    /// counts and conservative, which is what a rollback decision wants.
    public static func oneSidedRateIncrease(x1: Int, n1: Int, x2: Int, n2: Int) -> (p: Double, test: String) {
        guard n1 > 0, n2 > 0 else { return (1, "none") }
        let k = x1 + x2, n = n1 + n2
        guard k > 0, k < n else { return (1, "fisher") }
        let expectedMin = min(Double(n1), Double(n2)) * min(Double(k), Double(n - k)) / Double(n)
        if expectedMin < 10 { return (fisherUpperTail(x1: x1, n1: n1, k: k, n: n), "fisher") }
        let p1 = Double(x1) / Double(n1), p2 = Double(x2) / Double(n2)
        let pooled = Double(k) / Double(n)
        let se = (pooled * (1 - pooled) * (1 / Double(n1) + 1 / Double(n2))).squareRoot()
        let cc = 0.5 * (1 / Double(n1) + 1 / Double(n2))
        let z = (p1 - p2 - cc) / se
        return (1 - normalCDF(z), "z-test")
    }

    /// P(X ≥ x1) for X ~ Hypergeometric(population n, k successes, n1 draws).
    static func fisherUpperTail(x1: Int, n1: Int, k: Int, n: Int) -> Double {
        let n2 = n - n1
        let lo = max(0, k - n2), hi = min(k, n1)
        guard x1 > lo else { return 1 }
        guard x1 <= hi else { return 0 }
        func logChoose(_ a: Int, _ b: Int) -> Double { lgamma(Double(a + 1)) - lgamma(Double(b + 1)) - lgamma(Double(a - b + 1)) }
        var term = exp(logChoose(n1, x1) + logChoose(n2, k - x1) - logChoose(n, k))
        var sum = 0.0
        var x = x1
        while x <= hi, term > 0 {
            sum += term
            // pmf(x+1)/pmf(x)
            term *= Double(n1 - x) * Double(k - x) / (Double(x + 1) * Double(n2 - k + x + 1))
            x += 1
            if term < sum * 1e-16 { break }
        }
        return min(1, sum)
    }

    /// Wilson score interval for a proportion at the two-sided level given by `z`.
    public static func wilson(_ x: Int, _ n: Int, z: Double) -> (low: Double, high: Double) {
        guard n > 0 else { return (0, 1) }
        let p = Double(x) / Double(n), nn = Double(n), z2 = z * z
        let centre = (p + z2 / (2 * nn)) / (1 + z2 / nn)
        let half = z * (p * (1 - p) / nn + z2 / (4 * nn * nn)).squareRoot() / (1 + z2 / nn)
        return (max(0, centre - half), min(1, centre + half))
    }

    /// Newcombe's hybrid score interval for p1 − p2 (method 10), from the two Wilson intervals.
    public static func differenceInterval(x1: Int, n1: Int, x2: Int, n2: Int, z: Double) -> (low: Double, high: Double) {
        guard n1 > 0, n2 > 0 else { return (-1, 1) }
        let p1 = Double(x1) / Double(n1), p2 = Double(x2) / Double(n2)
        let (l1, u1) = wilson(x1, n1, z: z), (l2, u2) = wilson(x2, n2, z: z)
        let d = p1 - p2
        let low = d - ((p1 - l1) * (p1 - l1) + (u2 - p2) * (u2 - p2)).squareRoot()
        let high = d + ((u1 - p1) * (u1 - p1) + (p2 - l2) * (p2 - l2)).squareRoot()
        return (max(-1, low), min(1, high))
    }
}
