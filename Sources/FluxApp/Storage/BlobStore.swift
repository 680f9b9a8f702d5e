import Foundation
import NIOCore
import Vapor

/// Where Flux keeps stored bytes: public uploads, portal files and message attachments. The local directory
/// (``LocalBlobStore``) is the single-machine default; an S3-compatible bucket (``S3BlobStore``) lets several
/// replicas share them. Keys are built by ``BlobKey`` from random ids, never from a name a user gave.
protocol BlobStore: Sendable {
    /// A writer for an object under `key` whose bytes arrive over time (an upload being received); the local
    /// store keeps them in `staging` until the writer finishes.
    func writer(for key: String, staging: URL) throws -> any BlobWriter
    /// Stores the file at `file` under `key` and removes the file, stored or not.
    func put(_ key: String, movingFile file: URL) async throws
    /// Stores what `chunks` yields under `key`; when it throws, nothing is left under `key`.
    func put(_ key: String, chunks: BlobChunks) async throws
    /// The object's bytes, all of them or the `range` (offsets inclusive, within the object).
    func get(_ key: String, range: ClosedRange<Int64>?) async throws -> BlobContent
    /// The object's size; `nil` when there is no such object.
    func head(_ key: String) async throws -> BlobInfo?
    /// Removes the object; removing one that is not there succeeds.
    func delete(_ key: String) async throws
    /// Keys under `prefix` written before `date`: candidates for collecting objects no row names.
    func keys(under prefix: String, writtenBefore date: Date) async throws -> [String]
    /// Removes writes under `prefix` begun before `date` and never finished: an S3 multipart upload whose abort
    /// could not reach the store (it was down), a staging file of a process that died mid-upload. Returns how many.
    func removeUnfinishedWrites(under prefix: String, startedBefore date: Date) async throws -> Int
    /// Throws unless the store answers within `timeout` and accepts this instance's credentials (health, doctor).
    func checkReachable(within timeout: TimeAmount) async throws
    /// The object as a download of `mediaType`, honouring the request's `Range`.
    func serve(_ key: String, size: Int64, mediaType: HTTPMediaType, for request: Request) async throws -> Response
}

/// An object being written by one task: bytes go to the store as they are handed over (the S3 store sends
/// each full part), nothing is visible under the key until ``finish()`` succeeds, and ``abort()``, or a
/// failed `write` or `finish`, leaves nothing behind.
protocol BlobWriter: AnyObject, Sendable {
    func write(_ bytes: ByteBuffer) async throws
    func finish() async throws
    func abort() async
}

/// Keys of stored objects, one scheme for every store: the local store's paths under DATA_DIR are these keys.
enum BlobKey {
    static func upload(_ id: UUID) -> String { "uploads/\(id.uuidString)" }
    static func portalFile(_ id: UUID, tenant: UUID) -> String { "files/\(tenant.uuidString)/\(id.uuidString)" }

    /// Segments of letters, digits and `-`, joined by `/`: no `..`, no empty segment, nothing a path or URL
    /// would read differently.
    static func isValid(_ key: String) -> Bool {
        let segments = key.split(separator: "/", omittingEmptySubsequences: false)
        let allowed = { (byte: UInt8) in
            byte == UInt8(ascii: "-") || (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
        }
        return !segments.isEmpty && key.utf8.count <= 512 && segments.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy(allowed) }
    }
}

struct BlobInfo: Sendable, Equatable {
    let size: Int64
}

/// Bytes on their way in or out of a store, pulled one buffer at a time (so a slow reader slows the source).
struct BlobChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    struct AsyncIterator: AsyncIteratorProtocol {
        let pull: () async throws -> ByteBuffer?
        func next() async throws -> ByteBuffer? { try await pull() }
    }

    private let start: @Sendable () -> AsyncIterator

    init<Base: AsyncSequence & Sendable>(_ base: Base) where Base.Element == ByteBuffer {
        start = {
            let cursor = Cursor(base.makeAsyncIterator())
            return AsyncIterator { try await cursor.next() }
        }
    }

    func makeAsyncIterator() -> AsyncIterator { start() }

    /// One iteration's position; used by the one task that iterates.
    private final class Cursor<Iterator: AsyncIteratorProtocol>: @unchecked Sendable where Iterator.Element == ByteBuffer {
        var iterator: Iterator
        init(_ iterator: Iterator) { self.iterator = iterator }
        func next() async throws -> ByteBuffer? { try await iterator.next() }
    }
}

struct BlobContent: Sendable {
    /// Bytes `chunks` yields.
    let length: Int64
    let chunks: BlobChunks
}

/// What a store's failures look like to a request: the object is missing (404), or the store could not be
/// used (503). Neither carries the store's credentials or its raw answer.
enum BlobStoreError: Error, Equatable {
    case notFound
    case unavailable(String)
}

extension BlobStoreError {
    /// What the client is told: the reason for a 503 stays in the log.
    var answer: AppError {
        switch self {
        case .notFound: AppError.notFound("No such file.")
        case .unavailable:
            AppError(.serviceUnavailable, code: "storage_unavailable", message: "File storage is not available right now. Try again later.")
        }
    }
}

/// A single `Range: bytes=…` against an object of `size` bytes (RFC 9110 §14.1.2).
enum ByteRange {
    enum Outcome: Equatable {
        /// No Range header, or several ranges (served whole, as RFC 9110 allows).
        case whole
        case partial(ClosedRange<Int64>)
        case unsatisfiable
    }

    static func parse(_ header: String?, size: Int64) -> Outcome {
        guard let header else { return .whole }
        let text = header.trimmingCharacters(in: .whitespaces)
        guard text.lowercased().hasPrefix("bytes="), text.count <= 200 else { return .unsatisfiable }
        let spec = text.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        if spec.contains(",") { return .whole }
        let bounds = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard bounds.count == 2, bounds.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }) else { return .unsatisfiable }
        switch (Int64(bounds[0]), Int64(bounds[1])) {
        case let (first?, last?) where first <= last && first < size:
            return .partial(first...min(last, size - 1))
        case let (first?, nil) where bounds[1].isEmpty && first < size:
            return .partial(first...(size - 1))
        case let (nil, suffix?) where bounds[0].isEmpty && suffix > 0 && size > 0:
            return .partial(max(0, size - suffix)...(size - 1))
        default:
            return .unsatisfiable
        }
    }
}

extension BlobStore {
    /// Streams the object from the store; a Range is answered with 206 and `Content-Range`, one that cannot
    /// be met with 416 and the error envelope.
    func serve(_ key: String, size: Int64, mediaType: HTTPMediaType, for request: Request) async throws -> Response {
        let range: ClosedRange<Int64>?
        switch ByteRange.parse(request.headers.first(name: .range), size: size) {
        case .whole: range = nil
        case .partial(let bytes): range = bytes
        case .unsatisfiable:
            throw AppError(.rangeNotSatisfiable, code: "range_not_satisfiable", message: "The requested range is not in the file.",
                           headers: ["Content-Range": "bytes */\(size)"])
        }
        let content = try await get(key, range: range)
        let chunks = content.chunks
        let response = Response(status: range == nil ? .ok : .partialContent, body: .init(asyncStream: { writer in
            for try await chunk in chunks { try await writer.writeBuffer(chunk) }
            try await writer.write(.end)
        }, count: Int(content.length)))
        response.headers.contentType = mediaType
        response.headers.replaceOrAdd(name: .acceptRanges, value: "bytes")
        if let range { response.headers.replaceOrAdd(name: .contentRange, value: "bytes \(range.lowerBound)-\(range.upperBound)/\(size)") }
        return response
    }
}

extension Application {
    /// The bucket's store when FILES_S3_BUCKET is set, on an HTTP client of its own shut down with the
    /// application; DATA_DIR's otherwise.
    func makeBlobStore(_ config: AppConfig, metrics: HTTPMetrics) -> any BlobStore {
        guard let settings = config.objectStorage else { return LocalBlobStore(root: config.dataDirectory, threadPool: threadPool) }
        let client = S3BlobStore.makeClient(eventLoopGroup: eventLoopGroup)
        lifecycle.use(HTTPClientShutdown(client: client))
        return S3BlobStore(settings: settings, client: client, threadPool: threadPool, metrics: metrics)
    }

    private struct BlobStoreKey: StorageKey {
        typealias Value = any BlobStore
    }

    /// The store every feature keeps its bytes in (configured in `configure`).
    var blobStore: any BlobStore {
        get { storage[BlobStoreKey.self]! }
        set { storage[BlobStoreKey.self] = newValue }
    }
}
