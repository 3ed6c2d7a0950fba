import Foundation
import KTModel
import KTHTTP

/// Talks to the control plane's REST API (`KEEPTRUSTS_API_URL`, bearer token) over libcurl:
/// used by managed gateways, the fleet simulator and the fleet CLI.
public struct ControlPlaneClient: Sendable {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public enum Kind: Sendable, Equatable { case unreachable, http(Int), invalidResponse }
        public var kind: Kind
        public var code: String
        public var message: String
        public var description: String { message }
        public var status: Int? { if case .http(let s) = kind { return s }; return nil }
    }

    public let baseURL: String
    let token: String
    /// HTTPS trust (KEEPTRUSTS_CA_FILE) and the client certificate for mutual TLS.
    let tls: TLSClientOptions?
    let transport: any UpstreamTransport

    public init(baseURL: String, token: String, tls: TLSClientOptions? = nil, transport: any UpstreamTransport = CurlTransport.shared) {
        self.tls = tls
        var u = baseURL
        while u.hasSuffix("/") { u.removeLast() }
        self.baseURL = u
        self.token = token
        self.transport = transport
    }

    /// A client from `KEEPTRUSTS_API_URL` and `KEEPTRUSTS_API_TOKEN`, or an error that says what to set.
    public static func fromEnvironment(_ env: [String: String]) -> Result<ControlPlaneClient, KTError> {
        guard let url = env["KEEPTRUSTS_API_URL"], !url.isEmpty else {
            return .failure(KTError(.invalidUsage, "KEEPTRUSTS_API_URL is not set; point it at the control plane, e.g. export KEEPTRUSTS_API_URL=http://127.0.0.1:41000"))
        }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            return .failure(KTError(.invalidUsage, "KEEPTRUSTS_API_URL '\(url)' must start with http:// or https://"))
        }
        guard let token = env["KEEPTRUSTS_API_TOKEN"], !token.isEmpty else {
            return .failure(KTError(.invalidUsage, "KEEPTRUSTS_API_TOKEN is not set; use the admin token the control plane printed on first start (also in DATA/admin-token) or one from 'kt control-plane token create'"))
        }
        return .success(ControlPlaneClient(baseURL: url, token: token, tls: TLSClientOptions.fromEnvironment(env, clientCertificate: true)))
    }

    /// One JSON call. 2xx → the parsed body (nil for an empty one, e.g. 304 maps to nil too).
    public func call(_ method: String, _ path: String, body: JSONValue? = nil, timeout: Double = 15) async throws(Failure) -> JSONValue? {
        let bytes = try await callRaw(method, path, body: body, timeout: timeout)
        guard let bytes, !bytes.isEmpty else { return nil }
        guard let json = try? JSONValue.parse(bytes) else {
            throw Failure(kind: .invalidResponse, code: "invalid_json", message: "control plane sent a body that is not JSON")
        }
        return json
    }

    /// One call returning the body bytes of a 2xx answer (nil for 304).
    public func callRaw(_ method: String, _ path: String, body: JSONValue? = nil, timeout: Double = 15) async throws(Failure) -> [UInt8]? {
        var headers = [("authorization", "Bearer \(token)"), ("accept", "application/json")]
        if body != nil { headers.append(("content-type", "application/json")) }
        var request = UpstreamRequest(url: baseURL + path, method: method, headers: headers,
                                      body: body.map { Array($0.serialized().utf8) } ?? [], timeoutMs: Int(timeout * 1000), stream: false)
        request.tls = tls
        let response: UpstreamResponse
        let bytes: [UInt8]
        do {
            response = try await transport.send(request)
            bytes = try await response.collect(limit: 64 << 20)
        } catch let e as UpstreamError {
            throw Failure(kind: .unreachable, code: e.kind.rawValue, message: "cannot reach the control plane at \(baseURL): \(e.message)")
        } catch {
            throw Failure(kind: .unreachable, code: "error", message: "cannot reach the control plane at \(baseURL): \(error)")
        }
        if response.status == 304 { return nil }
        guard (200..<300).contains(response.status) else {
            let json = bytes.isEmpty ? nil : try? JSONValue.parse(bytes)
            let code = json?["error"]?["code"]?.stringValue ?? "http_\(response.status)"
            let message = json?["error"]?["message"]?.stringValue ?? String(decoding: bytes.prefix(300), as: UTF8.self)
            throw Failure(kind: .http(response.status), code: code, message: "control plane answered \(response.status): \(message)")
        }
        return bytes
    }

    /// Server-sent events from `path`: each `data:` payload parsed as JSON, until the server ends the stream.
    public func events(_ path: String) async throws(Failure) -> AsyncThrowingStream<(id: String?, event: String?, data: JSONValue), any Error> {
        var request = UpstreamRequest(url: baseURL + path, method: "GET", headers: [("authorization", "Bearer \(token)"), ("accept", "text/event-stream")],
                                      body: [], timeoutMs: 3_600_000, stream: true)
        request.tls = tls
        let response: UpstreamResponse
        do { response = try await transport.send(request) } catch {
            throw Failure(kind: .unreachable, code: error.kind.rawValue, message: "cannot reach the control plane at \(baseURL): \(error.message)")
        }
        guard response.status == 200 else {
            let bytes = (try? await response.collect(limit: 1 << 20)) ?? []
            let json = try? JSONValue.parse(bytes)
            throw Failure(kind: .http(response.status), code: json?["error"]?["code"]?.stringValue ?? "http_\(response.status)",
                          message: "control plane answered \(response.status): \(json?["error"]?["message"]?.stringValue ?? "")")
        }
        return AsyncThrowingStream { continuation in
            let task = Task {
                var parser = SSEParser()
                do {
                    for try await chunk in response.body {
                        for e in parser.feed(chunk) {
                            if let j = try? JSONValue.parse(e.data) { continuation.yield((e.id, e.event, j)) }
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    public static func percentEncode(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? s
    }
}
