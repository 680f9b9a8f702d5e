import FluxSecurity
import Foundation
import Vapor

/// `flux filetype PATH`: what Flux's upload check makes of a file, or of every file in a directory, by
/// content alone: its media type, or `rejected`. Exits non-zero when any file is rejected, so an operator
/// can check a file before blaming the server.
struct FileTypeCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Argument(name: "path", help: "A file, or a directory whose files are all checked.")
        var path: String
    }

    struct Rejected: ReportedFailure {
        let count: Int
        var description: String { "\(count) file(s) rejected" }
    }

    let help = "Prints the type Flux detects for each file by content, or `rejected`."

    func run(using context: CommandContext, signature: Signature) async throws {
        // Types with a signature; plain text (taken only by the portal's document store) has none to report.
        let detector = FileTypeDetector(allowed: Set(FileType.allCases).subtracting([.text]))
        var rejected = 0
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: signature.path, isDirectory: &isDirectory)
        let paths = exists && isDirectory.boolValue
            ? try FileManager.default.contentsOfDirectory(atPath: signature.path).sorted().map { "\(signature.path)/\($0)" }
            : [signature.path]
        for path in paths {
            let prefix = FileHandle(forReadingAtPath: path).flatMap { handle in
                defer { try? handle.close() }
                return try? handle.read(upToCount: FileTypeDetector.prefixLength)
            }
            let type = prefix.flatMap { detector.detect($0) }
            if type == nil { rejected += 1 }
            context.console.output("\(path)\t\(type?.mimeType ?? "rejected")".consoleText())
        }
        if rejected > 0 { throw Rejected(count: rejected) }
    }
}
