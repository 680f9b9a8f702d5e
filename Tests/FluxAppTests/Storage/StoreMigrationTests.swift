@testable import FluxApp
import Fluent
import Foundation
import Testing
import VaporTesting

/// `flux files migrate`'s core between two directories (the bucket is the integration test's): every object a row
/// names is copied and read back against the row's size and SHA-256, a stopped run resumes without copying twice,
/// and what cannot be verified is reported, never recorded.
@Suite struct StoreMigrationTests {
    @Test func everyObjectIsCopiedVerifiedAndNeverTwice() async throws {
        try await withFlux { app, config async throws in
            let tester = try app.testing()
            let member = try await mintSignedIn(app, role: .clientMember)
            for index in 0..<3 {
                let sent = try await PortalFilesTests().upload(tester, member, PortalFilesTests.pdf + [UInt8(index)], filename: "f\(index).pdf",
                                                               type: "application/pdf")
                #expect(sent.status == .created)
            }
            #expect(try await UploadTests().upload(tester, UploadTests.png, filename: "p.png", type: "image/png").status == .created)
            let target = try TemporaryDirectory()
            let migration = StoreMigration(source: app.blobStore, target: LocalBlobStore(root: target.url, threadPool: app.threadPool),
                                           targetName: "local \(target.url.path)",
                                           journal: config.dataDirectory.appendingPathComponent("migration.journal"))
            let objects = try await StoreMigration.objects(on: app.db)
            #expect(objects.count == 4)

            var lines: [String] = []
            let first = try await migration.run(objects, limit: 1) { lines.append($0) }
            #expect(first.copied == 1 && first.remaining == 3 && !first.complete)
            let second = try await migration.run(objects) { lines.append($0) }
            #expect(second.copied == 3 && second.alreadyVerified == 1 && second.complete)
            #expect(lines.count == 4 && lines.allSatisfy { $0.hasPrefix("copied") })
            for object in objects {
                let copy = try #require(FileManager.default.contents(atPath: target.url.appendingPathComponent(object.key).path))
                let original = try #require(FileManager.default.contents(atPath: config.dataDirectory.appendingPathComponent(object.key).path))
                #expect(copy.count == object.size && copy == original)
            }
            let third = try await migration.run(objects) { _ in Issue.record("nothing is left to copy") }
            #expect(third.alreadyVerified == 4 && third.copied == 0 && third.complete)

            // A journal kept for another target is not taken for this one's.
            let elsewhere = StoreMigration(source: migration.source, target: migration.target, targetName: "s3 elsewhere",
                                           journal: migration.journal)
            await #expect(throws: StoreMigrationFailure.self) { _ = try await elsewhere.run(objects) { _ in } }
        }
    }

    @Test func objectsMissingOrChangedAtTheSourceAreReportedAndNotRecorded() async throws {
        try await withFlux { app, config async throws in
            let tester = try app.testing()
            #expect(try await UploadTests().upload(tester, UploadTests.png, filename: "a.png", type: "image/png").status == .created)
            #expect(try await UploadTests().upload(tester, UploadTests.png + [1], filename: "b.png", type: "image/png").status == .created)
            var objects = try await StoreMigration.objects(on: app.db)
            try await app.blobStore.delete(objects[0].key)
            objects[1] = StoreMigration.Object(key: objects[1].key, size: objects[1].size, sha256: String(repeating: "0", count: 64))
            let target = try TemporaryDirectory()
            let migration = StoreMigration(source: app.blobStore, target: LocalBlobStore(root: target.url, threadPool: app.threadPool),
                                           targetName: "local", journal: config.dataDirectory.appendingPathComponent("migration.journal"))
            let report = try await migration.run(objects) { _ in }
            #expect(report.missing == [objects[0].key] && report.mismatched == [objects[1].key] && report.copied == 0 && !report.complete)
            let journal = try String(contentsOf: migration.journal, encoding: .utf8)
            #expect(journal == "flux files migrate to local\n")
        }
    }
}
