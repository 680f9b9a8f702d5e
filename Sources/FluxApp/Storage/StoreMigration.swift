import Crypto
import Fluent
import Foundation
import NIOCore

/// Copies every stored object an installation's rows name from one store to another (`flux files migrate`),
/// checking each copy, and journals what it verified so an interrupted run resumes where it stopped.
///
/// It switches nothing: the servers keep the store they were started with until the operator changes their
/// configuration, which is safe once a run ends with every object verified.
struct StoreMigration {
    /// One object a row names, with what the row says its bytes are.
    struct Object: Sendable, Equatable, Codable {
        let key: String
        let size: Int64
        let sha256: String
    }

    struct Report: Sendable, Equatable {
        var total = 0
        /// Verified by an earlier run (in the journal): not copied again.
        var alreadyVerified = 0
        var copied = 0
        var bytesCopied: Int64 = 0
        /// Keys the source does not have, or whose bytes do not match their row (copied nowhere).
        var missing: [String] = []
        var mismatched: [String] = []
        /// Left for a later run (`limit`).
        var remaining = 0

        var complete: Bool { missing.isEmpty && mismatched.isEmpty && remaining == 0 }
    }

    let source: any BlobStore
    let target: any BlobStore
    /// Names the target, so a journal kept for one bucket is never taken for another's.
    let targetName: String
    let journal: URL

    /// Every object named by a public upload or a portal file (message attachments are portal files), oldest first.
    static func objects(on database: any Database) async throws -> [Object] {
        let uploads = try await Asset.query(on: database).sort(\.$createdAt).all()
            .map { Object(key: BlobKey.upload($0.id!), size: $0.size, sha256: $0.sha256) }
        let files = try await PortalFile.query(on: database).sort(\.$createdAt).all()
            .map { Object(key: BlobKey.portalFile($0.id!, tenant: $0.tenantID), size: $0.size, sha256: $0.sha256) }
        return uploads + files
    }

    /// Copies what the journal does not list yet, at most `limit` objects; `progress` hears of each one.
    func run(_ objects: [Object], limit: Int? = nil, progress: (String) -> Void) async throws -> Report {
        var report = Report(total: objects.count)
        let verified = try readJournal()
        let journal = try openJournal()
        defer { try? journal.close() }
        for (index, object) in objects.enumerated() {
            if verified.contains(object.key) {
                report.alreadyVerified += 1
                continue
            }
            if let limit, report.copied >= limit {
                report.remaining += 1
                continue
            }
            guard let sourceInfo = try await source.head(object.key), sourceInfo.size == object.size else {
                report.missing.append(object.key)
                progress("missing  \(object.key): the source has no object of \(object.size) bytes")
                continue
            }
            let digest = Digest()
            let content = try await source.get(object.key, range: nil)
            try await target.put(object.key, chunks: BlobChunks(content.chunks.map { buffer in
                digest.update(buffer)
                return buffer
            }))
            let copied = digest.hex()
            let readBack = Digest()
            for try await buffer in try await target.get(object.key, range: nil).chunks { readBack.update(buffer) }
            guard copied == object.sha256, readBack.hex() == object.sha256, readBack.count == object.size else {
                report.mismatched.append(object.key)
                try? await target.delete(object.key)
                progress("mismatch \(object.key): the copy's SHA-256 or size differs from its row; removed from the target, not recorded")
                continue
            }
            try journal.write(contentsOf: Data("\(object.key) \(object.size) \(object.sha256)\n".utf8))
            try journal.synchronize()
            report.copied += 1
            report.bytesCopied += object.size
            progress("copied   \(index + 1)/\(objects.count) \(object.key) (\(object.size) bytes, SHA-256 verified)")
        }
        return report
    }

    /// Keys an earlier run to this target verified. A journal written for another target is refused.
    private func readJournal() throws -> Set<String> {
        guard let data = FileManager.default.contents(atPath: journal.path) else { return [] }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        guard lines.first.map(String.init) == header else {
            throw StoreMigrationFailure(description: "\(journal.path) records a migration to another store; remove it to start this one over")
        }
        return Set(lines.dropFirst().compactMap { $0.split(separator: " ").first.map(String.init) })
    }

    private func openJournal() throws -> FileHandle {
        if !FileManager.default.fileExists(atPath: journal.path) {
            guard FileManager.default.createFile(atPath: journal.path, contents: Data((header + "\n").utf8),
                                                 attributes: [.posixPermissions: 0o600])
            else { throw StoreMigrationFailure(description: "cannot write the migration journal \(journal.path)") }
        }
        let handle = try FileHandle(forWritingTo: journal)
        try handle.seekToEnd()
        return handle
    }

    private var header: String { "flux files migrate to \(targetName)" }

    /// SHA-256 and length of bytes streamed through one task.
    private final class Digest: @unchecked Sendable {
        private var hash = SHA256()
        private(set) var count: Int64 = 0

        func update(_ buffer: ByteBuffer) {
            buffer.withUnsafeReadableBytes { hash.update(bufferPointer: $0) }
            count += Int64(buffer.readableBytes)
        }

        func hex() -> String {
            hash.finalize().hexString
        }
    }
}

struct StoreMigrationFailure: ReportedFailure {
    let description: String
}
