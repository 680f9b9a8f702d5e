import Fluent
import Foundation
import SQLKit
import Vapor

/// How much public uploads may take: a total for all of them (PUBLIC_UPLOAD_QUOTA_BYTES, counted in the
/// database, so every replica sees the same figure) and a floor of free space on DATA_DIR's file system
/// (DATA_DIR_MIN_FREE_BYTES). Past either, an upload answers 507 and nothing stored is touched: anonymous
/// visitors must never be able to fill the disk the database and every other feature write to.
struct UploadCapacity: Sendable {
    let quotaBytes: Int64
    let minimumFreeBytes: Int64
    let directory: URL

    init(config: AppConfig) {
        quotaBytes = Int64(config.publicUploadQuotaBytes)
        minimumFreeBytes = Int64(config.minimumFreeBytes)
        directory = config.dataDirectory
    }

    struct Status: Content, Equatable {
        let usedBytes: Int64
        let quotaBytes: Int64
        /// `nil` when the file system cannot be asked.
        let freeBytes: Int64?
        let minimumFreeBytes: Int64

        var quotaReached: Bool { usedBytes >= quotaBytes }
        var diskLow: Bool { (freeBytes ?? .max) < minimumFreeBytes }
        var accepting: Bool { !quotaReached && !diskLow }

        /// For people: what stops uploads, or nil.
        var problem: String? {
            if quotaReached { return "public uploads hold \(usedBytes) of their \(quotaBytes) bytes (PUBLIC_UPLOAD_QUOTA_BYTES)" }
            if diskLow { return "\(freeBytes ?? 0) bytes free under DATA_DIR, below DATA_DIR_MIN_FREE_BYTES (\(minimumFreeBytes))" }
            return nil
        }
    }

    func status(on database: any Database) async throws -> Status {
        let used = try await database.sql.raw("SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS used FROM assets")
            .first(decodingColumn: "used", as: Int64.self) ?? 0
        return Status(usedBytes: used, quotaBytes: quotaBytes, freeBytes: Self.freeBytes(at: directory), minimumFreeBytes: minimumFreeBytes)
    }

    /// Throws `507 insufficient_storage` unless `adding` more bytes keeps both limits; `alreadyWritten` when
    /// they are on disk already (a received upload waiting to be kept), so the free space counts them.
    func requireRoom(adding bytes: Int64, alreadyWritten: Bool, on database: any Database) async throws {
        let status = try await status(on: database)
        let freeAfter = (status.freeBytes ?? .max) - (alreadyWritten ? 0 : bytes)
        guard status.usedBytes + bytes <= quotaBytes, freeAfter >= minimumFreeBytes else {
            throw AppError(.insufficientStorage, code: "insufficient_storage",
                           message: "Uploads are not accepted right now: the storage set aside for them is full. Try again later.")
        }
    }

    /// Free space on `directory`'s file system for an unprivileged writer.
    static func freeBytes(at directory: URL) -> Int64? {
        var stats = statvfs()
        guard statvfs(directory.path, &stats) == 0 else { return nil }
        return Int64(stats.f_bavail) * Int64(stats.f_frsize)
    }
}
