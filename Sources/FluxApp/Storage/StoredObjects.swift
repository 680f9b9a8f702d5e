import Fluent
import Foundation

/// Whether the rows that name stored bytes still have them: `flux doctor` and HQ's health page report rows
/// whose object vanished (a bucket emptied by hand, a DATA_DIR restored without its files).
enum StoredObjects {
    /// Keys of rows whose object is gone, among the newest `limit` public uploads and `limit` portal files
    /// (a bound, so the check stays quick on a large installation).
    static func missing(on database: any Database, store: any BlobStore, limit: Int = 1000) async throws -> (checked: Int, missing: [String]) {
        let uploads = try await Asset.query(on: database).sort(\.$createdAt, .descending).limit(limit).all().map { BlobKey.upload($0.id!) }
        let files = try await PortalFile.query(on: database).sort(\.$createdAt, .descending).limit(limit).all()
            .map { BlobKey.portalFile($0.id!, tenant: $0.tenantID) }
        var missing: [String] = []
        for key in uploads + files {
            if try await store.head(key) == nil { missing.append(key) }
        }
        return (uploads.count + files.count, missing)
    }
}
