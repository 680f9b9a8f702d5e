@testable import FluxApp
import Foundation
import Testing
import VaporTesting

let testPassword = "a long enough passphrase"

/// A signed-in account as a test holds it.
struct SignedIn {
    let accessToken: String
    let refreshToken: String
    let sessionID: UUID
    let userID: UUID
    let tenantID: UUID

    var bearer: HTTPHeaders { ["Authorization": "Bearer \(accessToken)"] }
}

struct TokenPair: Decodable {
    let accessToken: String
    let refreshToken: String
    let sessionId: UUID
    let expiresIn: Int
    let tokenType: String
}

/// `POST /api/auth/login` with a CSRF pair, as an API client does it.
func login(_ tester: any TestingApplicationTester, email: String, password: String = testPassword,
           headers extra: HTTPHeaders = [:]) async throws -> TestingHTTPResponse {
    var headers = try await csrfHeaders(tester)
    headers.add(contentsOf: extra)
    return try await tester.sendRequest(.POST, "/api/auth/login", headers: headers) { req in
        try req.content.encode(["email": email, "password": password])
    }
}

/// Registers a client organization through the API and signs in through the API.
func registerAndSignIn(_ tester: any TestingApplicationTester, email: String, company: String = "Acme") async throws -> SignedIn {
    let registered = try await tester.sendRequest(.POST, "/api/auth/register", headers: try await csrfHeaders(tester)) { req in
        try req.content.encode(["email": email, "password": testPassword, "company": company])
    }
    #expect(registered.status == .accepted)
    let response = try await login(tester, email: email)
    #expect(response.status == .ok)
    let pair = try response.content.decode(TokenPair.self)
    let me = try await tester.sendRequest(.GET, "/api/auth/me", headers: ["Authorization": "Bearer \(pair.accessToken)"])
    let view = try me.content.decode(MeBody.self)
    return SignedIn(accessToken: pair.accessToken, refreshToken: pair.refreshToken, sessionID: pair.sessionId,
                    userID: view.id, tenantID: view.tenant.id)
}

struct MeBody: Decodable {
    struct TenantBody: Decodable {
        let id: UUID
        let kind: String
    }

    let id: UUID
    let email: String
    let role: String
    let tenant: TenantBody
}

/// A member with `role` signed in without the HTTP login, which costs a bcrypt hash per call and is tested
/// on its own: a real user, membership, session row, refresh token and access token. Staff join the operator
/// tenant; a client joins `tenant`, or a new organization of its own.
func mintSignedIn(_ app: Application, role: Role, tenant: UUID? = nil) async throws -> SignedIn {
    let identity = app.identity
    let now = Date()
    let tenantID: UUID
    if role.isStaff {
        tenantID = try await Accounts.operatorTenant(on: app.db).id!
    } else if let tenant {
        tenantID = tenant
    } else {
        let created = Tenant(name: "Client \(UUID().uuidString.prefix(6))", kind: .client, status: "active")
        try await created.create(on: app.db)
        tenantID = created.id!
    }
    let user = User(email: "\(role.rawValue)-\(UUID().uuidString.prefix(8).lowercased())@example.com", passwordHash: nil)
    // As an operator or an accepted invitation makes them: the address counts as proved.
    user.emailVerifiedAt = now
    try await user.create(on: app.db)
    try await Membership(userID: user.id!, tenantID: tenantID, role: role).create(on: app.db)
    let session = AuthSession(userID: user.id!, tenantID: tenantID, role: role, deviceLabel: "test", ipHash: "test",
                              now: now, lifetime: identity.lifetimes.idle)
    try await session.create(on: app.db)
    let refresh = try await identity.refreshTokens.start(session: session, on: app.db, now: now)
    let access = try await identity.accessTokens.issue(userID: user.id!, sessionID: session.id!, tenantID: tenantID, role: role)
    return SignedIn(accessToken: access, refreshToken: refresh, sessionID: session.id!, userID: user.id!, tenantID: tenantID)
}

/// The error code of an error envelope.
func errorCode(_ response: TestingHTTPResponse) -> String? {
    struct Envelope: Decodable {
        struct Body: Decodable { let code: String }
        let error: Body
    }
    return try? response.content.decode(Envelope.self).error.code
}

/// The fields an error envelope names.
func errorFields(_ response: TestingHTTPResponse) -> Set<String> {
    struct Envelope: Decodable {
        struct Body: Decodable { let fields: [String: String]? }
        let error: Body
    }
    return Set((try? response.content.decode(Envelope.self).error.fields ?? [:])?.keys ?? [:].keys)
}
