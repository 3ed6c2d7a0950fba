import Foundation
import Testing
import KTTestSupport

/// `docs/openapi.yaml` is a valid OpenAPI document (openapi-spec-validator; `scripts/test`
/// installs it, the test skips with a message where it cannot).
@Suite struct OpenAPIDocumentTests {
    @Test func theControlPlaneDocumentValidates() async throws {
        guard (try? await ChildProcess.system(["python3", "-c", "import openapi_spec_validator"]))?.status == 0 else {
            print("skipped: openapi-spec-validator is not installed (pip3 install openapi-spec-validator)")
            return
        }
        let doc = (Fixtures.repositoryRoot as NSString).appendingPathComponent("docs/openapi.yaml")
        let script = """
            import sys
            from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator
            from openapi_spec_validator.readers import read_from_filename
            d, _ = read_from_filename(sys.argv[1])
            v = OpenAPIV31SpecValidator(d) if str(d.get("openapi", "")).startswith("3.1") else OpenAPIV30SpecValidator(d)
            errors = list(v.iter_errors())
            for e in errors[:20]:
                print("/".join(str(p) for p in e.absolute_path), ":", e.message[:300])
            sys.exit(1 if errors else 0)
            """
        let r = try await ChildProcess.system(["python3", "-c", script, doc])
        #expect(r.status == 0, "docs/openapi.yaml does not validate:\n\(r.stdout)\(r.stderr)")
    }
}
