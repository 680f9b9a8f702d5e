@testable import FluxApp
import Fluent
import Foundation
import Testing
import VaporTesting

@Suite struct PortalTests {
    struct PortalMeBody: Decodable {
        let hasSetupRequest: Bool
        let next: String
        let setupRequest: SetupRequestBody?
    }

    struct SetupRequestBody: Decodable {
        let templateType: String
        let contactNumber: String
        let status: String
    }

    struct AuthMe: Decodable {
        let hasSetupRequest: Bool
    }

    @Test func aNewClientIsOnboardedUntilItsSetupRequestExists() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let admin = try await registerAndSignIn(tester, email: "onboard@example.com")
            let before = try await tester.sendRequest(.GET, "/api/portal/me", headers: admin.bearer).content.decode(PortalMeBody.self)
            #expect(!before.hasSetupRequest && before.next == "onboarding" && before.setupRequest == nil)
            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: admin.bearer).content.decode(AuthMe.self).hasSetupRequest == false)

            func submit(_ body: [String: String]) async throws -> TestingHTTPResponse {
                try await tester.sendRequest(.POST, "/api/portal/setup-request", headers: admin.bearer) { req in try req.content.encode(body) }
            }
            let invalid = try await submit(["templateType": "casino", "contactNumber": "call me maybe"])
            #expect(invalid.status == .badRequest)
            #expect(invalid.body.string.contains("templateType") && invalid.body.string.contains("contactNumber"))
            let created = try await submit(["templateType": "clinic", "contactNumber": "+39 (02) 1234-5678"])
            #expect(created.status == .created)
            #expect(try created.content.decode(SetupRequestBody.self).contactNumber == "+390212345678")
            #expect(try await submit(["templateType": "clinic", "contactNumber": "+390212345678"]).status == .conflict)

            let after = try await tester.sendRequest(.GET, "/api/portal/me", headers: admin.bearer).content.decode(PortalMeBody.self)
            #expect(after.hasSetupRequest && after.next == "status" && after.setupRequest?.status == "pending")
            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: admin.bearer).content.decode(AuthMe.self).hasSetupRequest)
            // Another organization still has none: the request belongs to the caller's tenant only.
            let other = try await mintSignedIn(app, role: .clientAdmin)
            #expect(try await tester.sendRequest(.GET, "/api/portal/me", headers: other.bearer).content.decode(PortalMeBody.self).next == "onboarding")
            #expect(try await AuditEvent.query(on: app.db).filter(\.$action == "setup_request.created").count() == 1)
        }
    }
}
