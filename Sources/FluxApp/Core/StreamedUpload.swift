import Crypto
import FluxSecurity
import Foundation
import Vapor

/// A multipart upload (field `file`) streamed into a ``BlobWriter``: at most `maxBytes` are read (413 beyond,
/// without buffering), the first 4 KiB are judged by FluxSecurity before a byte is written (by the
/// ``ContentRule``: an allow-list, 415 otherwise, or any content, its type identified), and the rest is
/// written as it arrives, hashed on the way. The caller finishes the writer (or aborts it); when receiving
/// fails, the writer is aborted here.
enum StreamedUpload {
    /// Room for the multipart framing and the other small fields around the file.
    static let framingAllowance = 64 * 1024

    /// What content an upload may have.
    enum ContentRule: Sendable {
        /// Only these types, and only under a name and declared Content-Type that agree (``FileTypeDetector``).
        case only(Set<FileType>)
        /// Anything: its type is identified by content (``ContentIdentifier``) and recorded, never refused.
        case anything
    }

    struct Received {
        /// The media type judged from the content.
        let mimeType: String
        let size: Int
        let sha256: String
        let filename: String?
    }

    static func receive(_ request: Request, allowed: Set<FileType>, maxBytes: Int, into writer: any BlobWriter, tooLarge: AppError) async throws -> Received {
        try await receive(request, rule: .only(allowed), maxBytes: maxBytes, into: writer, tooLarge: tooLarge)
    }

    static func receive(_ request: Request, rule: ContentRule, maxBytes: Int, into writer: any BlobWriter, tooLarge: AppError) async throws -> Received {
        guard let type = request.headers.contentType, type.type == "multipart", type.subType == "form-data",
            let boundary = type.parameters["boundary"], !boundary.isEmpty
        else {
            throw AppError(.unsupportedMediaType, code: "unsupported_media_type", message: "Send multipart/form-data with a field named file.")
        }
        if let length = request.headers.first(name: .contentLength).flatMap(Int.init), length > maxBytes + framingAllowance {
            throw tooLarge
        }
        let state = UploadState(rule: rule, writer: writer, maxBytes: maxBytes)
        do {
            let parser = MultipartReader(boundary: boundary)
            parser.onHeader = { name, value in state.header(name, value) }
            parser.onBody = { buffer in state.body(&buffer) }
            parser.onPartComplete = { state.partComplete() }
            var received = 0
            for try await chunk in request.body {
                received += chunk.readableBytes
                guard received <= maxBytes + framingAllowance else { throw tooLarge }
                try Self.read { try parser.execute(chunk) }
                try await state.flush(tooLarge: tooLarge)
            }
            try Self.read { try parser.finish() }
            try await state.finish(tooLarge: tooLarge)
        } catch {
            await writer.abort()
            throw error
        }
        guard let detected = state.detected, state.finished else {
            await writer.abort()
            throw AppError.invalidFields(["file": "is required"])
        }
        return Received(mimeType: detected, size: state.size, sha256: state.digest(), filename: state.filename)
    }

    /// The reader throws only for a body that breaks multipart's syntax: the client's mistake.
    private static func read(_ step: () throws -> Void) throws {
        do {
            try step()
        } catch {
            throw AppError(.badRequest, code: "malformed_multipart", message: "The multipart body could not be read.")
        }
    }
}

/// One upload in progress: the parser's callbacks fill it, the handler flushes it between chunks. Used by one
/// request's task only, one step at a time.
final class UploadState: @unchecked Sendable {
    let rule: StreamedUpload.ContentRule
    let writer: any BlobWriter
    let maxBytes: Int

    private var headers: [String: String] = [:]
    private var inFile = false
    private var pending: [UInt8] = []
    private var hasher = SHA256()
    private(set) var size = 0
    private(set) var detected: String?
    private(set) var filename: String?
    private var declaredType: String?
    private(set) var finished = false
    private var fileDone = false

    init(rule: StreamedUpload.ContentRule, writer: any BlobWriter, maxBytes: Int) {
        self.rule = rule
        self.writer = writer
        self.maxBytes = maxBytes
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
    func flush(tooLarge: AppError) async throws {
        guard size <= maxBytes else { throw tooLarge }
        if detected == nil {
            guard pending.count >= FileTypeDetector.prefixLength || (fileDone && !pending.isEmpty) else { return }
            let prefix = pending.prefix(FileTypeDetector.prefixLength)
            switch rule {
            case .only(let allowed):
                detected = try FileTypeDetector(allowed: allowed).validate(prefix, filename: filename, contentType: declaredType).mimeType
            case .anything:
                detected = ContentIdentifier.identify(prefix, filename: filename)
            }
        }
        guard !pending.isEmpty else { return }
        let bytes = pending
        pending.removeAll(keepingCapacity: true)
        hasher.update(data: bytes)
        try await writer.write(ByteBuffer(bytes: bytes))
    }

    func finish(tooLarge: AppError) async throws {
        try await flush(tooLarge: tooLarge)
        finished = fileDone && detected != nil
    }

    func digest() -> String {
        hasher.finalize().hexString
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
