import Foundation
import NIOCore
import NIOPosix
import Vapor

/// Objects as files under DATA_DIR, a key being the path below it (`uploads/<id>`, `files/<tenant>/<id>`):
/// the single-machine default, and the layout Flux has always had, so `flux backup` copies these directories.
struct LocalBlobStore: BlobStore {
    let root: URL
    let threadPool: NIOThreadPool

    func url(_ key: String) throws -> URL {
        guard BlobKey.isValid(key) else { throw BlobStoreError.unavailable("invalid key") }
        return root.appendingPathComponent(key, isDirectory: false)
    }

    static func prepareDirectory(for file: URL) throws {
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
    }

    func put(_ key: String, movingFile file: URL) async throws {
        do {
            let target = try url(key)
            try Self.prepareDirectory(for: target)
            try FileManager.default.moveItem(at: file, to: target)
        } catch {
            try? FileManager.default.removeItem(at: file)
            throw error
        }
    }

    /// Received into `staging` (on DATA_DIR, so finishing is a rename), as uploads always were.
    func writer(for key: String, staging: URL) throws -> any BlobWriter {
        LocalBlobWriter(temporary: staging.appendingPathComponent(UUID().uuidString), target: try url(key), threadPool: threadPool)
    }

    /// Written beside the target under a hidden name and renamed into place, so a reader never sees half an object.
    func put(_ key: String, chunks: BlobChunks) async throws {
        let target = try url(key)
        let writer = LocalBlobWriter(temporary: target.deletingLastPathComponent().appendingPathComponent(".\(UUID().uuidString).partial"),
                                     target: target, threadPool: threadPool)
        do {
            for try await chunk in chunks { try await writer.write(chunk) }
            try await writer.finish()
        } catch {
            await writer.abort()
            throw error
        }
    }

    func get(_ key: String, range: ClosedRange<Int64>?) async throws -> BlobContent {
        let file = try url(key)
        guard let info = try await head(key) else { throw BlobStoreError.notFound }
        guard let range else { return BlobContent(length: info.size, chunks: BlobChunks(FileChunks(file: file, range: nil, threadPool: threadPool))) }
        guard range.lowerBound >= 0, range.upperBound < info.size else { throw BlobStoreError.unavailable("range beyond the object") }
        return BlobContent(length: range.upperBound - range.lowerBound + 1,
                           chunks: BlobChunks(FileChunks(file: file, range: range, threadPool: threadPool)))
    }

    func head(_ key: String) async throws -> BlobInfo? {
        let path = try url(key).path
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path), attributes[.type] as? FileAttributeType == .typeRegular,
            let size = attributes[.size] as? NSNumber
        else { return nil }
        return BlobInfo(size: size.int64Value)
    }

    func delete(_ key: String) async throws {
        let file = try url(key)
        do {
            try FileManager.default.removeItem(at: file)
        } catch CocoaError.fileNoSuchFile {
            return
        }
    }

    /// Files written in progress (`.incoming`, `.…partial`) are not objects and are left out.
    func keys(under prefix: String, writtenBefore date: Date) async throws -> [String] {
        let directory = try url(prefix)
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey, .contentModificationDateKey],
                                                          options: [.skipsHiddenFiles])
        else { return [] }
        var keys: [String] = []
        for case let file as URL in walker {
            let values = try file.resourceValues(forKeys: [.isRegularFileKey, .contentModificationDateKey])
            guard values.isRegularFile == true, let modified = values.contentModificationDate, modified < date else { continue }
            let relative = String(file.standardizedFileURL.path.dropFirst(root.standardizedFileURL.path.count + 1))
            if BlobKey.isValid(relative) { keys.append(relative) }
        }
        return keys.sorted()
    }

    /// Staging files (under `.incoming/`) and hidden `.partial` files, by their last write.
    func removeUnfinishedWrites(under prefix: String, startedBefore date: Date) async throws -> Int {
        guard let walker = FileManager.default.enumerator(at: try url(prefix), includingPropertiesForKeys: [.isRegularFileKey, .contentModificationDateKey])
        else { return 0 }
        var removed = 0
        for case let file as URL in walker {
            let name = file.lastPathComponent
            guard file.pathComponents.contains(".incoming") || (name.hasPrefix(".") && name.hasSuffix(".partial")) else { continue }
            let values = try file.resourceValues(forKeys: [.isRegularFileKey, .contentModificationDateKey])
            guard values.isRegularFile == true, let modified = values.contentModificationDate, modified < date else { continue }
            try FileManager.default.removeItem(at: file)
            removed += 1
        }
        return removed
    }

    func checkReachable(within timeout: TimeAmount) async throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDirectory), isDirectory.boolValue,
            FileManager.default.isWritableFile(atPath: root.path)
        else { throw BlobStoreError.unavailable("DATA_DIR is not a writable directory") }
    }

    /// Vapor's file streaming, as Flux has always served files: Range, ETag and conditional requests included.
    func serve(_ key: String, size: Int64, mediaType: HTTPMediaType, for request: Request) async throws -> Response {
        let path = try url(key).path
        guard FileManager.default.fileExists(atPath: path) else { throw BlobStoreError.notFound }
        return try await request.fileio.asyncStreamFile(at: path, mediaType: mediaType)
    }
}

/// An object received into a private temporary file (mode 0600, in a 0700 directory), renamed into place
/// when finished.
final class LocalBlobWriter: BlobWriter, @unchecked Sendable {
    let temporary: URL
    let target: URL
    let threadPool: NIOThreadPool
    private var handle: FileHandle?

    init(temporary: URL, target: URL, threadPool: NIOThreadPool) {
        self.temporary = temporary
        self.target = target
        self.threadPool = threadPool
    }

    private func open() throws -> FileHandle {
        if let handle { return handle }
        try LocalBlobStore.prepareDirectory(for: temporary)
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw BlobStoreError.unavailable("cannot create \(temporary.lastPathComponent)")
        }
        let opened = try FileHandle(forWritingTo: temporary)
        handle = opened
        return opened
    }

    func write(_ bytes: ByteBuffer) async throws {
        let handle = try open()
        let data = Data(bytes.readableBytesView)
        try await threadPool.runIfActive { try handle.write(contentsOf: data) }
    }

    func finish() async throws {
        do {
            try open().close()
            handle = nil
            try LocalBlobStore.prepareDirectory(for: target)
            try FileManager.default.moveItem(at: temporary, to: target)
        } catch {
            await abort()
            throw error
        }
    }

    func abort() async {
        try? handle?.close()
        handle = nil
        try? FileManager.default.removeItem(at: temporary)
    }
}
