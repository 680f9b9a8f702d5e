import AsyncHTTPClient
import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// Objects in an S3-compatible bucket, over AsyncHTTPClient with Signature Version 4. Objects up to
/// ``partSize`` go in one PUT; larger ones in a multipart upload of ``partSize`` parts sent as they fill
/// (``S3BlobWriter``), aborted when anything fails, so about one part is held in memory and a failed upload
/// leaves nothing behind.
/// Failures become ``BlobStoreError/unavailable(_:)`` naming the operation and S3's error code, never the
/// credentials or the request's signature.
struct S3BlobStore: BlobStore {
    static let partSize = 8 * 1024 * 1024
    /// A whole transfer's bound; a stalled one is cut sooner by the client's read timeout.
    static let transferDeadline: TimeAmount = .hours(1)
    static let requestDeadline: TimeAmount = .seconds(30)

    let settings: S3Settings
    let client: HTTPClient
    let threadPool: NIOThreadPool
    /// Where each request's latency and failure are counted (`/metrics`).
    let metrics: HTTPMetrics?
    private let signer: SignatureV4
    /// Multipart uploads whose abort the store did not get (it was down): sent again after its next answer, so their
    /// parts are freed without waiting for the daily collection (which takes any the process did not live to retry).
    private let missedAborts = NIOLockedValueBox<[(key: String, upload: String)]>([])

    init(settings: S3Settings, client: HTTPClient, threadPool: NIOThreadPool, metrics: HTTPMetrics? = nil) {
        self.settings = settings
        self.client = client
        self.threadPool = threadPool
        self.metrics = metrics
        signer = SignatureV4(accessKeyID: settings.accessKeyID, secretAccessKey: settings.secretAccessKey, region: settings.region, service: "s3")
    }

    /// A client of its own: redirects are refused (a signed request must not be replayed elsewhere), and a
    /// silent store is given up on after 30 s.
    static func makeClient(eventLoopGroup: any EventLoopGroup) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(30))
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroup: eventLoopGroup, configuration: configuration)
    }

    // MARK: - BlobStore

    func put(_ key: String, movingFile file: URL) async throws {
        defer { try? FileManager.default.removeItem(at: file) }
        try await put(key, chunks: BlobChunks(FileChunks(file: file, range: nil, threadPool: threadPool)))
    }

    /// Bytes go straight to the bucket; `staging` is the local store's concern.
    func writer(for key: String, staging: URL) throws -> any BlobWriter {
        guard BlobKey.isValid(key) else { throw BlobStoreError.unavailable("invalid key") }
        return S3BlobWriter(store: self, key: key)
    }

    func put(_ key: String, chunks: BlobChunks) async throws {
        guard BlobKey.isValid(key) else { throw BlobStoreError.unavailable("invalid key") }
        let writer = S3BlobWriter(store: self, key: key)
        do {
            for try await chunk in chunks { try await writer.write(chunk) }
            try await writer.finish()
        } catch {
            await writer.abort()
            throw error
        }
    }

    func putObject(_ key: String, body: ByteBuffer) async throws {
        _ = try await send(.PUT, key: key, body: body, operation: "PUT")
    }

    func startMultipart(_ key: String) async throws -> String {
        let (_, body) = try await send(.POST, key: key, query: [("uploads", "")], operation: "CreateMultipartUpload")
        guard let id = S3XML.values(of: "UploadId", in: body).first, !id.isEmpty else {
            throw BlobStoreError.unavailable("CreateMultipartUpload answered without an UploadId")
        }
        return id
    }

    /// Sends part `number` (from 1) and returns its ETag.
    func uploadPart(_ key: String, uploadID: String, number: Int, body: ByteBuffer) async throws -> String {
        let (response, _) = try await send(.PUT, key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)], body: body,
                                           operation: "UploadPart")
        guard let etag = response.headers.first(name: "ETag") else { throw BlobStoreError.unavailable("UploadPart answered without an ETag") }
        return etag
    }

    func completeMultipart(_ key: String, uploadID: String, etags: [String]) async throws {
        let parts = etags.enumerated().map { "<Part><PartNumber>\($0.offset + 1)</PartNumber><ETag>\(S3XML.escape($0.element))</ETag></Part>" }
        let xml = "<CompleteMultipartUpload>\(parts.joined())</CompleteMultipartUpload>"
        let (_, body) = try await send(.POST, key: key, query: [("uploadId", uploadID)], body: ByteBuffer(string: xml),
                                       operation: "CompleteMultipartUpload")
        // S3 may answer 200 and report the failure in the body.
        if let code = S3XML.values(of: "Code", in: body).first, body.contains("<Error>") {
            throw BlobStoreError.unavailable("CompleteMultipartUpload failed: \(code)")
        }
    }

    func abortMultipart(_ key: String, uploadID: String) async {
        do {
            _ = try await send(.DELETE, key: key, query: [("uploadId", uploadID)], operation: "AbortMultipartUpload", allowing: [404])
        } catch {
            missedAborts.withLockedValue { $0.append((key, uploadID)) }
        }
    }

    /// After an answer from the store: the aborts it missed go out again, in the background.
    private func retryMissedAborts() {
        let missed = missedAborts.withLockedValue { pending in
            defer { pending = [] }
            return pending
        }
        guard !missed.isEmpty else { return }
        Task {
            for (key, upload) in missed { await abortMultipart(key, uploadID: upload) }
        }
    }

    func get(_ key: String, range: ClosedRange<Int64>?) async throws -> BlobContent {
        var headers: [(String, String)] = []
        if let range { headers.append(("range", "bytes=\(range.lowerBound)-\(range.upperBound)")) }
        let (response, _) = try await send(.GET, key: key, headers: headers, operation: "GET", deadline: Self.transferDeadline,
                                           allowing: [404], streaming: true)
        guard response.status != .notFound else { throw BlobStoreError.notFound }
        guard let length = response.headers.first(name: "Content-Length").flatMap(Int64.init) else {
            throw BlobStoreError.unavailable("GET answered without a Content-Length")
        }
        if let range, response.status != .partialContent || length != range.upperBound - range.lowerBound + 1 {
            throw BlobStoreError.unavailable("GET answered \(response.status.code) to a range request")
        }
        return BlobContent(length: length, chunks: BlobChunks(response.body))
    }

    func head(_ key: String) async throws -> BlobInfo? {
        let (response, _) = try await send(.HEAD, key: key, operation: "HEAD", allowing: [404])
        guard response.status != .notFound else { return nil }
        guard let size = response.headers.first(name: "Content-Length").flatMap(Int64.init) else {
            throw BlobStoreError.unavailable("HEAD answered without a Content-Length")
        }
        return BlobInfo(size: size)
    }

    func delete(_ key: String) async throws {
        _ = try await send(.DELETE, key: key, operation: "DELETE", allowing: [404])
    }

    func keys(under prefix: String, writtenBefore date: Date) async throws -> [String] {
        guard BlobKey.isValid(prefix) else { throw BlobStoreError.unavailable("invalid prefix") }
        var keys: [String] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix + "/")]
            if let token { query.append(("continuation-token", token)) }
            let (_, body) = try await send(.GET, key: nil, query: query, operation: "ListObjectsV2")
            for entry in S3XML.elements("Contents", in: body) {
                guard let key = S3XML.values(of: "Key", in: entry).first, BlobKey.isValid(key),
                    let modified = S3XML.values(of: "LastModified", in: entry).first.flatMap(S3XML.isoDate), modified < date
                else { continue }
                keys.append(key)
            }
            token = S3XML.values(of: "IsTruncated", in: body).first == "true" ? S3XML.values(of: "NextContinuationToken", in: body).first : nil
        } while token != nil
        return keys.sorted()
    }

    /// Multipart uploads of Flux's keys initiated before `date`, aborted (their parts are freed).
    func removeUnfinishedWrites(under prefix: String, startedBefore date: Date) async throws -> Int {
        guard BlobKey.isValid(prefix) else { throw BlobStoreError.unavailable("invalid prefix") }
        var removed = 0
        var markers: (key: String, upload: String)?
        repeat {
            var query = [("uploads", ""), ("prefix", prefix + "/")]
            if let markers { query += [("key-marker", markers.key), ("upload-id-marker", markers.upload)] }
            let (_, body) = try await send(.GET, key: nil, query: query, operation: "ListMultipartUploads")
            for entry in S3XML.elements("Upload", in: body) {
                guard let key = S3XML.values(of: "Key", in: entry).first, BlobKey.isValid(key),
                    let upload = S3XML.values(of: "UploadId", in: entry).first,
                    let initiated = S3XML.values(of: "Initiated", in: entry).first.flatMap(S3XML.isoDate), initiated < date
                else { continue }
                _ = try await send(.DELETE, key: key, query: [("uploadId", upload)], operation: "AbortMultipartUpload", allowing: [404])
                removed += 1
            }
            markers = nil
            if S3XML.values(of: "IsTruncated", in: body).first == "true", let key = S3XML.values(of: "NextKeyMarker", in: body).first,
                let upload = S3XML.values(of: "NextUploadIdMarker", in: body).first {
                markers = (key, upload)
            }
        } while markers != nil
        return removed
    }

    /// A one-key listing rather than a HEAD: its error body names the fault (NoSuchBucket, InvalidAccessKeyId,
    /// SignatureDoesNotMatch), where a HEAD answers a bare status.
    func checkReachable(within timeout: TimeAmount) async throws {
        _ = try await send(.GET, key: nil, query: [("list-type", "2"), ("max-keys", "1")], operation: "ListObjectsV2", deadline: timeout)
    }

    // MARK: - Requests

    /// The object's (or, for `nil`, the bucket's) URL parts: host header value, encoded path, base URL.
    private func location(_ key: String?) throws -> (host: String, path: String, base: String) {
        if let key, !BlobKey.isValid(key) { throw BlobStoreError.unavailable("invalid key") }
        let scheme = settings.endpoint.scheme ?? "https"
        var host = settings.endpoint.host ?? ""
        if !settings.pathStyle { host = "\(settings.bucket).\(host)" }
        if let port = settings.endpoint.port, !(scheme == "https" && port == 443) && !(scheme == "http" && port == 80) { host += ":\(port)" }
        var path = settings.pathStyle ? "/\(settings.bucket)" : ""
        if let key { path += "/" + SignatureV4.encode(key, keepSlash: true) }
        return (host, path.isEmpty ? "/" : path, "\(scheme)://\(host)")
    }

    /// One signed request and its answer's body as text. Statuses other than 2xx and `allowing` become
    /// ``BlobStoreError/unavailable(_:)`` with S3's error code. A `streaming` answer's body is left for the
    /// caller to read (the text is then empty); any other is read whole, so the connection can be reused.
    private func send(_ method: HTTPMethod, key: String?, query: [(String, String)] = [], headers extra: [(String, String)] = [],
                      body: ByteBuffer? = nil, operation: String, deadline: TimeAmount? = nil, allowing: Set<UInt> = [],
                      streaming: Bool = false) async throws -> (HTTPClientResponse, String) {
        let (host, path, base) = try location(key)
        let started = ContinuousClock.now
        var failed = true
        defer { metrics?.storageRequest(operation, took: .now - started, failed: failed) }
        let date = Date()
        let payloadHash = body.map { SHA256.hash(data: $0.readableBytesView).hexString } ?? SignatureV4.emptyPayloadHash
        var signed = [("host", host), ("x-amz-date", SignatureV4.timestamp(date)), ("x-amz-content-sha256", payloadHash)]
        signed += extra
        let authorization = signer.authorization(method: method.rawValue, path: path, query: query, headers: signed, payloadHash: payloadHash, date: date)
        let queryString = query.map { "\(SignatureV4.encode($0.0))=\(SignatureV4.encode($0.1))" }.joined(separator: "&")
        var request = HTTPClientRequest(url: base + path + (queryString.isEmpty ? "" : "?" + queryString))
        request.method = method
        for (name, value) in signed { request.headers.add(name: name, value: value) }
        request.headers.add(name: "Authorization", value: authorization)
        if let body {
            request.body = .bytes(body)
        } else if method == .PUT || method == .POST {
            request.headers.add(name: "Content-Length", value: "0")
        }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, deadline: .now() + (deadline ?? (body == nil ? Self.requestDeadline : Self.transferDeadline)))
        } catch let error as BlobStoreError {
            throw error
        } catch {
            throw BlobStoreError.unavailable("\(operation): the store did not answer (\(Self.describe(error)))")
        }
        guard (200..<300).contains(response.status.code) || allowing.contains(response.status.code) else {
            let text = (try? await Self.text(of: response)) ?? ""
            let code = S3XML.values(of: "Code", in: text).first ?? "no error code"
            throw BlobStoreError.unavailable("\(operation) answered \(response.status.code) (\(code))")
        }
        retryMissedAborts()
        if streaming, response.status.code < 300 {
            failed = false
            return (response, "")
        }
        let text = try await Self.text(of: response)
        failed = false
        return (response, text)
    }

    /// A small answer's body (XML documents are well under a megabyte).
    private static func text(of response: HTTPClientResponse) async throws -> String {
        do {
            return String(buffer: try await response.body.collect(upTo: 1024 * 1024))
        } catch {
            throw BlobStoreError.unavailable("the store's answer could not be read (\(describe(error)))")
        }
    }

    /// An error's kind without its payload: transport errors name the failure, not the request.
    private static func describe(_ error: any Error) -> String {
        String(describing: type(of: error)) + ": " + String(String(describing: error).prefix(120))
    }
}
