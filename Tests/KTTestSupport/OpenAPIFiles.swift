import Foundation
import KTConfig

/// The repository's OpenAPI files: validation with openapi-spec-validator (`scripts/test`
/// installs it) and the routes each documents.
public enum OpenAPIFiles {
    /// nil when the validator is not installed; otherwise whether `file` (repository-relative)
    /// validates, with the validator's messages.
    public static func validate(_ file: String) async throws -> (ok: Bool, output: String)? {
        guard (try? await ChildProcess.system(["python3", "-c", "import openapi_spec_validator"]))?.status == 0 else { return nil }
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
        let r = try await ChildProcess.system(["python3", "-c", script, (Fixtures.repositoryRoot as NSString).appendingPathComponent(file)])
        return (r.status == 0, r.stdout + r.stderr)
    }

    /// "METHOD /path" for every operation in `file`, path parameters written `*`.
    public static func documentedRoutes(_ file: String) throws -> Set<String> {
        let text = try String(contentsOfFile: (Fixtures.repositoryRoot as NSString).appendingPathComponent(file), encoding: .utf8)
        let root = try YAMLParser().parse(text, file: file)
        guard let paths = root.mappingPairs?.first(where: { $0.key == "paths" })?.value.mappingPairs else { return [] }
        var out = Set<String>()
        let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head"]
        for p in paths {
            let pattern = p.key.split(separator: "/").map { $0.hasPrefix("{") ? "*" : String($0) }.joined(separator: "/")
            for op in p.value.mappingPairs ?? [] where methods.contains(op.key) { out.insert("\(op.key.uppercased()) /\(pattern)") }
        }
        return out
    }
}
