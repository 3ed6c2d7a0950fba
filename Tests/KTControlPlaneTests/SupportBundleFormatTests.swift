import Foundation
import Testing
import KTModel
import KTTestSupport
@testable import KTControlPlane

/// The pieces of the support bundle: our ustar writer (checked by the system tar), gzip through
/// zlib, and the secret scrubber.
@Suite struct SupportBundleFormatTests {
    @Test func ustarArchiveOpensWithSystemTarIncludingLongNames() async throws {
        let dir = try Fixtures.tempDir()
        var tar = TarArchive(mtime: 1_700_000_000)
        let longDir = "root/gateways/" + String(repeating: "g", count: 90)
        let files: [(String, [UInt8])] = [
            ("root/empty.json", []),
            ("root/exactly-512.bin", [UInt8](repeating: 65, count: 512)),
            ("root/odd.txt", Array("hello\nworld\n".utf8)),
            ("\(longDir)/health-samples.json", Array("{\"samples\":[]}\n".utf8)),
            ("root/ünïcode-名前.json", Array("{}".utf8)),
        ]
        for (p, b) in files { try tar.add(path: p, contents: b) }
        let gz = try Gzip.compress(tar.finished())
        try Data(gz).write(to: URL(fileURLWithPath: dir + "/t.tar.gz"))
        let list = try await ChildProcess.system(["tar", "-tzf", dir + "/t.tar.gz"])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.split(separator: "\n").map(String.init) == files.map(\.0))
        #expect(try await ChildProcess.system(["tar", "-xzf", dir + "/t.tar.gz", "-C", dir]).status == 0)
        for (p, b) in files {
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + p))) == b, "\(p)")
        }
        // The same bytes come back through our own gunzip.
        #expect(try Gzip.decompress(gz) == tar.finished())
    }

    @Test func unsafeOrTooLongPathsAreRefused() {
        var tar = TarArchive(mtime: 0)
        for bad in ["", "/etc/passwd", "a/../b", "a//b", "./a", String(repeating: "x", count: 101)] {
            #expect(throws: TarArchive.EntryError.self) { try tar.add(path: bad, contents: []) }
        }
        #expect(tar.paths.isEmpty)
        #expect(ControlPlane.safeName("..") == "_..")
        #expect(ControlPlane.safeName("gw-1.eu") == "gw-1.eu")
    }

    @Test func gzipRejectsGarbageAndTruncation() throws {
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(Array("not gzip at all".utf8)) }
        let gz = try Gzip.compress(Array(repeating: 7, count: 100_000))
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(Array(gz.prefix(gz.count / 2))) }
    }

    @Test func scrubberRemovesKnownValuesSecretKeysAndCredentialShapes() {
        let s = SecretScrubber(knownSecrets: ["planted-value-123", "abc"])
        let input: JSONValue = .object([
            ("note", "the key planted-value-123 leaked"),
            ("api_key", "whatever-it-is"), ("upstream_api_key", "zzz-secret"), ("max_tokens", 512), ("prompt_tokens", "12"),
            ("secret_key_ref", .object([("env", "OPENAI_API_KEY")])),
            ("headers", .array(["Authorization: Bearer eyJhbGciOi.payload.sig", "x: y"])),
            ("token_in_text", "use kta_0123456789abcdef0123 to log in"),
            ("openai", "sk-proj-ABCDEFGHIJKLMNOP and desk-top stays"),
            ("url", "https://user:hunter2@example.com/v1"),
            ("short", "abc stays: too short to be a key"),
        ])
        let out = s.scrub(input).serialized()
        for leaked in ["planted-value-123", "whatever-it-is", "zzz-secret", "eyJhbGciOi", "kta_0123456789abcdef0123", "ABCDEFGHIJKLMNOP", "hunter2"] {
            #expect(!out.contains(leaked), "\(leaked) survived: \(out)")
        }
        for kept in ["OPENAI_API_KEY", "\"max_tokens\":512", "\"prompt_tokens\":\"12\"", "desk-top stays", "Bearer [redacted]", "example.com/v1", "abc stays"] {
            #expect(out.contains(kept), "\(kept) was lost: \(out)")
        }
    }
}
