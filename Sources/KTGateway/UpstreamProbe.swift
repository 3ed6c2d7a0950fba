import Foundation
import KTModel

/// The doctor's upstream check: can this host reach a provider target, and does the target
/// accept our key? A `GET {base}/v1/models` with the target's credentials, timed. Run by each
/// gateway against its own targets (fleet doctor) and by the CLI against a config (local doctor).
public enum UpstreamProbe {
    /// Probes one target; never throws — every outcome is a finding.
    public static func check(_ t: CompiledTarget, timeoutMs: Int) async -> DoctorCheck {
        let id = t.target.id
        if t.target.provider == .mock {
            return DoctorCheck("upstream", .ok, "mock provider, answered in process (no network)", target: id, latencyMs: 0)
        }
        var headers: [(String, String)] = [("accept", "application/json")]
        if let auth = t.authHeader { headers.append(auth) }
        if t.target.provider == .anthropic { headers.append(("anthropic-version", AnthropicTranslation.apiVersion)) }
        let url = t.url(for: "/models")
        var request = UpstreamRequest(url: url, method: "GET", headers: headers, body: [],
                                      timeoutMs: max(100, min(timeoutMs, t.target.timeoutMs)), stream: false)
        request.tls = t.tls
        let started = ContinuousClock.now
        let response: UpstreamResponse
        do {
            response = try await t.transport.send(request)
            _ = try? await response.collect(limit: 256 << 10)
        } catch {
            let ms = (ContinuousClock.now - started).secondsDouble * 1000
            let hint: String
            switch error.kind {
            case .timeout: hint = "no answer in time: check the base_url, the network path and the firewall from this host"
            case .connectError: hint = "cannot connect: check the base_url (host, port, scheme), DNS and the firewall from this host"
            default: hint = "check the base_url and that it speaks HTTP(S) with an OpenAI-compatible API"
            }
            return DoctorCheck("upstream", .fail, "\(endpoint(t)) unreachable: \(error.message)", hint: hint, target: id, latencyMs: ms)
        }
        let ms = (ContinuousClock.now - started).secondsDouble * 1000
        let where_ = endpoint(t)
        switch response.status {
        case 200..<300:
            return DoctorCheck("upstream", .ok, "\(where_) reachable (HTTP \(response.status))", target: id, latencyMs: ms)
        case 401, 403:
            let ref = t.target.secretKeyRef.map(\.description) ?? "none"
            return DoctorCheck("upstream", .fail, "\(where_) refused the key (HTTP \(response.status))",
                               hint: "check the key behind secret_key_ref (\(ref)) of target '\(id)'", target: id, latencyMs: ms)
        case 404, 405:
            // Reachable and speaking HTTP; the provider just does not list models there.
            return DoctorCheck("upstream", .ok, "\(where_) reachable (HTTP \(response.status) on /models)", target: id, latencyMs: ms)
        case 429:
            return DoctorCheck("upstream", .warn, "\(where_) is rate limiting (HTTP 429)",
                               hint: "requests may fail over to other targets; check the provider's quota", target: id, latencyMs: ms)
        default:
            return DoctorCheck("upstream", .warn, "\(where_) answered HTTP \(response.status)",
                               hint: "the provider reports an error; check its status page or the gateway's logs", target: id, latencyMs: ms)
        }
    }

    /// Probes every target concurrently, in config order.
    public static func checkAll(_ targets: [CompiledTarget], timeoutMs: Int) async -> [DoctorCheck] {
        await withTaskGroup(of: (Int, DoctorCheck).self) { group in
            for (i, t) in targets.enumerated() { group.addTask { (i, await check(t, timeoutMs: timeoutMs)) } }
            var out: [(Int, DoctorCheck)] = []
            for await r in group { out.append(r) }
            return out.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// Scheme, host and port of the target (never a path with a key, never credentials).
    static func endpoint(_ t: CompiledTarget) -> String {
        guard let u = URLComponents(string: t.url(for: "/models")), let host = u.host else { return "target" }
        return "\(u.scheme ?? "http")://\(host)\(u.port.map { ":\($0)" } ?? "")"
    }
}
