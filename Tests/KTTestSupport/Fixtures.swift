import Foundation

/// Paths into the repository's fixtures/ folder.
public enum Fixtures {
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { break }
        }
        return url.appendingPathComponent("fixtures").path
    }()

    /// The repository checkout (the folder holding Package.swift).
    public static var repositoryRoot: String { (root as NSString).deletingLastPathComponent }

    public static func path(_ relative: String) -> String { (root as NSString).appendingPathComponent(relative) }

    public static func text(_ relative: String) throws -> String { try String(contentsOfFile: path(relative), encoding: .utf8) }

    /// A fresh temporary directory for one test.
    public static func tempDir() throws -> String {
        let dir = (NSTemporaryDirectory() as NSString).appendingPathComponent("kt-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}
