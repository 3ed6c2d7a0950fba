import Foundation
import Testing
import KTConfig
import KTTestSupport
@testable import KTControlPlane

/// The control plane's route table, its OpenAPI file and what it really answers agree.
@Suite struct RouteTableTests {
    func documented() throws -> Set<String> { try OpenAPIFiles.documentedRoutes("docs/openapi.yaml") }

    @Test func everyServedRouteIsDocumentedAndEveryDocumentedRouteIsServed() throws {
        var served = Set<String>()
        for (path, methods) in ControlPlane.routeTable {
            for m in methods where m != "HEAD" { served.insert("\(m) /\(path.joined(separator: "/"))") }
        }
        let doc = try documented()
        #expect(served.subtracting(doc).isEmpty, "served but not in docs/openapi.yaml: \(served.subtracting(doc).sorted())")
        #expect(doc.subtracting(served).isEmpty, "in docs/openapi.yaml but not served: \(doc.subtracting(served).sorted())")
    }

    @Test func aWrongMethodOnAKnownPathIs405WithAllow() async throws {
        let h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        for (method, path, allow) in [("POST", "/healthz", "GET, HEAD"), ("DELETE", "/v1/rollouts", "GET, POST"), ("PUT", "/v1/gateways/gw-1/heartbeat", "POST"),
                                      ("GET", "/v1/doctor/bundle", "POST")] {
            let r = await RawClient.request(port: h.port, method: method, path: path, headers: ["Authorization": "Bearer \(h.admin)"])
            #expect(r?.status == 405 && r?.headers["allow"] == allow, "\(method) \(path): \(r?.status ?? -1) \(r?.headers["allow"] ?? "-") \(r?.text ?? "")")
        }
        // Every route in the table is really routed: no 405, no "unknown URL" (a missing
        // resource or a bad body is fine). Streams are left out (they never end).
        for (path, methods) in ControlPlane.routeTable where path.last != "stream" {
            let concrete = "/" + path.map { $0 == "*" ? "x" : $0 }.joined(separator: "/")
            for m in methods where m != "HEAD" {
                let r = await RawClient.request(port: h.port, method: m, path: concrete + (concrete.hasSuffix("/config") ? "?wait=0s" : ""),
                                                body: m == "GET" || m == "DELETE" ? nil : "{}", headers: ["Authorization": "Bearer \(h.admin)"])
                #expect(r != nil && r?.status != 405 && !(r?.text.contains("unknown URL") ?? true), "\(m) \(concrete): \(r?.status ?? -1) \(r?.text.prefix(160) ?? "")")
            }
        }
        // Served routes are served, and a path nobody serves stays 404.
        #expect(await RawClient.request(port: h.port, method: "GET", path: "/v1/nothing-here", headers: ["Authorization": "Bearer \(h.admin)"])?.status == 404)
        #expect(await RawClient.request(port: h.port, method: "GET", path: "/v1/rollouts", headers: ["Authorization": "Bearer \(h.admin)"])?.status == 200)
    }
}

/// What a Schemathesis run found the control plane accepting against its own OpenAPI file:
/// each is refused now, with a message naming the field.
@Suite struct StrictParametersTests {
    @Test func outOfRangeAndMistypedInputsAre400s() async throws {
        let h = try await FleetHarness.start()
        defer { h.cp.signal(SIGKILL) }
        let auth = ["Authorization": "Bearer \(h.admin)"]
        let cases: [(String, String, String?, String)] = [
            ("GET", "/v1/events?limit=10001", nil, "limit"),
            ("GET", "/v1/events?limit=%2B5", nil, "limit"),
            ("GET", "/v1/events?after=-1", nil, "after"),
            ("GET", "/v1/events?after=99999999999999999999", nil, "after"),
            ("GET", "/v1/gateways?health=null", nil, "health"),
            ("POST", "/v1/tokens", #"{"role":"viewer","gateway_id":{}}"#, "gateway_id"),
            ("POST", "/v1/tokens", #"{"role":"viewer","name":5}"#, "name"),
            ("POST", "/v1/doctor", #"{"checks":["heartbeat"],"extra":1}"#, "unknown field 'extra'"),
            ("POST", "/v1/doctor/bundle", #"{"doctor":[1]}"#, "doctor"),
        ]
        for (method, path, body, field) in cases {
            let r = await RawClient.request(port: h.port, method: method, path: path, body: body, headers: auth)
            #expect(r?.status == 400 && r?.text.contains(field) == true, "\(method) \(path): \(r?.status ?? -1) \(r?.text ?? "")")
        }
        #expect(await RawClient.request(port: h.port, method: "GET", path: "/v1/events?limit=10000", headers: auth)?.status == 200)
        #expect(await RawClient.request(port: h.port, method: "GET", path: "/v1/gateways?health=true", headers: auth)?.status == 200)
    }
}
