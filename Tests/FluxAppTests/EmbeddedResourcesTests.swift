@testable import FluxApp
import Foundation
import Leaf
import Testing
import VaporTesting

/// The EmbedResources plugin compiles `Resources/` and `docs/openapi.yaml` into Flux: what the binary serves is
/// exactly what is in the repository.
@Suite struct EmbeddedResourcesTests {
    static let package = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func everyResourceIsCompiledInUnchanged() throws {
        var paths = ["docs/openapi.yaml"]
        let resources = Self.package.appending(path: "Resources")
        let walk = try #require(FileManager.default.enumerator(at: resources, includingPropertiesForKeys: [.isRegularFileKey],
                                                                 options: [.skipsHiddenFiles]))
        for case let url as URL in walk where try url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile == true {
            paths.append("Resources/" + url.standardizedFileURL.path().dropFirst(resources.standardizedFileURL.path().count)
                .trimmingPrefix("/"))
        }
        #expect(Set(embeddedResources.keys) == Set(paths))
        for path in paths {
            let text = try String(contentsOf: Self.package.appending(path: path), encoding: .utf8)
            #expect(embeddedResources[path] == text, "\(path) differs from its compiled-in copy")
        }
    }

    @Test func parsedTemplatesStayCachedWhenLeafSwitchesItsCacheOff() async throws {
        try await withFlux { app, _ async throws in
            // setup: what Leaf does to its cache in the development environment, on every renderer it makes
            var cache = app.leaf.cache
            cache.isEnabled = false

            // MUT
            let tester = try app.testing()
            for _ in 1...2 {
                #expect(try await tester.sendRequest(.GET, "/").status == .ok)
                #expect(try await tester.sendRequest(.GET, "/api/docs").status == .ok)
            }

            // validate
            #expect(app.leaf.cache.isEnabled)
            #expect(app.leaf.cache.count == 2)
        }
    }
}
