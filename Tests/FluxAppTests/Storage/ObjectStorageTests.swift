@testable import FluxApp
import Fluent
import NIOPosix
import Foundation
import Testing
import VaporTesting

/// Flux with FILES_S3_* set: files go to the bucket and come back with Flux's headers; a store that is down
/// refuses uploads with 503 and the error envelope and stores nothing, while everything else keeps working.
@Suite struct ObjectStorageTests {
    let files = PortalFilesTests()
    let uploads = UploadTests()

    func storedUnderDataDirectory(_ config: AppConfig) -> [String] {
        ["files", "uploads"].flatMap { folder in
            ((try? FileManager.default.subpathsOfDirectory(atPath: config.dataDirectory.appendingPathComponent(folder).path)) ?? [])
                .filter { !$0.hasPrefix(".incoming") }
        }
    }

    @Test(.enabled(if: TestS3.available)) func portalFilesLiveInTheBucketWithFluxsHeaders() async throws {
        try await withFlux(environment: TestS3.environment!) { app, config in
            // setup
            let tester = try app.testing()
            let member = try await mintSignedIn(app, role: .clientMember)
            let bytes = PortalFilesTests.pdf + BlobStoreTests.bytes(S3BlobStore.partSize + 100)
            let created = try await files.upload(tester, member, bytes, filename: "re\u{202E}fdp.exe/../report.pdf", type: "application/pdf")
            #expect(created.status == .created)
            let file = try created.content.decode(PortalFilesController.FileView.self)
            let key = BlobKey.portalFile(file.id, tenant: member.tenantID)
            #expect(try await app.blobStore.head(key)?.size == Int64(bytes.count))
            #expect(storedUnderDataDirectory(config).isEmpty)
            let url = "/api/tenants/\(member.tenantID)/files/\(file.id)/content"
            let download = try await tester.sendRequest(.GET, url, headers: member.bearer)
            #expect(download.status == .ok && Array(download.body.readableBytesView) == bytes)
            #expect(download.headers.first(name: .contentDisposition)?.hasPrefix("attachment; filename*=UTF-8''") == true)
            #expect(download.headers.first(name: .contentDisposition)?.contains("/") == false)
            // A download is never framed, not even by the portal (only files shown in place may be, for previews).
            #expect(download.headers.first(name: "Content-Security-Policy") == "default-src 'none'; frame-ancestors 'none'; sandbox")
            #expect(download.headers.first(name: .cacheControl) == "private, no-store")
            #expect(download.headers.first(name: "X-Content-Type-Options") == "nosniff")
            #expect(download.headers.contentType?.description == "application/pdf")

            var ranged = member.bearer
            ranged.replaceOrAdd(name: .range, value: "bytes=0-7")
            let partial = try await tester.sendRequest(.GET, url, headers: ranged)
            #expect(partial.status == .partialContent && partial.body.string == "%PDF-1.7")
            #expect(partial.headers.first(name: .contentRange) == "bytes 0-7/\(bytes.count)")
            ranged.replaceOrAdd(name: .range, value: "bytes=\(bytes.count)-")
            let beyond = try await tester.sendRequest(.GET, url, headers: ranged)
            #expect(beyond.status == .rangeNotSatisfiable && beyond.body.string.contains("range_not_satisfiable"))
            #expect(beyond.headers.first(name: .contentRange) == "bytes */\(bytes.count)")

            let shared = try await tester.sendRequest(.POST, "/api/tenants/\(member.tenantID)/files/\(file.id)/shares", headers: member.bearer) { req in
                try req.content.encode(["expiresInHours": 1])
            }
            let link = try shared.content.decode(PortalFilesController.ShareView.self).url
            let viaLink = try await tester.sendRequest(.GET, String(link[link.range(of: "/api/shared/")!.lowerBound...]))
            #expect(viaLink.status == .ok && Array(viaLink.body.readableBytesView) == bytes)

            #expect(try await tester.sendRequest(.DELETE, "/api/tenants/\(member.tenantID)/files/\(file.id)", headers: member.bearer).status == .noContent)
            #expect(try await app.blobStore.head(key) == nil)
        }
    }

    @Test(.enabled(if: TestS3.available)) func publicUploadsLiveInTheBucketAndAreCollected() async throws {
        try await withFlux(environment: TestS3.environment!) { app, config in
            let tester = try app.testing()
            let response = try await uploads.upload(tester, UploadTests.png, filename: "holiday.png", type: "image/png")
            #expect(response.status == .created)
            let id = try response.content.decode(UploadTests.Created.self).assetId
            #expect(storedUnderDataDirectory(config).isEmpty)
            let served = try await tester.sendRequest(.GET, "/api/assets/\(id)")
            #expect(served.status == .ok && Array(served.body.readableBytesView) == UploadTests.png)
            #expect(served.headers.first(name: .contentDisposition)?.hasPrefix("inline") == true)
            #expect(served.headers.first(name: .cacheControl) == "private, max-age=3600")

            #expect(try await app.uploadHousekeeping.run(on: app.db, now: Date().addingTimeInterval(UploadHousekeeping.unattachedLifetime + 60)) == 1)
            #expect(try await app.blobStore.head(BlobKey.upload(id)) == nil)
            #expect(try await tester.sendRequest(.GET, "/api/assets/\(id)").status == .notFound)
        }
    }

    /// A port nothing listens on: the store is down from the first request.
    static var unreachableStore: [String: String] {
        ["FILES_S3_BUCKET": "flux-down", "FILES_S3_ENDPOINT": "http://127.0.0.1:9", "FILES_S3_ACCESS_KEY_ID": "AKIDDOWN",
         "FILES_S3_SECRET_ACCESS_KEY": "never-printed-secret-value"]
    }

    @Test func aStoreThatIsDownRefusesUploadsWith503AndStoresNothing() async throws {
        try await withFlux(environment: Self.unreachableStore.merging(["METRICS_TOKEN": "storage-metrics-token"]) { $1 }) { app, config in
            let tester = try app.testing()
            let member = try await mintSignedIn(app, role: .clientMember)
            let portal = try await files.upload(tester, member, PortalFilesTests.pdf, filename: "a.pdf", type: "application/pdf")
            #expect(portal.status == .serviceUnavailable)
            #expect(portal.body.string.contains("\"code\":\"storage_unavailable\""))
            #expect(!portal.body.string.contains("never-printed-secret-value"))
            #expect(try await PortalFile.query(on: app.db).count() == 0)

            let public_ = try await uploads.upload(tester, UploadTests.png, filename: "a.png", type: "image/png")
            #expect(public_.status == .serviceUnavailable && public_.body.string.contains("storage_unavailable"))
            #expect(try await Asset.query(on: app.db).count() == 0)
            // Nothing half-received is left on disk either.
            #expect(storedUnderDataDirectory(config).isEmpty)
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: config.dataDirectory.appendingPathComponent("files/.incoming").path)) ?? []).isEmpty)
            // Everything else keeps working, and health says which part is down without making the replica unready.
            let health = try await readiness(tester)
            #expect(health.status == .ok)
            let body = try JSONSerialization.jsonObject(with: Data(buffer: health.body)) as? [String: Any]
            #expect(body?["storage"] as? String == "down" && body?["db"] as? String == "up" && body?["ok"] as? Bool == true)
            #expect(try await tester.sendRequest(.GET, "/api/tenants/\(member.tenantID)/files", headers: member.bearer).status == .ok)
            #expect(LogCapture.shared.all.allSatisfy { !$0.contains("never-printed-secret-value") })
            let metrics = try await tester.sendRequest(.GET, "/metrics", headers: ["Authorization": "Bearer storage-metrics-token"]).body.string
            #expect(metrics.contains("flux_storage_errors_total{operation=\"PUT\"} 2"))
            #expect(metrics.contains("flux_storage_request_duration_seconds_count{operation=\"PUT\"} 2"))
        }
    }

    /// An S3 store built from `environment` (FILES_S3_*), its client shut down afterwards.
    func withS3Store(_ environment: [String: String], _ body: (AppConfig, any BlobStore) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        let config = try AppConfig.load(from: environment.merging(["FLUX_ENV": "testing", "DATA_DIR": directory.url.path]) { $1 })
        let client = S3BlobStore.makeClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        do {
            try await body(config, S3BlobStore(settings: try #require(config.objectStorage), client: client, threadPool: .singleton))
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    @Test func doctorNamesTheEndpointOfAStoreThatDoesNotAnswer() async throws {
        try await withS3Store(Self.unreachableStore) { config, store in
            guard case .failure(let problem) = await DoctorCommand.storageCheck(config, store: store) else { Issue.record("passed"); return }
            #expect(problem.text.contains("check FILES_S3_ENDPOINT"))
            #expect(!problem.text.contains("never-printed-secret-value"))
        }
    }

    @Test(.enabled(if: TestS3.available)) func doctorChecksTheBucketAndNamesTheVariableAtFault() async throws {
        let good = TestS3.environment!
        try await withS3Store(good) { config, store in
            guard case .success(let text) = await DoctorCommand.storageCheck(config, store: store) else { Issue.record("failed"); return }
            #expect(text.contains("writable"))
        }
        let wrongSecret = "wrong-secret-value-not-to-print"
        let cases: [([String: String], String)] = [
            (["FILES_S3_SECRET_ACCESS_KEY": wrongSecret], "FILES_S3_SECRET_ACCESS_KEY"),
            (["FILES_S3_ACCESS_KEY_ID": "AKIDUNKNOWN"], "FILES_S3_ACCESS_KEY_ID"),
            (["FILES_S3_BUCKET": "flux-missing-\(UUID().uuidString.prefix(8).lowercased())"], "FILES_S3_BUCKET"),
        ]
        for (change, variable) in cases {
            try await withS3Store(good.merging(change) { $1 }) { config, store in
                guard case .failure(let problem) = await DoctorCommand.storageCheck(config, store: store) else {
                    Issue.record("passed with a wrong \(variable)")
                    return
                }
                #expect(problem.text.contains("check \(variable)"), "\(problem.text)")
                #expect(!problem.text.contains(wrongSecret) && !problem.text.contains(good["FILES_S3_SECRET_ACCESS_KEY"]!))
            }
        }
    }

    @Test func objectsNoRowNamesAreCollectedOnceADayOld() async throws {
        try await withFlux { app, config in
            // setup: a real file, an upload and a portal file whose rows never came, all two days old, and a fresh orphan
            let tester = try app.testing()
            let member = try await mintSignedIn(app, role: .clientMember)
            let created = try await files.upload(tester, member, PortalFilesTests.pdf, filename: "kept.pdf", type: "application/pdf")
            let kept = BlobKey.portalFile(try created.content.decode(PortalFilesController.FileView.self).id, tenant: member.tenantID)
            let orphans = [BlobKey.upload(UUID()), BlobKey.portalFile(UUID(), tenant: member.tenantID)]
            let fresh = BlobKey.upload(UUID())
            for key in orphans + [fresh] { try await app.blobStore.put(key, chunks: BlobStoreTests.chunks([1, 2, 3])) }
            let twoDaysAgo = Date().addingTimeInterval(-2 * 24 * 3600)
            for key in orphans + [kept] {
                try FileManager.default.setAttributes([.modificationDate: twoDaysAgo], ofItemAtPath: config.dataDirectory.appendingPathComponent(key).path)
            }
            let removed = try await app.orphanObjectCollection.run(on: app.db)
            #expect(removed == 2)
            for key in orphans { #expect(try await app.blobStore.head(key) == nil) }
            #expect(try await app.blobStore.head(kept) != nil)
            #expect(try await app.blobStore.head(fresh) != nil)
            #expect(try await app.orphanObjectCollection.run(on: app.db) == 0)
        }
    }

    /// Staging files a dead process left (a day after their last write) go too; one still being written stays.
    @Test func stagingFilesLeftByADeadUploadAreCollected() async throws {
        try await withFlux { app, config in
            let incoming = config.dataDirectory.appendingPathComponent("files/.incoming")
            try FileManager.default.createDirectory(at: incoming, withIntermediateDirectories: true)
            let dead = incoming.appendingPathComponent(UUID().uuidString), live = incoming.appendingPathComponent(UUID().uuidString)
            let partial = config.dataDirectory.appendingPathComponent("uploads/.\(UUID().uuidString).partial")
            try FileManager.default.createDirectory(at: partial.deletingLastPathComponent(), withIntermediateDirectories: true)
            for file in [dead, live, partial] { try Data([1, 2, 3]).write(to: file) }
            for file in [dead, partial] {
                try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-2 * 24 * 3600)], ofItemAtPath: file.path)
            }
            #expect(try await app.orphanObjectCollection.run(on: app.db) == 2)
            #expect(!FileManager.default.fileExists(atPath: dead.path) && !FileManager.default.fileExists(atPath: partial.path))
            #expect(FileManager.default.fileExists(atPath: live.path))
        }
    }

    /// A multipart upload whose abort never reached the store (it was down) is aborted a day later.
    @Test(.enabled(if: TestS3.available)) func multipartUploadsNeverFinishedAreAbortedADayLater() async throws {
        try await withFlux(environment: TestS3.environment!) { app, _ in
            // Under a prefix of its own: other tests' uploads in the same bucket are in flight meanwhile.
            let store = try #require(app.blobStore as? S3BlobStore)
            let prefix = "abandoned-\(UUID().uuidString)"
            let key = "\(prefix)/\(UUID().uuidString)"
            let upload = try await store.startMultipart(key)
            _ = try await store.uploadPart(key, uploadID: upload, number: 1, body: ByteBuffer(bytes: BlobStoreTests.bytes(S3BlobStore.partSize)))
            #expect(try await store.removeUnfinishedWrites(under: prefix, startedBefore: Date().addingTimeInterval(-24 * 3600)) == 0)
            #expect(try await store.removeUnfinishedWrites(under: prefix, startedBefore: Date().addingTimeInterval(24 * 3600)) == 1)
            // Aborted: the upload can no longer be completed, and it is listed no more.
            await #expect(throws: (any Error).self) { try await store.completeMultipart(key, uploadID: upload, etags: ["x"]) }
            #expect(try await store.removeUnfinishedWrites(under: prefix, startedBefore: Date().addingTimeInterval(24 * 3600)) == 0)
        }
    }

    @Test func doctorReportsRowsWhoseObjectVanished() async throws {
        try await withFlux { app, config in
            // setup: two files, one of whose objects is removed behind Flux's back
            let tester = try app.testing()
            let member = try await mintSignedIn(app, role: .clientMember)
            var keys: [String] = []
            for name in ["a.pdf", "b.pdf"] {
                let created = try await files.upload(tester, member, PortalFilesTests.pdf, filename: name, type: "application/pdf")
                keys.append(BlobKey.portalFile(try created.content.decode(PortalFilesController.FileView.self).id, tenant: member.tenantID))
            }
            try FileManager.default.removeItem(at: config.dataDirectory.appendingPathComponent(keys[1]))
            let objects = try await StoredObjects.missing(on: app.db, store: app.blobStore)
            #expect(objects.checked == 2 && objects.missing == [keys[1]])
            var report = DoctorReport()
            report.objects(checked: objects.checked, missing: objects.missing)
            #expect(report.lines == ["warn  objects: 1 of 2 stored file(s) have no object (\(keys[1])); their downloads answer 404"])
            #expect(report.failures == 0)
        }
    }

    /// A server on a free loopback port that answers every request with `status` and `body`: a store that
    /// answers with errors, or with something that is not S3 at all.
    func withFakeStore(status: HTTPResponseStatus, body: String, _ test: ([String: String]) async throws -> Void) async throws {
        let fake = try await Application.make(.testing)
        fake.middleware = Middlewares()
        for method in [HTTPMethod.GET, .PUT, .POST, .DELETE, .HEAD] {
            fake.on(method, "**", body: .collect(maxSize: "20mb")) { _ in Response(status: status, body: .init(string: body)) }
        }
        do {
            try await fake.server.start(address: .hostname("127.0.0.1", port: 0))
            let port = try #require(fake.http.server.shared.localAddress?.port)
            try await test(["FILES_S3_BUCKET": "flux-fake", "FILES_S3_ENDPOINT": "http://127.0.0.1:\(port)", "FILES_S3_ACCESS_KEY_ID": "AKIDFAKE",
                            "FILES_S3_SECRET_ACCESS_KEY": "fake-store-secret"])
        } catch {
            await fake.server.shutdown()
            try? await fake.asyncShutdown()
            throw error
        }
        await fake.server.shutdown()
        try await fake.asyncShutdown()
    }

    @Test(arguments: [(HTTPResponseStatus.ok, "<html>not a store</html>"), (.internalServerError, "<Error><Code>InternalError</Code></Error>")])
    func aStoreAnsweringErrorsOrGarbageFailsTheUploadCleanly(_ status: HTTPResponseStatus, _ body: String) async throws {
        try await withFakeStore(status: status, body: body) { environment in
            try await withFlux(environment: environment) { app, config in
                let tester = try app.testing()
                let member = try await mintSignedIn(app, role: .clientMember)
                // Larger than a part, so a multipart upload is started; a 200 without an UploadId is no start.
                let large = try await files.upload(tester, member, PortalFilesTests.pdf + BlobStoreTests.bytes(S3BlobStore.partSize + 10),
                                                   filename: "big.pdf", type: "application/pdf")
                #expect(large.status == .serviceUnavailable && large.body.string.contains("storage_unavailable"))
                #expect(try await PortalFile.query(on: app.db).count() == 0)
                #expect(((try? FileManager.default.contentsOfDirectory(atPath: config.dataDirectory.appendingPathComponent("files/.incoming").path)) ?? []).isEmpty)
                if status != .ok {
                    let small = try await files.upload(tester, member, PortalFilesTests.pdf, filename: "a.pdf", type: "application/pdf")
                    #expect(small.status == .serviceUnavailable && small.body.string.contains("storage_unavailable"))
                    let health = try await readiness(tester)
                    #expect(health.status == .ok && health.body.string.contains("\"storage\":\"down\""))
                }
                #expect(try await PortalFile.query(on: app.db).count() == 0)
            }
        }
    }
}
