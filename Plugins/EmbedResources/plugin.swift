import Foundation
import PackagePlugin

/// Compiles every file under `Resources/` (Leaf templates in `Views/`, stylesheets and scripts in `Public/`) and
/// `docs/openapi.yaml` into the target as `embeddedResources`, a dictionary from each file's path in the package to
/// its text (see `embed-resources.sh`), so the one `flux` binary needs nothing beside it.
/// Raw string literals rather than SwiftPM's `.embedInCode` resources: a byte-array literal of the OpenAPI
/// document's size took over two minutes to compile here, a string literal a fraction of a second.
/// The command's inputs are every file and every folder: an edited file, or a file added to a folder, runs it again,
/// and the script lists the files itself. SwiftPM plans the command anew only when the package graph changes, so a
/// deleted file fails the next build as a missing input until then (`touch Package.swift` replans it).
@main struct EmbedResources: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let package = context.package.directoryURL
        let script = package.appending(path: "Plugins/EmbedResources/embed-resources.sh")
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedResources.swift")
        let resources = package.appending(path: "Resources")
        var inputs = [script, package.appending(path: "docs/openapi.yaml"), resources]
        if let walk = FileManager.default.enumerator(at: resources, includingPropertiesForKeys: nil, options: [.skipsHiddenFiles]) {
            for case let url as URL in walk { inputs.append(url) }
        }
        return [.buildCommand(displayName: "Embedding Resources/ and docs/openapi.yaml", executable: URL(filePath: "/bin/sh"),
                              arguments: [script.path(), package.path(), output.path()], inputFiles: inputs, outputFiles: [output])]
    }
}
