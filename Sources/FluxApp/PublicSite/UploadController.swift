import Crypto
import Fluent
import FluxSecurity
import Foundation
import MultipartKit
import Vapor

/// `POST /api/public-upload` (multipart field `file`) and `GET /api/assets/:assetID`.
///
/// The body is streamed: at most UPLOAD_MAX_BYTES are read (413 beyond, without buffering), the first 4 KiB
/// of the file are judged by FluxSecurity's content check before a byte is written (415 otherwise), and the
/// rest goes to a file under DATA_DIR/uploads named by a random id, hashed on the way.
struct UploadController: Sendable {
    static let allowed: Set<FileType> = [.jpeg, .png, .webp, .gif, .mp4, .mov]
    /// Room for the multipart framing and the other small fields around the file.
    static let framingAllowance = 64 * 1024

    let identity: Identity
    let security: Hardening
    let directory: URL
    let maxBytes: Int

    func register(on root: any RoutesBuilder) {
        root.grouped(security.rateLimit(RateLimits.uploads)).on(.POST, "api", "public-upload", body: .stream, use: upload)
        root.grouped(security.rateLimit(RateLimits.assets)).get("api", "assets", ":assetID", use: serve)
    }

    struct Created: Content {
        let assetId: UUID
        let contentType: String
        let size: Int64
    }

    var tooLarge: AppError {
        AppError(.payloadTooLarge, code: "payload_too_large", message: "The upload is larger than \(maxBytes) bytes.")
    }

    @Sendable func upload(_ request: Request) async throws -> Response {
        guard let type = request.headers.contentType, type.type == "multipart", type.subType == "form-data",
            let boundary = type.parameters["boundary"], !boundary.isEmpty
        else {
            throw AppError(.unsupportedMediaType, code: "unsupported_media_type", message: "Send multipart/form-data with a field named file.")
        }
        if let length = request.headers.first(name: .contentLength).flatMap(Int.init), length > maxBytes + Self.framingAllowance {
            throw tooLarge
        }
        let id = UUID()
        let incoming = directory.appendingPathComponent(".incoming", isDirectory: true)
        let state = UploadState(detector: FileTypeDetector(allowed: Self.allowed), temporary: incoming.appendingPathComponent(id.uuidString),
                                maxBytes: maxBytes, threadPool: request.application.threadPool)
        do {
            let parser = MultipartParser(boundary: boundary)
            parser.onHeader = { name, value in state.header(name, value) }
            parser.onBody = { buffer in state.body(&buffer) }
            parser.onPartComplete = { state.partComplete() }
            var received = 0
            for try await chunk in request.body {
                received += chunk.readableBytes
                guard received <= maxBytes + Self.framingAllowance else { throw tooLarge }
                try parser.execute(chunk)
                try await state.flush(directory: incoming, tooLarge: tooLarge)
            }
            try await state.finish(tooLarge: tooLarge)
        } catch {
            state.discard()
            throw error
        }
        guard let detected = state.detected, state.finished else {
            state.discard()
            throw AppError(.badRequest, code: "invalid_input", message: "Some fields are invalid.", fields: ["file": "is required"])
        }
        let asset = Asset()
        asset.id = id
        asset.sha256 = state.digest()
        asset.size = Int64(state.size)
        asset.contentType = detected.mimeType
        asset.originalName = Sanitize.filename(state.filename ?? "upload")
        asset.uploaderIPHash = security.clientAddressHash(request)
        asset.createdAt = Date()
        try FileManager.default.moveItem(at: state.temporary, to: directory.appendingPathComponent(id.uuidString))
        do {
            try await asset.create(on: request.db)
        } catch {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(id.uuidString))
            throw error
        }
        return try await Created(assetId: id, contentType: asset.contentType, size: asset.size).encodeResponse(status: .created, for: request)
    }

    /// Serves an upload with the type Flux detected, never sniffed, inline only for images and video, under a
    /// CSP that sandboxes it; Range requests (video seeking) are answered by Vapor's file streaming.
    @Sendable func serve(_ request: Request) async throws -> Response {
        guard let id = request.parameters.get("assetID", as: UUID.self), let asset = try await Asset.find(id, on: request.db) else {
            throw AppError(.notFound, code: "not_found", message: "No such file.")
        }
        let path = directory.appendingPathComponent(id.uuidString).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw AppError(.notFound, code: "not_found", message: "No such file.")
        }
        let mediaType = HTTPMediaType(type: String(asset.contentType.split(separator: "/")[0]),
                                      subType: String(asset.contentType.split(separator: "/")[1]))
        let response = try await request.fileio.asyncStreamFile(at: path, mediaType: mediaType)
        let inline = asset.contentType.hasPrefix("image/") || asset.contentType.hasPrefix("video/")
        let name = asset.originalName.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: ".-_"))) ?? "file"
        response.headers.replaceOrAdd(name: .contentDisposition, value: "\(inline ? "inline" : "attachment"); filename*=UTF-8''\(name)")
        response.headers.replaceOrAdd(name: "Content-Security-Policy", value: "default-src 'none'; img-src 'self'; media-src 'self'; sandbox")
        response.headers.replaceOrAdd(name: .cacheControl, value: "private, max-age=3600")
        return response
    }
}

/// One upload in progress: the parser's callbacks fill it, the handler flushes it between chunks. Used by one
/// request's task only, one step at a time.
private final class UploadState: @unchecked Sendable {
    let detector: FileTypeDetector
    let temporary: URL
    let maxBytes: Int
    let threadPool: NIOThreadPool

    private var headers: [String: String] = [:]
    private var inFile = false
    private var pending: [UInt8] = []
    private var handle: FileHandle?
    private var hasher = SHA256()
    private(set) var size = 0
    private(set) var detected: FileType?
    private(set) var filename: String?
    private var declaredType: String?
    private(set) var finished = false
    private var fileDone = false

    init(detector: FileTypeDetector, temporary: URL, maxBytes: Int, threadPool: NIOThreadPool) {
        self.detector = detector
        self.temporary = temporary
        self.maxBytes = maxBytes
        self.threadPool = threadPool
    }

    func header(_ name: String, _ value: String) {
        headers[name.lowercased()] = value
    }

    func body(_ buffer: inout ByteBuffer) {
        if !inFile, !fileDone, let disposition = headers["content-disposition"], Self.parameter("name", in: disposition) == "file" {
            inFile = true
            filename = Self.parameter("filename", in: disposition)
            declaredType = headers["content-type"]
        }
        guard inFile else { return }
        size += buffer.readableBytes
        pending += buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    func partComplete() {
        if inFile {
            inFile = false
            fileDone = true
        }
        headers = [:]
    }

    /// Judges the content once 4 KiB (or the whole, smaller file) is in, then writes what is pending.
    func flush(directory: URL, tooLarge: AppError) async throws {
        guard size <= maxBytes else { throw tooLarge }
        if detected == nil {
            guard pending.count >= FileTypeDetector.prefixLength || (fileDone && !pending.isEmpty) else { return }
            detected = try detector.validate(pending.prefix(FileTypeDetector.prefixLength), filename: filename, contentType: declaredType)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            guard FileManager.default.createFile(atPath: temporary.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw AppError(.internalServerError, code: "internal_error", message: "The upload could not be stored.")
            }
            handle = try FileHandle(forWritingTo: temporary)
        }
        guard !pending.isEmpty, let handle else { return }
        let bytes = pending
        pending.removeAll(keepingCapacity: true)
        hasher.update(data: bytes)
        try await threadPool.runIfActive { try handle.write(contentsOf: bytes) }
    }

    func finish(tooLarge: AppError) async throws {
        try await flush(directory: temporary.deletingLastPathComponent(), tooLarge: tooLarge)
        try handle?.close()
        handle = nil
        finished = fileDone && detected != nil
    }

    func digest() -> String {
        hasher.finalize().hexString
    }

    func discard() {
        try? handle?.close()
        handle = nil
        try? FileManager.default.removeItem(at: temporary)
    }

    /// `name="value"` from a Content-Disposition header.
    static func parameter(_ name: String, in header: String) -> String? {
        for part in header.split(separator: ";") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == name {
                return pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return nil
    }
}
