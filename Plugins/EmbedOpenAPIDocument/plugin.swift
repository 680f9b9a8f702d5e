import Foundation
import PackagePlugin

/// Compiles `docs/openapi.yaml` into the target as the string `embeddedOpenAPIDocument`, so the one
/// `flux` binary serves the document it was built with, and an edit to the document rebuilds it.
/// A raw string literal rather than SwiftPM's `.embedInCode` resource: a byte-array literal of the
/// document's size took over two minutes to compile here, a string literal a fraction of a second.
@main struct EmbedOpenAPIDocument: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let document = context.package.directoryURL.appending(path: "docs/openapi.yaml")
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedOpenAPIDocument.swift")
        // The document never contains the raw string's closing delimiter `"""#`; the suite's parse of the
        // embedded text against the file proves it.
        let script = ##"{ printf 'let embeddedOpenAPIDocument = #"""\n'; cat "$1"; printf '"""#\n'; } > "$2""##
        return [.buildCommand(displayName: "Embedding docs/openapi.yaml", executable: URL(filePath: "/bin/sh"),
                              arguments: ["-c", script, "sh", document.path(), output.path()],
                              inputFiles: [document], outputFiles: [output])]
    }
}
