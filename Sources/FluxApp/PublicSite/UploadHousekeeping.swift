import Fluent
import Foundation
import SQLKit
import Vapor

/// Collects anonymous public uploads that no consultation took within ``unattachedLifetime``: a visitor
/// uploads before sending the form, and what is never sent is nobody's to keep. An upload attached to a
/// ticket stays with it. Rows go first, then objects, so a crash between the two leaves an orphan object,
/// never a row pointing at nothing; safe on several replicas (a row is deleted once, by whoever gets it).
final class UploadHousekeeping: LifecycleHandler, Sendable {
    static let unattachedLifetime: TimeInterval = 24 * 3600
    let store: any BlobStore
    private let loop = BackgroundTask()

    init(store: any BlobStore) {
        self.store = store
    }

    /// One pass at `now`; returns how many uploads were collected.
    func run(on database: any Database, now: Date = Date()) async throws -> Int {
        struct Row: Decodable { let id: UUID }
        let collected = try await database.sql.raw("""
            DELETE FROM assets WHERE signal_id IS NULL AND created_at < \(bind: now.addingTimeInterval(-Self.unattachedLifetime))
            RETURNING id
            """).all(decoding: Row.self)
        for row in collected {
            try? await store.delete(BlobKey.upload(row.id))
        }
        return collected.count
    }

    /// Starts the loop (`flux serve` does); it stops at shutdown.
    func start(on application: Application) {
        let logger = application.logger
        loop.repeating(every: .seconds(600)) { [self] in
            do {
                let collected = try await run(on: application.db)
                if collected > 0 { logger.info("unattached uploads collected", metadata: ["count": .stringConvertible(collected)]) }
            } catch {
                logger.warning("upload housekeeping failed", metadata: ["error": .string(String(describing: error))])
            }
        }
    }

    func shutdownAsync(_ application: Application) async {
        await loop.stop()
    }
}

extension Application {
    private struct UploadHousekeepingKey: StorageKey {
        typealias Value = UploadHousekeeping
    }

    var uploadHousekeeping: UploadHousekeeping {
        get { storage[UploadHousekeepingKey.self]! }
        set { storage[UploadHousekeepingKey.self] = newValue }
    }
}
