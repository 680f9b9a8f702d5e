import NIOCore

/// An object sent as it arrives: bytes are held until a part is full, then sent as the next part of a
/// multipart upload; an object that never fills a part goes in one PUT when finished. At most a part and
/// the chunk that overfilled it are held.
final class S3BlobWriter: BlobWriter, @unchecked Sendable {
    let store: S3BlobStore
    let key: String
    private var pending = ByteBuffer()
    private var uploadID: String?
    private var etags: [String] = []

    init(store: S3BlobStore, key: String) {
        self.store = store
        self.key = key
    }

    func write(_ bytes: ByteBuffer) async throws {
        var bytes = bytes
        pending.writeBuffer(&bytes)
        do {
            while pending.readableBytes >= S3BlobStore.partSize {
                try await sendPart(pending.readSlice(length: S3BlobStore.partSize)!)
                pending.discardReadBytes()
            }
        } catch {
            await abort()
            throw error
        }
    }

    func finish() async throws {
        do {
            guard let uploadID else {
                try await store.putObject(key, body: pending)
                return
            }
            if pending.readableBytes > 0 { try await sendPart(pending) }
            try await store.completeMultipart(key, uploadID: uploadID, etags: etags)
        } catch {
            await abort()
            throw error
        }
    }

    func abort() async {
        pending.clear()
        guard let uploadID else { return }
        self.uploadID = nil
        await store.abortMultipart(key, uploadID: uploadID)
    }

    private func sendPart(_ part: ByteBuffer) async throws {
        let id: String
        if let uploadID {
            id = uploadID
        } else {
            id = try await store.startMultipart(key)
            uploadID = id
        }
        etags.append(try await store.uploadPart(key, uploadID: id, number: etags.count + 1, body: part))
    }
}
