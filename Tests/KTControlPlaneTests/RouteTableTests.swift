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
