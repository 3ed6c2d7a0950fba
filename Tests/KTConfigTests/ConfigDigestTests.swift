import KTTestSupport
import Testing
import KTModel
@testable import KTConfig

@Suite struct ConfigDigestTests {
    let loader = ConfigLoader()

    func sha(_ text: String) throws -> String { try loader.load(text: text, name: "t").sha }

    static let original = """
        # comment
        pack: { name: demo, version: 1.0.0 }
        providers:
          targets:
            - { id: m, provider: mock, model: x }
        policies: { chain: [prompt-injection] }
        policy:
          prompt-injection: { threshold: 0.8, action: block }
        """

    @Test func shaIgnoresKeyOrderCommentsAndStyle() throws {
        let reordered = """
            policy:
              prompt-injection:
                action: "block"      # quoted, other order
                threshold: 0.80
            policies:
              chain:
                - prompt-injection
            providers:
              targets:
                - model: x
                  provider: mock
                  id: m
            pack: {version: 1.0.0, name: demo}
            """
        #expect(try sha(Self.original) == sha(reordered))
    }

    @Test func shaChangesWhenAValueChanges() throws {
        let changed = Self.original.replacingOccurrences(of: "threshold: 0.8", with: "threshold: 0.85")
        #expect(try sha(Self.original) != sha(changed))
        let retyped = Self.original.replacingOccurrences(of: "version: 1.0.0", with: "version: 1.0.1")
        #expect(try sha(Self.original) != sha(retyped))
    }

    @Test func jsonAndYamlOfTheSameConfigHaveTheSameSha() throws {
        let json = """
            {"pack": {"name": "demo", "version": "1.0.0"},
             "providers": {"targets": [{"id": "m", "provider": "mock", "model": "x"}]},
             "policies": {"chain": ["prompt-injection"]},
             "policy": {"prompt-injection": {"threshold": 0.8, "action": "block"}}}
            """
        #expect(try sha(Self.original) == sha(json))
    }

    @Test func shaIsAKnownValue() throws {
        // Pinned so an accidental change to the canonical form (which would make every gateway
        // in a fleet report drift after an upgrade) fails loudly.
        let loaded = try loader.load(text: Self.original, name: "t")
        #expect(loaded.canonicalJSON == #"{"pack":{"name":"demo","version":"1.0.0"},"policies":{"chain":["prompt-injection"]},"policy":{"prompt-injection":{"action":"block","threshold":0.8}},"providers":{"targets":[{"id":"m","model":"x","provider":"mock"}]}}"#)
        #expect(loaded.fullSHA == SHA256.hex(loaded.canonicalJSON))
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
