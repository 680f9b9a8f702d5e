@testable import FluxApp
import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOPosix
import Testing

/// The settings of the S3-compatible server named by FLUX_TEST_S3_* (`scripts/seaweedfs-throwaway start`
/// prints them); tests on it are skipped when FLUX_TEST_S3_ENDPOINT is unset.
enum TestS3 {
    static var environment: [String: String]? {
        let values = ProcessInfo.processInfo.environment
        guard let endpoint = values["FLUX_TEST_S3_ENDPOINT"], !endpoint.isEmpty else { return nil }
        return ["FILES_S3_ENDPOINT": endpoint, "FILES_S3_BUCKET": values["FLUX_TEST_S3_BUCKET"] ?? "flux-test",
                "FILES_S3_REGION": values["FLUX_TEST_S3_REGION"] ?? "us-east-1",
                "FILES_S3_ACCESS_KEY_ID": values["FLUX_TEST_S3_ACCESS_KEY_ID"] ?? "",
                "FILES_S3_SECRET_ACCESS_KEY": values["FLUX_TEST_S3_SECRET_ACCESS_KEY"] ?? ""]
    }

    static var available: Bool { environment != nil }
}

/// One contract, both stores: the local directory always, the S3 store against the test server when there is one.
@Suite struct BlobStoreTests {
    enum Kind: String, CaseIterable, Sendable { case local, s3 }

    static var kinds: [Kind] { TestS3.available ? [.local, .s3] : [.local] }

    /// A store of `kind` for one test, with its keys under a prefix of their own.
    func withStore(_ kind: Kind, _ body: (any BlobStore, String) async throws -> Void) async throws {
        let prefix = "test-\(UUID().uuidString.lowercased())"
        switch kind {
        case .local:
            let directory = try TemporaryDirectory()
            try await body(LocalBlobStore(root: directory.url, threadPool: .singleton), prefix)
        case .s3:
            let config = try AppConfig.load(from: TestS3.environment!.merging(["FLUX_ENV": "testing", "DATA_DIR": try TemporaryDirectory().url.path]) { $1 })
            let client = S3BlobStore.makeClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
            do {
                try await body(S3BlobStore(settings: try #require(config.objectStorage), client: client, threadPool: .singleton), prefix)
            } catch {
                try? await client.shutdown()
                throw error
            }
            try await client.shutdown()
        }
    }

    static func bytes(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
    }

    /// `bytes` in pieces of `size`, failing after `failAfter` pieces when given.
    static func chunks(_ bytes: [UInt8], size: Int = 64 * 1024, failAfter: Int? = nil) -> BlobChunks {
        let pieces = stride(from: 0, to: bytes.count, by: size).map { ByteBuffer(bytes: bytes[$0..<min($0 + size, bytes.count)]) }
        return BlobChunks(AsyncThrowingStream<ByteBuffer, any Error> { continuation in
            for (index, piece) in pieces.enumerated() {
                if let failAfter, index == failAfter {
                    continuation.finish(throwing: CancellationError())
                    return
                }
                continuation.yield(piece)
            }
            continuation.finish()
        })
    }

    static func collect(_ content: BlobContent) async throws -> [UInt8] {
        var all: [UInt8] = []
        for try await chunk in content.chunks { all += chunk.readableBytesView }
        return all
    }

    @Test(arguments: kinds) func smallObjectRoundTripsWithRangesAndIsDeleted(_ kind: Kind) async throws {
        try await withStore(kind) { store, prefix async throws in
            // setup
            let key = "\(prefix)/\(UUID().uuidString)"
            let bytes = Self.bytes(100_000)
            // MUT
            try await store.put(key, chunks: Self.chunks(bytes))
            // validate
            #expect(try await store.head(key)?.size == 100_000)
            #expect(try await Self.collect(try await store.get(key, range: nil)) == bytes)
            let slice = try await store.get(key, range: 10...19)
            #expect(slice.length == 10)
            #expect(try await Self.collect(slice) == Array(bytes[10...19]))
            #expect(try await Self.collect(try await store.get(key, range: 99_990...99_999)) == Array(bytes[99_990...]))
            try await store.delete(key)
            #expect(try await store.head(key) == nil)
            await #expect(throws: BlobStoreError.notFound) { _ = try await store.get(key, range: nil) }
            try await store.delete(key)
        }
    }

    @Test(arguments: kinds) func largeObjectGoesInPartsAndComesBackIdentical(_ kind: Kind) async throws {
        try await withStore(kind) { store, prefix async throws in
            // setup: two whole parts and a short third
            let key = "\(prefix)/\(UUID().uuidString)"
            let bytes = Self.bytes(2 * S3BlobStore.partSize + 12_345, seed: 7)
            // MUT
            try await store.put(key, chunks: Self.chunks(bytes, size: 100_000))
            // validate
            #expect(try await store.head(key)?.size == Int64(bytes.count))
            let back = try await Self.collect(try await store.get(key, range: nil))
            #expect(SHA256.hash(data: back) == SHA256.hash(data: bytes))
            let across = Int64(S3BlobStore.partSize - 5)...Int64(S3BlobStore.partSize + 4)
            #expect(try await Self.collect(try await store.get(key, range: across)) == Array(bytes[Int(across.lowerBound)...Int(across.upperBound)]))
            try await store.delete(key)
        }
    }

    @Test(arguments: kinds) func anUploadThatFailsHalfWayLeavesNothing(_ kind: Kind) async throws {
        try await withStore(kind) { store, prefix async throws in
            let small = "\(prefix)/\(UUID().uuidString)"
            let large = "\(prefix)/\(UUID().uuidString)"
            // MUT: one failure before a part is full, one after the first part went up
            await #expect(throws: (any Error).self) { try await store.put(small, chunks: Self.chunks(Self.bytes(300_000), failAfter: 2)) }
            await #expect(throws: (any Error).self) {
                try await store.put(large, chunks: Self.chunks(Self.bytes(3 * S3BlobStore.partSize), size: 1 << 20, failAfter: 10))
            }
            // validate
            #expect(try await store.head(small) == nil)
            #expect(try await store.head(large) == nil)
            #expect(try await store.keys(under: prefix, writtenBefore: Date().addingTimeInterval(3600)).isEmpty)
        }
    }

    @Test(arguments: kinds) func keysWrittenBeforeADateAreListed(_ kind: Kind) async throws {
        try await withStore(kind) { store, prefix async throws in
            let keys = ["\(prefix)/a/\(UUID().uuidString)", "\(prefix)/\(UUID().uuidString)"]
            for key in keys { try await store.put(key, chunks: Self.chunks(Self.bytes(10))) }
            #expect(try await store.keys(under: prefix, writtenBefore: Date().addingTimeInterval(3600)) == keys.sorted())
            #expect(try await store.keys(under: prefix, writtenBefore: Date().addingTimeInterval(-3600)).isEmpty)
            for key in keys { try await store.delete(key) }
        }
    }

    @Test(arguments: kinds) func putMovingAFileTakesTheFile(_ kind: Kind) async throws {
        try await withStore(kind) { store, prefix async throws in
            let directory = try TemporaryDirectory()
            let file = directory.url.appendingPathComponent("incoming")
            let bytes = Self.bytes(S3BlobStore.partSize + 1)
            try Data(bytes).write(to: file)
            let key = "\(prefix)/\(UUID().uuidString)"
            try await store.put(key, movingFile: file)
            #expect(!FileManager.default.fileExists(atPath: file.path))
            #expect(try await Self.collect(try await store.get(key, range: nil)) == bytes)
            try await store.checkReachable(within: .seconds(5))
            try await store.delete(key)
        }
    }

    @Test func keysThatAreNotRandomIdsAreRefused() async throws {
        let store = LocalBlobStore(root: try TemporaryDirectory().url, threadPool: .singleton)
        for key in ["../secret", "files//x", "/etc/passwd", "files/a b", "files/x.pdf", ""] {
            #expect(!BlobKey.isValid(key), "\(key)")
            await #expect(throws: (any Error).self) { try await store.put(key, chunks: Self.chunks([1])) }
        }
        #expect(BlobKey.isValid(BlobKey.portalFile(UUID(), tenant: UUID())))
    }

    @Test func rangesAreParsedStrictly() {
        #expect(ByteRange.parse(nil, size: 100) == .whole)
        #expect(ByteRange.parse("bytes=0-9", size: 100) == .partial(0...9))
        #expect(ByteRange.parse("bytes=90-", size: 100) == .partial(90...99))
        #expect(ByteRange.parse("bytes=-10", size: 100) == .partial(90...99))
        #expect(ByteRange.parse("bytes=-1000", size: 100) == .partial(0...99))
        #expect(ByteRange.parse("bytes=50-1000", size: 100) == .partial(50...99))
        #expect(ByteRange.parse("bytes=0-1,5-6", size: 100) == .whole)
        for bad in ["bytes=100-", "bytes=9-1", "bytes=-0", "bytes=abc", "items=0-1", "bytes=", "bytes=-", "bytes=1-2-3",
                    "bytes=99999999999999999999-", "bytes=+1-2", "bytes=٣-٤"] {
            #expect(ByteRange.parse(bad, size: 100) == .unsatisfiable, "\(bad)")
        }
        #expect(ByteRange.parse("bytes=0-", size: 0) == .unsatisfiable)
    }

    @Test func listingAnswersAreReadByTagWithEntitiesDecodedOnce() {
        let body = """
            <ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>a&amp;b</NextContinuationToken>\
            <Contents><Key>uploads/1</Key><LastModified>2026-12-07T14:23:00.000Z</LastModified></Contents>\
            <Contents><Key>files/x&amp;lt;y</Key><LastModified>2026-12-07T14:23:01Z</LastModified></Contents></ListBucketResult>
            """
        #expect(S3XML.values(of: "NextContinuationToken", in: body) == ["a&b"])
        let entries = S3XML.elements("Contents", in: body)
        #expect(entries.flatMap { S3XML.values(of: "Key", in: $0) } == ["uploads/1", "files/x&lt;y"])
        #expect(entries.compactMap { S3XML.values(of: "LastModified", in: $0).first.flatMap(S3XML.isoDate) }.count == 2)
        #expect(S3XML.values(of: "UploadId", in: "<Error><Code>SlowDown</Code></Error>").isEmpty)
    }
}
