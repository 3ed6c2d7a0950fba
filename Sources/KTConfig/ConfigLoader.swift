import Foundation
import KTModel

/// A config ready to run: the typed model, its canonical form and sha, and any warnings.
public struct LoadedConfig: Sendable {
    public var config: PolicyConfig
    /// The merged node tree (what layering produced), kept for redacted display and diffs.
    public var tree: YAMLNode
    public var canonicalJSON: String
    /// Full SHA-256 hex of the canonical form.
    public var fullSHA: String
    public var files: [String]
    public var warnings: [ConfigDiagnostic]

    /// The 12-hex-digit sha shown to people.
    public var sha: String { String(fullSHA.prefix(12)) }
}

/// Reads, parses, layers and decodes policy-config files.
public struct ConfigLoader: Sendable {
    public var parser = YAMLParser()
    public init() {}

    /// Parses one file into a node tree; syntax problems become an E004 diagnostic.
    public func parseFile(_ path: String) throws(KTError) -> Result<YAMLNode, ConfigDiagnostic> {
        let bytes = try Self.readFile(path, limit: parser.maxInputBytes)
        return parse(bytes: bytes, file: path)
    }

    public func parse(bytes: [UInt8], file: String) -> Result<YAMLNode, ConfigDiagnostic> {
        do {
            return .success(try parser.parse(bytes: bytes, file: file))
        } catch {
            return .failure(ConfigDiagnostic(.yamlSyntax, path: "", at: error.location, "YAML syntax: \(error.message)"))
        }
    }

    /// Loads and layers `paths` in order. Throws `ConfigError` (all diagnostics) when invalid,
    /// `KTError` for I/O problems.
    public func load(paths: [String]) throws -> LoadedConfig {
        precondition(!paths.isEmpty, "load(paths:) needs at least one file")
        var trees: [YAMLNode] = []
        for path in paths {
            switch try parseFile(path) {
            case .success(let tree): trees.append(tree)
            case .failure(let diagnostic): throw ConfigError([diagnostic])
            }
        }
        return try load(trees: trees, files: paths)
    }

    public func load(trees: [YAMLNode], files: [String]) throws(ConfigError) -> LoadedConfig {
        let tree = ConfigLayering.merge(trees)!
        let result = PolicyConfigDecoder.decode(tree)
        guard let config = result.config else { throw ConfigError(result.diagnostics) }
        let canonical = CanonicalJSON.serialize(tree)
        return LoadedConfig(config: config, tree: tree, canonicalJSON: canonical, fullSHA: SHA256.hex(canonical),
                            files: files, warnings: result.warnings)
    }

    /// Loads config text held in memory (from the control plane, a test, or a reload).
    public func load(text: String, name: String) throws(ConfigError) -> LoadedConfig {
        switch parse(bytes: Array(text.utf8), file: name) {
        case .success(let tree): return try load(trees: [tree], files: [name])
        case .failure(let diagnostic): throw ConfigError([diagnostic])
        }
    }

    static func readFile(_ path: String, limit: Int) throws(KTError) -> [UInt8] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw KTError(.io, "\(path): no such file")
        }
        if isDir.boolValue { throw KTError(.io, "\(path): is a directory, expected a config file") }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw KTError(.io, "\(path): cannot open for reading (permission denied?)")
        }
        defer { try? handle.close() }
        do {
            // Read one byte past the limit so an oversize file is refused without reading it all.
            let data = try handle.read(upToCount: limit + 1) ?? Data()
            return [UInt8](data)
        } catch {
            throw KTError(.io, "\(path): read failed", cause: error)
        }
    }
}
