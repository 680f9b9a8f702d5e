@testable import FluxApp
import Crypto
import Fluent
import Foundation
import Testing
import VaporTesting

@Suite struct UploadTests {
    static let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]
        + [UInt8](repeating: 7, count: 6000)
    static let mp4: [UInt8] = [0, 0, 0, 0x18] + Array("ftypisom".utf8) + [0, 0, 2, 0] + Array("isomiso2".utf8)
        + [UInt8](repeating: 1, count: 10_000)

    func upload(_ tester: any TestingApplicationTester, _ bytes: [UInt8], filename: String, type: String = "application/octet-stream",
                field: String = "file") async throws -> TestingHTTPResponse {
        let boundary = "flux-boundary-\(UUID().uuidString)"
        var body = Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n".utf8)
        body += Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(field)\"; filename=\"\(filename)\"\r\nContent-Type: \(type)\r\n\r\n".utf8)
        body += Data(bytes) + Data("\r\n--\(boundary)--\r\n".utf8)
        var headers = try await csrfHeaders(tester, json: false)
        headers.replaceOrAdd(name: .contentType, value: "multipart/form-data; boundary=\(boundary)")
        return try await tester.sendRequest(.POST, "/api/public-upload", headers: headers) { req in
            req.body = ByteBuffer(data: body)
        }
    }

    func stored(_ config: AppConfig) -> [String] {
        let uploads = config.dataDirectory.appendingPathComponent("uploads")
        let files = (try? FileManager.default.subpathsOfDirectory(atPath: uploads.path)) ?? []
        return files.filter { !$0.hasSuffix(".incoming") }
    }

    struct Created: Decodable {
        let assetId: UUID
        let contentType: String
        let size: Int
    }

    @Test func anImageIsStoredUnderARandomNameAndServedSafely() async throws {
        try await withFlux { app, config async throws in
            let tester = try app.testing()
            let response = try await upload(tester, Self.png, filename: "../../etc/holiday photo.png", type: "image/png")
            #expect(response.status == .created)
            let created = try response.content.decode(Created.self)
            #expect(created.contentType == "image/png" && created.size == Self.png.count)
            #expect(stored(config) == [created.assetId.uuidString])
            let asset = try #require(try await Asset.find(created.assetId, on: app.db))
            #expect(asset.sha256 == SHA256.hash(data: Self.png).map { String(format: "%02x", $0) }.joined())
            #expect(!asset.originalName.contains("/"))
            #expect(asset.uploaderIPHash.count == 32)

            let served = try await tester.sendRequest(.GET, "/api/assets/\(created.assetId)")
            #expect(served.status == .ok)
            #expect(Array(served.body.readableBytesView) == Self.png)
            #expect(served.headers.contentType?.description == "image/png")
            #expect(served.headers.first(name: .contentDisposition)?.hasPrefix("inline") == true)
            #expect(served.headers.first(name: "Content-Security-Policy")?.contains("sandbox") == true)
            #expect(served.headers.first(name: "X-Content-Type-Options") == "nosniff")
            #expect(try await tester.sendRequest(.GET, "/api/assets/\(UUID())").status == .notFound)
        }
    }

    @Test func spoofedOrUnacceptedContentIs415AndNothingIsWritten() async throws {
        try await withFlux { app, config async throws in
            let tester = try app.testing()
            let html = Array("<!doctype html><script>alert(document.cookie)</script>".utf8) + [UInt8](repeating: 32, count: 5000)
            let spoofed = try await upload(tester, html, filename: "cat.png", type: "image/png")
            #expect(spoofed.status == .unsupportedMediaType)
            let mismatch = try await upload(tester, Self.png, filename: "cat.gif", type: "image/gif")
            #expect(mismatch.status == .unsupportedMediaType)
            let pdf = Array("%PDF-1.7\n".utf8) + [UInt8](repeating: 65, count: 5000)
            #expect(try await upload(tester, pdf, filename: "doc.pdf", type: "application/pdf").status == .unsupportedMediaType)
            #expect(stored(config).isEmpty)
            #expect(try await Asset.query(on: app.db).count() == 0)
            let incoming = config.dataDirectory.appendingPathComponent("uploads/.incoming").path
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: incoming)) ?? []).isEmpty)
        }
    }

    @Test func anOversizedUploadIs413AndNothingIsKept() async throws {
        try await withFlux(environment: ["UPLOAD_MAX_BYTES": "5000"]) { app, config async throws in
            let tester = try app.testing()
            let response = try await upload(tester, Self.png, filename: "big.png", type: "image/png")
            #expect(response.status == .payloadTooLarge)
            #expect(errorCode(response) == "payload_too_large")
            #expect(stored(config).isEmpty)
        }
    }

    /// Found by the API fuzzer: a part with no headers made the multipart parser throw, answered as a 500.
    @Test func aBodyThatBreaksMultipartSyntaxIs400AndNothingIsKept() async throws {
        try await withFlux { app, config async throws in
            let tester = try app.testing()
            var headers = try await csrfHeaders(tester, json: false)
            headers.replaceOrAdd(name: .contentType, value: "multipart/form-data; boundary=B")
            let response = try await tester.sendRequest(.POST, "/api/public-upload", headers: headers) { req in
                req.body = ByteBuffer(string: "--B\r\nTrue--B--\r\n")
            }
            #expect(response.status == .badRequest)
            #expect(errorCode(response) == "malformed_multipart")
            #expect(stored(config).isEmpty)
        }
    }

    @Test func videoIsServedInRanges() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let created = try await upload(tester, Self.mp4, filename: "clip.mp4", type: "video/mp4").content.decode(Created.self)
            #expect(created.contentType == "video/mp4")
            let part = try await tester.sendRequest(.GET, "/api/assets/\(created.assetId)", headers: ["Range": "bytes=100-199"])
            #expect(part.status == .partialContent)
            #expect(Array(part.body.readableBytesView) == Array(Self.mp4[100...199]))
            let missing = try await upload(tester, Self.png, filename: "x.png", field: "other")
            #expect(missing.status == .badRequest)
            #expect(missing.body.string.contains("\"file\""))
        }
    }
}

/// Anonymous uploads cannot fill the disk: a total quota, a free-space floor, and collection of what no
/// consultation took.
@Suite struct UploadCapacityTests {
    let uploads = UploadTests()

    @Test func pastTheQuotaUploadsAnswer507AndNothingStoredIsTouched() async throws {
        let quota = UploadTests.png.count * 2
        try await withFlux(environment: ["PUBLIC_UPLOAD_QUOTA_BYTES": String(quota)]) { app, config async throws in
            let tester = try app.testing()
            var kept: [UUID] = []
            for index in 0..<2 {
                let response = try await uploads.upload(tester, UploadTests.png, filename: "p\(index).png", type: "image/png")
                #expect(response.status == .created)
                kept.append(try response.content.decode(UploadTests.Created.self).assetId)
            }
            let refused = try await uploads.upload(tester, UploadTests.png, filename: "third.png", type: "image/png")
            #expect(refused.status == .insufficientStorage && errorCode(refused) == "insufficient_storage")
            #expect(Set(uploads.stored(config)) == Set(kept.map(\.uuidString)))
            for id in kept { #expect(try await tester.sendRequest(.GET, "/api/assets/\(id)").status == .ok) }
            let health = try await readiness(tester)
            #expect(health.status == .ok && health.body.string.contains(#""uploads":"full""#))
        }
    }

    @Test func belowTheFreeSpaceFloorUploadsAnswer507() async throws {
        try await withFlux(environment: ["DATA_DIR_MIN_FREE_BYTES": String(1 << 50)]) { app, config async throws in
            let tester = try app.testing()
            let refused = try await uploads.upload(tester, UploadTests.png, filename: "p.png", type: "image/png")
            #expect(refused.status == .insufficientStorage)
            #expect(uploads.stored(config).isEmpty)
            #expect(try await readiness(tester).body.string.contains(#""uploads":"full""#))
        }
        try await withFlux { app, _ async throws in
            #expect(try await readiness(app.testing()).body.string.contains(#""uploads":"accepting""#))
        }
    }

    @Test func anUploadNoConsultationTookIsCollectedAfterADayAndAnAttachedOneIsKept() async throws {
        try await withFlux(environment: ["TRUSTED_PROXIES": "127.0.0.1"]) { app, config async throws in
            let tester = try app.testing()
            let attached = try await uploads.upload(tester, UploadTests.png, filename: "kept.png", type: "image/png")
                .content.decode(UploadTests.Created.self).assetId
            let abandoned = try await uploads.upload(tester, UploadTests.png, filename: "left.png", type: "image/png")
                .content.decode(UploadTests.Created.self).assetId
            let consultation = ConsultationTests()
            let unknown = try await consultation.submit(tester, consultation.with(["assetIds": [UUID().uuidString]]))
            #expect(unknown.status == .badRequest && unknown.body.string.contains("assetIds"))
            let sent = try await consultation.submit(tester, consultation.with(["assetIds": [attached.uuidString]]))
            #expect(sent.status == .created)
            // An upload belongs to one ticket.
            let again = try await consultation.submit(tester, consultation.with(["assetIds": [attached.uuidString]]))
            #expect(again.status == .badRequest)

            let housekeeping = UploadHousekeeping(store: app.blobStore)
            #expect(try await housekeeping.run(on: app.db, now: Date().addingTimeInterval(3600)) == 0)
            #expect(try await housekeeping.run(on: app.db, now: Date().addingTimeInterval(UploadHousekeeping.unattachedLifetime + 60)) == 1)
            #expect(try await Asset.find(abandoned, on: app.db) == nil)
            #expect(try await Asset.find(attached, on: app.db)?.signalID != nil)
            #expect(uploads.stored(config) == [attached.uuidString])
        }
    }
}
