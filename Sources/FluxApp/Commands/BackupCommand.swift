import Fluent
import Foundation
import SQLKit
import Vapor

/// `flux backup [--output DIR] [--with-objects]`: a consistent snapshot while the server keeps serving. SQLite
/// through `VACUUM INTO` (one read transaction, so writers are not blocked and the copy is consistent);
/// PostgreSQL through `pg_dump` (custom format). Stored files under DATA_DIR (uploads and the portal's files) are
/// copied beside it; files in an S3 bucket are listed in the manifest (key, size, SHA-256) and, with
/// `--with-objects`, copied into `objects/` and each one checked. `manifest.json` records what the backup holds.
/// `flux restore DIR` brings it back.
struct BackupCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "output", help: "Directory to create (default: DATA_DIR/backups/<time>).")
        var output: String?
        @Flag(name: "with-objects", help: "Also copy the files kept in the S3 bucket (they are always listed).")
        var withObjects: Bool
    }

    struct Manifest: Codable {
        let createdAt: Date
        let database: String
        let migrations: [String]
        /// Every stored object the database names; absent in backups made before object storage.
        var objects: [StoreMigration.Object]?
        /// Whether `objects/` holds copies of the bucket's objects.
        var objectsCopied: Bool?
    }

    let help = "Writes a consistent backup (database, uploads and portal files; --with-objects: the bucket's too) while the server keeps serving."
    let config: AppConfig

    func run(using context: CommandContext, signature: Signature) async throws {
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let target = URL(fileURLWithPath: signature.output
            ?? config.dataDirectory.appendingPathComponent("backups/\(stamp)").path)
        guard !FileManager.default.fileExists(atPath: target.path) else {
            throw BackupFailure(description: "\(target.path) already exists; backups never overwrite")
        }
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let sql = context.application.db.sql
        let kind: String
        switch config.database {
        case .sqlite:
            kind = "sqlite"
            let file = target.appendingPathComponent("flux.sqlite").path
            try await sql.raw("VACUUM INTO \(bind: file)").run()
        case .postgres(let url):
            kind = "postgres"
            try PostgresTool.run("pg_dump", ["--format=custom", "--no-owner", "--file",
                                             target.appendingPathComponent("flux.pgdump").path], url: url)
        }
        // Listed right after the snapshot: a file deleted in that moment is in the snapshot but not in the list, a
        // row without its object that `flux doctor` reports once restored.
        let objects = try await StoreMigration.objects(on: context.application.db)
        if config.objectStorage == nil {
            try StoredFiles.copy(from: config.dataDirectory, to: target)
        } else if signature.withObjects {
            let copy = StoreMigration(source: context.application.blobStore,
                                      target: LocalBlobStore(root: target.appendingPathComponent(StoredFiles.objectsDirectory),
                                                             threadPool: context.application.threadPool),
                                      targetName: "backup \(target.path)", journal: target.appendingPathComponent("objects.journal"))
            let report = try await copy.run(objects) { _ in }
            guard report.complete else {
                throw BackupFailure(description: "\(report.missing.count + report.mismatched.count) object(s) could not be copied and checked "
                                    + "(\((report.missing + report.mismatched).prefix(3).joined(separator: ", "))): the backup is incomplete")
            }
            try FileManager.default.removeItem(at: target.appendingPathComponent("objects.journal"))
        }
        let migrations = try await sql.select().column("name").from("_fluent_migrations")
            .all(decodingColumn: "name", as: String.self).sorted()
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(Manifest(createdAt: Date(), database: kind, migrations: migrations, objects: objects,
                                    objectsCopied: config.objectStorage != nil && signature.withObjects))
            .write(to: target.appendingPathComponent("manifest.json"))
        context.console.output("backup written to \(target.path)".consoleText())
    }
}

struct BackupFailure: ReportedFailure {
    let description: String
}

/// Runs a PostgreSQL client tool against the configured database, passing the connection through the
/// libpq environment so the password never appears in a process listing.
enum PostgresTool {
    /// The database a PostgreSQL URL names (its path without the slash).
    static func databaseName(_ url: SecretValue) -> String {
        String(URLComponents(string: url.value)?.path.dropFirst() ?? "")
    }

    static func run(_ tool: String, _ arguments: [String], url: SecretValue) throws {
        guard let components = URLComponents(string: url.value) else {
            throw BackupFailure(description: "DATABASE_URL is not a valid URL")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["PGHOST"] = components.host
        environment["PGPORT"] = components.port.map(String.init) ?? "5432"
        environment["PGUSER"] = components.user
        environment["PGPASSWORD"] = components.password
        environment["PGDATABASE"] = databaseName(url)
        process.environment = environment.compactMapValues { $0 }
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BackupFailure(description: "\(tool) failed: \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}

/// The stored files: public uploads (DATA_DIR/uploads) and the portal's documents (DATA_DIR/files), each
/// copied into or out of a backup when it exists.
enum StoredFiles {
    static let directories = ["uploads", "files"]
    /// Where `--with-objects` puts a bucket's objects in a backup, under their keys.
    static let objectsDirectory = "objects"

    static func copy(from source: URL, to destination: URL) throws {
        for name in directories {
            let directory = source.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: directory.path) else { continue }
            try FileManager.default.copyItem(at: directory, to: destination.appendingPathComponent(name))
        }
    }
}
