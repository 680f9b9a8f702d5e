@testable import FluxApp
import Foundation
import Testing
import VaporTesting

/// `docs/openapi.yaml` against the routes Flux registers, both ways, and how Flux serves it.
@Suite struct APIContractTests {
    /// The document Flux was built with, read the way the server reads it.
    static func document() throws -> [String: Any] {
        let yaml = try #require(embeddedResources["docs/openapi.yaml"])
        return try #require(try JSONSerialization.jsonObject(with: APIDocs.json(fromYAML: yaml)) as? [String: Any])
    }

    /// Every JSON route: all of `/api/` and `/metrics` (the HTML pages and their assets are outside the contract).
    static func isContractPath(_ path: String) -> Bool {
        path.hasPrefix("/api/") || path == "/metrics"
    }

    /// `METHOD /path/{param}` for every route `app` serves, in the document's notation.
    static func servedOperations(_ app: Application) -> Set<String> {
        Set(app.routes.all.compactMap { route -> String? in
            let path = "/" + route.path.map { component -> String in
                switch component {
                case .parameter(let name): "{\(name)}"
                default: component.description
                }
            }.joined(separator: "/")
            return isContractPath(path) ? "\(route.method.rawValue) \(path)" : nil
        })
    }

    static func documentedOperations(_ document: [String: Any]) throws -> Set<String> {
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let methods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
        return Set(paths.flatMap { path, item in
            item.keys.filter(methods.contains).map { "\($0.uppercased()) \(path)" }
        })
    }

    @Test func theDocumentedRoutesAreExactlyTheServedOnes() async throws {
        // Sign-in with Google and Apple on, so their routes are registered too.
        let providers = appleSignInEnvironment().merging(["OIDC_GOOGLE_CLIENT_ID": "client", "OIDC_GOOGLE_CLIENT_SECRET": "secret"]) { $1 }
        try await withFlux(environment: providers) { app, _ async throws in
            let served = Self.servedOperations(app)
            let documented = try Self.documentedOperations(Self.document())
            #expect(served.count >= 75)
            #expect(served.subtracting(documented).sorted() == [], "served but not documented")
            #expect(documented.subtracting(served).sorted() == [], "documented but not served")
        }
    }

    @Test func everyOperationHasAnIdAResponseAndDocumentedErrorsUseTheEnvelope() throws {
        let document = try Self.document()
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var ids: [String] = []
        for (path, item) in paths {
            for (method, value) in item where method != "parameters" {
                let operation = try #require(value as? [String: Any], "\(method) \(path)")
                ids.append(try #require(operation["operationId"] as? String, "\(method) \(path) has no operationId"))
                let responses = try #require(operation["responses"] as? [String: Any], "\(method) \(path)")
                #expect(!responses.isEmpty)
                for (status, response) in responses where status.hasPrefix("4") || status.hasPrefix("5") {
                    let text = String(describing: response)
                    let envelope = text.contains("#/components/responses/") || text.contains("#/components/schemas/Error")
                        || path == "/api/health"
                    #expect(envelope, "\(method) \(path) \(status) does not answer with the error envelope")
                }
            }
        }
        #expect(Set(ids).count == ids.count, "operationIds are unique")
    }

    @Test func aScalarKeepsTheTypeYAMLGivesIt() throws {
        let json = try APIDocs.json(fromYAML: "a: '200'\nb: 200\nc: true\nd: 1.5\ne: ~\nf: [x, 'logs:write']\n")
        #expect(String(decoding: json, as: UTF8.self) == #"{"a":"200","b":200,"c":true,"d":1.5,"e":null,"f":["x","logs:write"]}"#)
    }

    @Test func fluxServesTheDocumentAndAPageThatRendersItUnderTheStrictCSP() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let served = try await tester.sendRequest(.GET, "/api/openapi.json")
            #expect(served.status == .ok)
            #expect(served.headers.contentType == .json)
            let body = try #require(try JSONSerialization.jsonObject(with: Data(buffer: served.body)) as? [String: Any])
            #expect(body["openapi"] as? String == "3.1.0")
            #expect(try Self.documentedOperations(body) == Self.documentedOperations(Self.document()))

            let page = try await tester.sendRequest(.GET, "/api/docs")
            #expect(page.status == .ok)
            let csp = try #require(page.headers.first(name: "Content-Security-Policy"))
            let nonce = try #require(csp.firstMatch(of: /script-src 'self' 'nonce-([^']+)'/)?.1)
            let html = String(buffer: page.body)
            #expect(html.contains(#"<script src="/assets/api-docs.js" nonce="\#(nonce)"></script>"#))
            #expect(!html.contains("http://") && !html.contains("https://"), "no asset from another origin")

            let script = try await tester.sendRequest(.GET, "/assets/api-docs.js")
            #expect(script.status == .ok)
            #expect(script.headers.contentType?.subType == "javascript")
            #expect(String(buffer: script.body).contains("/api/openapi.json"))
            #expect(!String(buffer: script.body).contains("innerHTML"))
        }
    }
}
