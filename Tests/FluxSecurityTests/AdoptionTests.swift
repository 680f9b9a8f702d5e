import Foundation
import Testing
import VaporTesting
import FluxSecurity

/// The README's adoption snippet, compiled here and exercised; a test below checks the README still shows
/// exactly these lines.
func adoptFluxSecurity(_ app: Application, secret: String, contact: @escaping @Sendable (Request) async throws -> String) {
    // README:begin
    let hardening = Hardening(secret: secret)
    app.middleware.use(hardening.headers, at: .beginning)
    app.middleware.use(hardening.rateLimit(.perMinute(120, name: "site")))
    app.grouped(hardening.csrf.middleware).post("contact", use: contact)
    app.get("csrf") { req in try hardening.csrf.response(for: req) }
    // README:end
}

@Suite struct AdoptionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func snippet(in text: String, from begin: String, to end: String) -> [String] {
        let lines = text.components(separatedBy: "\n")
        guard let start = lines.firstIndex(where: { $0.contains(begin) }),
            let stop = lines[start...].firstIndex(where: { $0.contains(end) })
        else { return [] }
        return lines[(start + 1)..<stop].map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    @Test func readmeShowsTheCompiledSnippetInAtMostFiveLines() throws {
        let source = try String(contentsOf: Self.root.appendingPathComponent("Tests/FluxSecurityTests/AdoptionTests.swift"), encoding: .utf8)
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let compiled = Self.snippet(in: source, from: "// " + "README:begin", to: "// " + "README:end")
        let shown = Self.snippet(in: readme, from: "<!-- adoption:begin -->", to: "<!-- adoption:end -->")
            .filter { !$0.hasPrefix("```") && !$0.hasPrefix("import ") }
        #expect(compiled.count == 5)
        #expect(shown == compiled)
    }

    @Test func theSnippetProtectsAPlainVaporApp() async throws {
        try await withBareApp({ app in
            adoptFluxSecurity(app, secret: "q4Jm7X1c2ZrV+p9nW0s3bKfT8yLhE6aGdUoR5iNtQwMzSvHxCkPjYlBe") { _ in "thanks" }
        }) { app async throws in
            let tester = try app.testing()
            let refused = try await tester.sendRequest(.POST, "/contact")
            #expect(refused.status == .forbidden)
            #expect(refused.headers.first(name: "X-Frame-Options") == "DENY")

            let issued = try await tester.sendRequest(.GET, "/csrf")
            #expect(issued.headers.first(name: "RateLimit-Policy") == "\"site\";q=120;w=60")
            let token = try JSONSerialization.jsonObject(with: Data(buffer: issued.body)) as! [String: String]
            let cookie = try #require(issued.headers.setCookie?["csrf"])
            let accepted = try await tester.sendRequest(.POST, "/contact", headers: [
                "X-CSRF-Token": token["token"]!, "Cookie": "csrf=\(cookie.string)",
            ])
            #expect(accepted.status == .ok)
            #expect(accepted.body.string == "thanks")
            #expect(accepted.headers.first(name: "Content-Security-Policy")?.contains("object-src 'none'") == true)
        }
    }
}
