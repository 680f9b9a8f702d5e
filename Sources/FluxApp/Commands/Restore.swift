import Foundation

/// `flux restore DIR`: brings a `flux backup` back into an empty installation: an empty DATA_DIR for
/// SQLite, an empty database for PostgreSQL. It runs before any database connection is opened (opening
/// one would create the very SQLite file it must not overwrite), so it is dispatched by `FluxMain`.
enum Restore {
    static func run(from backup: URL, config: AppConfig) throws {
        let manifest = backup.appendingPathComponent("manifest.json")
        guard FileManager.default.fileExists(atPath: manifest.path) else {
            throw BackupFailure(description: "\(backup.path) is not a flux backup (no manifest.json)")
        }
        switch config.database {
        case .sqlite(let path):
            guard !FileManager.default.fileExists(atPath: path) else {
                throw BackupFailure(description: "\(path) exists; restore only into an empty DATA_DIR")
            }
            let snapshot = backup.appendingPathComponent("flux.sqlite")
            guard FileManager.default.fileExists(atPath: snapshot.path) else {
                throw BackupFailure(description: "the backup holds no SQLite database")
            }
            try FileManager.default.copyItem(at: snapshot, to: URL(fileURLWithPath: path))
        case .postgres(let url):
            let dump = backup.appendingPathComponent("flux.pgdump")
            guard FileManager.default.fileExists(atPath: dump.path) else {
                throw BackupFailure(description: "the backup holds no PostgreSQL dump")
            }
            // --exit-on-error with no --clean: restoring over existing tables fails instead of merging.
            try PostgresTool.run("pg_restore", ["--no-owner", "--exit-on-error", "--dbname", PostgresTool.databaseName(url),
                                                dump.path], url: url)
        }
        for name in StoredFiles.directories where FileManager.default.fileExists(atPath: backup.appendingPathComponent(name).path) {
            let existing = config.dataDirectory.appendingPathComponent(name)
            guard !FileManager.default.fileExists(atPath: existing.path) else {
                throw BackupFailure(description: "\(existing.path) exists; restore only into an empty DATA_DIR")
            }
        }
        try StoredFiles.copy(from: backup, to: config.dataDirectory)
    }
}
