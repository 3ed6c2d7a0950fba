import KTTestSupport
import Foundation
import Testing
import KTModel
@testable import KTConfig

@Suite struct SecretResolverTests {
    @Test func resolvesEnvAndFileAndNeverLeaksValues() throws {
        let dir = try Fixtures.tempDir()
        let file = (dir as NSString).appendingPathComponent("key")
        try "sk-file-secret\n".write(toFile: file, atomically: true, encoding: .utf8)
        let resolver = SecretResolver(environment: ["OPENAI_API_KEY": "sk-env-secret"])
        #expect(try resolver.resolve(.env("OPENAI_API_KEY"), for: "t") == "sk-env-secret")
        #expect(try resolver.resolve(.file(file), for: "t") == "sk-file-secret")

        #expect { try resolver.resolve(.env("MISSING_KEY"), for: "openai-primary") } throws: { error in
            let e = error as! KTError
            return e.message.contains("openai-primary") && e.message.contains("MISSING_KEY")
        }
        #expect { try resolver.resolve(.file(dir + "/nope"), for: "azure") } throws: { error in
            (error as! KTError).message.contains("azure")
        }
    }

    @Test func resolveAllReportsEveryMissingSecret() throws {
        let config = try ConfigLoader().load(paths: [Fixtures.path("valid/full.yaml")]).config
        let resolver = SecretResolver(environment: ["OPENAI_API_KEY": "sk-1"])
        #expect { try resolver.resolveAll(config) } throws: { error in
            let m = (error as! KTError).message
            return m.contains("azure-us") && m.contains("ANTHROPIC_API_KEY") && !m.contains("sk-1")
        }
    }
}

@Suite struct GatewayGroupsTests {
    @Test func loadsTheGroupsFile() throws {
        let groups = try GatewayGroupsLoader.load(path: Fixtures.path("groups/gateway-groups.yaml"))
        #expect(groups.groups.map(\.name) == ["production", "all-prod"])
        #expect(groups.group(named: "production")?.configSource == "policies/production.yaml")
        #expect(groups.group(named: "all-prod")?.gateways == ["gw-prod-01", "gw-prod-02", "gw-eu-01"])
    }

    @Test func homeDefaultsAndMissingFiles() throws {
        #expect(GatewayGroupsLoader.keeptrustsHome(environment: ["KEEPTRUSTS_HOME": "/x"]) == "/x")
        #expect(GatewayGroupsLoader.keeptrustsHome(environment: ["HOME": "/home/u"]) == "/home/u/.keeptrusts")
        let dir = try Fixtures.tempDir()
        // No default file: no groups. An explicit missing file: an error.
        #expect(try GatewayGroupsLoader.load(path: nil, environment: ["KEEPTRUSTS_HOME": dir]).groups.isEmpty)
        #expect(throws: KTError.self) { try GatewayGroupsLoader.load(path: dir + "/missing.yaml") }
    }

    @Test func rejectsUnknownKeysAndDuplicates() throws {
        let tree = try YAMLParser().parse("groups:\n  prod:\n    gateways: [a, a]\n    config_sorce: x\n", file: "g")
        #expect { try GatewayGroupsLoader.decode(tree) } throws: { error in
            let d = (error as! ConfigError).diagnostics
            return d.contains { $0.suggestion == "config_source" } && d.contains { $0.message.contains("listed twice") }
        }
    }
}
