import Foundation
import PackagePlugin

/// Compiles every file under `Resources/` (Leaf templates in `Views/`, stylesheets and scripts in `Public/`) and
/// `docs/openapi.yaml` into the target as `embeddedResources`, a dictionary from each file's path in the package to
/// its text, so the one `flux` binary needs nothing beside it and an edit to any of them rebuilds it.
/// Raw string literals rather than SwiftPM's `.embedInCode` resources: a byte-array literal of the OpenAPI
/// document's size took over two minutes to compile here, a string literal a fraction of a second.
@main struct EmbedResources: BuildToolPlugin {
    struct UnsafePath: Error, CustomStringConvertible {
        let path: String
        var description: String { "\(path): only letters, digits, '.', '_', '-' and '/' may name an embedded file" }
    }

    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let package = context.package.directoryURL
        let files = try ["docs/openapi.yaml"] + Self.files(under: "Resources", in: package)
        // A path is written into the generated source as a plain string literal, so it may hold nothing to escape.
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "._-/"))
        for path in files where !path.unicodeScalars.allSatisfy({ $0.isASCII && allowed.contains($0) }) {
            throw UnsafePath(path: path)
        }
        let script = package.appending(path: "Plugins/EmbedResources/embed-resources.sh")
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedResources.swift")
        return [.buildCommand(displayName: "Embedding Resources/ and docs/openapi.yaml", executable: URL(filePath: "/bin/sh"),
                              arguments: [script.path(), package.path(), output.path()] + files,
                              inputFiles: [script] + files.map { package.appending(path: $0) }, outputFiles: [output])]
    }

    /// The regular files under `directory`, hidden ones (an editor's or Finder's litter) left out, in a stable order.
    static func files(under directory: String, in package: URL) throws -> [String] {
        let root = package.appending(path: directory)
        let keys: [URLResourceKey] = [.isRegularFileKey]
        guard let walk = FileManager.default.enumerator(at: root, includingPropertiesForKeys: keys, options: [.skipsHiddenFiles])
        else { return [] }
        var files: [String] = []
        for case let url as URL in walk where try url.resourceValues(forKeys: Set(keys)).isRegularFile == true {
            files.append(directory + "/" + url.standardizedFileURL.path().dropFirst(root.standardizedFileURL.path().count)
                .trimmingPrefix("/"))
        }
        return files.sorted()
    }
}
