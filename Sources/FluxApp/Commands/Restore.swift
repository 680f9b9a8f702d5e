import AsyncHTTPClient
import Foundation
import NIOPosix

/// `flux restore DIR`: brings a `flux backup` back into an empty installation: an empty DATA_DIR for
/// SQLite, an empty database for PostgreSQL. It runs before any database connection is opened (opening
/// one would create the very SQLite file it must not overwrite), so it is dispatched by `FluxMain`. Then every
/// object the backup's manifest lists must be in the configured store (DATA_DIR or the bucket): one that is not
/// is copied from the backup's `objects/` when it is there, and the restore fails naming those still missing.
enum Restore {
    static func run(from backup: URL, config: AppConfig) async throws {
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
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let listed = try decoder.decode(BackupCommand.Manifest.self, from: Data(contentsOf: manifest)).objects ?? []
        try await checkObjects(listed, backup: backup, config: config)
    }

    private static func checkObjects(_ objects: [StoreMigration.Object], backup: URL, config: AppConfig) async throws {
        guard !objects.isEmpty else { return }
        let pool = NIOThreadPool.singleton
        let copies = LocalBlobStore(root: backup.appendingPathComponent(StoredFiles.objectsDirectory), threadPool: pool)
        var client: HTTPClient?
        let store: any BlobStore
        if let settings = config.objectStorage {
            let made = S3BlobStore.makeClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
            client = made
            store = S3BlobStore(settings: settings, client: made, threadPool: pool)
        } else {
            store = LocalBlobStore(root: config.dataDirectory, threadPool: pool)
        }
        var missing: [String] = []
        do {
            for object in objects {
                guard try await store.head(object.key)?.size != object.size else { continue }
                if try await copies.head(object.key)?.size == object.size {
                    try await store.put(object.key, chunks: copies.get(object.key, range: nil).chunks)
                }
                if try await store.head(object.key)?.size != object.size { missing.append(object.key) }
            }
        } catch {
            try? await client?.shutdown()
            throw BackupFailure(description: "the database is restored, but the file store could not be checked: \(error)")
        }
        try await client?.shutdown()
        guard missing.isEmpty else {
            throw BackupFailure(description: "the database is restored, but \(missing.count) of its \(objects.count) stored file(s) are in "
                                + "neither the store nor the backup (\(missing.prefix(3).joined(separator: ", "))); "
                                + "make a backup with --with-objects, or restore the bucket")
        }
    }
}
