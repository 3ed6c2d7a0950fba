import Foundation
import KTModel
import KTHTTP

extension ControlPlane {
    func routeRollouts(_ request: HTTPRequest, _ writer: HTTPResponseWriter, _ p: [String]) async throws -> (String, Int) {
        _ = try authorize(request, request.method == "GET" ? .readFleet : .pushConfig)
        throw APIError.notFound("rollouts are not built yet")
    }

    func routeDoctor(_ request: HTTPRequest, _ writer: HTTPResponseWriter, _ p: [String]) async throws -> (String, Int) {
        _ = try authorize(request, .readFleet)
        throw APIError.notFound("doctor is not built yet")
    }
}
