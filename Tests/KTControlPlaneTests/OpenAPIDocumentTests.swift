import Foundation
import Testing
import KTTestSupport

/// Both OpenAPI files (the control plane's and the gateway's) are valid OpenAPI documents
/// (openapi-spec-validator; `scripts/test` installs it, the test skips with a message where it cannot).
@Suite struct OpenAPIDocumentTests {
    @Test(arguments: ["docs/openapi.yaml", "docs/gateway-openapi.yaml"])
    func theDocumentValidates(_ file: String) async throws {
        guard let r = try await OpenAPIFiles.validate(file) else {
            print("skipped: openapi-spec-validator is not installed (pip3 install openapi-spec-validator)")
            return
        }
        #expect(r.ok, "\(file) does not validate:\n\(r.output)")
    }
}
