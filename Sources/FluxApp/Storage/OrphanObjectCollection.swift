import Fluent
import Foundation
import Vapor

/// Removes stored objects no row names, once they are a day old: what an upload leaves when the process dies
/// between storing the object and writing its row, or a delete between removing the row and the object
/// (rows are written after their object and deleted before it, so the only disagreement is an orphan object);
/// and writes never finished (multipart uploads whose abort the store did not get, staging files).
/// A day is far longer than any upload takes, so an object whose row is still being written is never taken.
/// Safe on several replicas at once: a pass only deletes objects whose row is absent, and deleting twice is
/// harmless.
final class OrphanObjectCollection: LifecycleHandler, Sendable {
    static let minimumAge: TimeInterval = 24 * 3600
    let store: any BlobStore
    private let loop = BackgroundTask()

    init(store: any BlobStore) {
        self.store = store
    }

    /// One pass at `now`; returns how many objects were removed.
    func run(on database: any Database, now: Date = Date()) async throws -> Int {
        let cutoff = now.addingTimeInterval(-Self.minimumAge)
        var removed = 0
        for key in try await store.keys(under: "uploads", writtenBefore: cutoff) {
            guard let id = Self.id(key, parts: 2), key == BlobKey.upload(id), try await Asset.find(id, on: database) == nil else { continue }
            try await store.delete(key)
            removed += 1
        }
        for key in try await store.keys(under: "files", writtenBefore: cutoff) {
            guard let id = Self.id(key, parts: 3) else { continue }
            let row = try await PortalFile.find(id, on: database)
            if let row, key == BlobKey.portalFile(id, tenant: row.tenantID) { continue }
            try await store.delete(key)
            removed += 1
        }
        for prefix in ["uploads", "files"] {
            removed += try await store.removeUnfinishedWrites(under: prefix, startedBefore: cutoff)
        }
        return removed
    }

    /// The id in the last segment of a key of `parts` segments.
    private static func id(_ key: String, parts: Int) -> UUID? {
        let segments = key.split(separator: "/")
        guard segments.count == parts, let last = segments.last else { return nil }
        return UUID(uuidString: String(last))
    }

    /// Starts the loop (`flux serve` does); it stops at shutdown.
    func start(on application: Application) {
        let logger = application.logger
        loop.repeating(every: .seconds(3600), firstAfter: .seconds(600)) { [self] in
            do {
                let removed = try await run(on: application.db)
                if removed > 0 { logger.info("orphan objects removed", metadata: ["count": .stringConvertible(removed)]) }
            } catch {
                logger.warning("orphan object collection failed", metadata: ["error": .string(String(describing: error))])
            }
        }
    }

    func shutdownAsync(_ application: Application) async {
        await loop.stop()
    }
}

extension Application {
    private struct OrphanObjectCollectionKey: StorageKey {
        typealias Value = OrphanObjectCollection
    }

    var orphanObjectCollection: OrphanObjectCollection {
        get { storage[OrphanObjectCollectionKey.self]! }
        set { storage[OrphanObjectCollectionKey.self] = newValue }
    }
}
