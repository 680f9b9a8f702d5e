import Fluent
import FluxSecurity
import Foundation
import Vapor

/// `POST /api/public-upload` (multipart field `file`) and `GET /api/assets/:assetID`.
///
/// The body is streamed: at most UPLOAD_MAX_BYTES are read (413 beyond, without buffering), the first 4 KiB
/// of the file are judged by FluxSecurity's content check before a byte is written (415 otherwise), and the
/// rest goes to the ``BlobStore`` under a random id as it arrives (through DATA_DIR/uploads/.incoming for
/// the local store), hashed on the way; 503 when the store is down. Before and after the body is read,
/// ``UploadCapacity`` must have room for it (507 otherwise).
struct UploadController: Sendable {
    static let allowed: Set<FileType> = [.jpeg, .png, .webp, .gif, .mp4, .mov]

    let security: Hardening
    let store: any BlobStore
    /// Where the local store receives bodies.
    let incoming: URL
    let maxBytes: Int
    let capacity: UploadCapacity

    struct Created: Content {
        let assetId: UUID
        let contentType: String
        let size: Int64
    }

    var tooLarge: AppError {
        AppError(.payloadTooLarge, code: "payload_too_large", message: "The upload is larger than \(maxBytes) bytes.")
    }

    @Sendable func upload(_ request: Request) async throws -> Response {
        let id = UUID()
        try await capacity.requireRoom(adding: 0, alreadyWritten: false, on: request.db)
        let writer = try store.writer(for: BlobKey.upload(id), staging: incoming)
        let upload = try await StreamedUpload.receive(request, allowed: Self.allowed, maxBytes: maxBytes, into: writer, tooLarge: tooLarge)
        do {
            try await capacity.requireRoom(adding: Int64(upload.size), alreadyWritten: true, on: request.db)
        } catch {
            await writer.abort()
            throw error
        }
        let asset = Asset()
        asset.id = id
        asset.sha256 = upload.sha256
        asset.size = Int64(upload.size)
        asset.contentType = upload.mimeType
        asset.originalName = Sanitize.filename(upload.filename ?? "upload")
        asset.uploaderIPHash = security.clientAddressHash(request)
        asset.createdAt = Date()
        try await writer.finish()
        do {
            try await asset.create(on: request.db)
        } catch {
            try? await store.delete(BlobKey.upload(id))
            throw error
        }
        return try await Created(assetId: id, contentType: asset.contentType, size: asset.size).encodeResponse(status: .created, for: request)
    }

    /// Serves an upload with the type Flux detected, never sniffed, inline only for images and video, under a
    /// CSP that sandboxes it; Range requests (video seeking) are honoured by the store.
    @Sendable func serve(_ request: Request) async throws -> Response {
        guard let id = request.parameters.get("assetID", as: UUID.self), let asset = try await Asset.find(id, on: request.db) else {
            throw AppError.notFound("No such file.")
        }
        let mediaType = HTTPMediaType(type: String(asset.contentType.split(separator: "/")[0]),
                                      subType: String(asset.contentType.split(separator: "/")[1]))
        let response = try await store.serve(BlobKey.upload(id), size: asset.size, mediaType: mediaType, for: request)
        let inline = asset.contentType.hasPrefix("image/") || asset.contentType.hasPrefix("video/")
        let name = asset.originalName.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: ".-_"))) ?? "file"
        response.headers.replaceOrAdd(name: .contentDisposition, value: "\(inline ? "inline" : "attachment"); filename*=UTF-8''\(name)")
        response.headers.replaceOrAdd(name: "Content-Security-Policy", value: "default-src 'none'; img-src 'self'; media-src 'self'; sandbox")
        response.headers.replaceOrAdd(name: .cacheControl, value: "private, max-age=3600")
        return response
    }
}
