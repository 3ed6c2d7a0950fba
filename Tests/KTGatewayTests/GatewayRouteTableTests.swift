import Foundation
import Testing
import KTTestSupport
@testable import KTGateway

/// The gateway's route table, docs/gateway-openapi.yaml and what a real gateway answers agree
/// (OpenAPIDocumentTests validates the file itself).
@Suite struct GatewayRouteTableTests {
    @Test func everyServedRouteIsDocumentedAndServedAndAWrongMethodIs405() async throws {
        var served = Set<String>()
        for (path, methods) in GatewayCore.routeTable {
            let pattern = path.split(separator: "/").map { $0.hasPrefix("{") ? "*" : String($0) }.joined(separator: "/")
            for m in methods { served.insert("\(m) /\(pattern)") }
        }
        let doc = try OpenAPIFiles.documentedRoutes("docs/gateway-openapi.yaml")
        #expect(served.subtracting(doc).isEmpty, "served but not in docs/gateway-openapi.yaml: \(served.subtracting(doc).sorted())")
        #expect(doc.subtracting(served).isEmpty, "in docs/gateway-openapi.yaml but not served: \(doc.subtracting(served).sorted())")

        let (gw, port) = try await ChildProcess.gateway(["--policy-config", Fixtures.path("valid/mock-quick-launch.yaml"), "--log-level", "warn"])
        defer { gw.signal(SIGKILL) }
        for (path, methods) in GatewayCore.routeTable {
            let concrete = path.replacingOccurrences(of: "{id}", with: "gpt-5.4-mini")
            for m in methods where m != "HEAD" {   // (the raw client would wait for a HEAD answer's body)
                let r = await RawClient.request(port: port, method: m, path: concrete, body: m == "POST" ? "{}" : nil)
                #expect(r != nil && r?.status != 405 && !(r?.text.contains("unknown_url") ?? true), "\(m) \(concrete): \(r?.status ?? -1) \(r?.text.prefix(160) ?? "")")
            }
            let wrong = methods.contains("POST") ? "GET" : "DELETE"
            let r = await RawClient.request(port: port, method: wrong, path: concrete)
            #expect(r?.status == 405 && r?.headers["allow"] == methods.joined(separator: ", "), "\(wrong) \(concrete): \(r?.status ?? -1) \(r?.headers["allow"] ?? "-")")
        }
        #expect(await RawClient.request(port: port, method: "GET", path: "/v1/nothing-here")?.status == 404)
    }
}
