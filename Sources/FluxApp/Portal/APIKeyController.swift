import Crypto
import Fluent
import FluxSecurity
import Foundation
import Vapor

/// Staff manage a tenant's keys: `POST /api/hq/tenants/:tenantID/api-keys` `{name, scopes}` (the key is in
/// this answer only), `GET` the same path (no secrets), `POST /api/hq/api-keys/:keyID/rotate`,
/// `DELETE /api/hq/api-keys/:keyID`. Engineers, admins and owners.
struct APIKeyController: Sendable {
    let audit: AuditLog
    static let managers: Set<Role> = [.engineer, .admin, .owner]

    struct CreateBody: Content {
        let name: String
        let scopes: [String]
    }

    struct KeyView: Content {
        let id: UUID
        let name: String
        let scopes: [String]
        let createdAt: Date
        let expiresAt: Date?
        let lastUsedAt: Date?
        let revokedAt: Date?
        /// Only when the key is made: Flux cannot show it again.
        let key: String?
    }

    static func view(_ key: APIKey, text: String? = nil) -> KeyView {
        KeyView(id: key.id!, name: key.name, scopes: key.scopes.split(separator: " ").map(String.init), createdAt: key.createdAt,
                expiresAt: key.expiresAt, lastUsedAt: key.lastUsedAt, revokedAt: key.revokedAt, key: text)
    }

    @Sendable func create(_ request: Request, _ access: TenantAccess) async throws -> Response {
        let body = try request.content.decode(CreateBody.self)
        let scopes = body.scopes.compactMap(APIKeys.Scope.init(rawValue:))
        var errors = FieldErrors()
        errors.check("name", TextInput.isToken(body.name), "must be 1 to 100 letters, digits, - or _")
        errors.check("scopes", !scopes.isEmpty && scopes.count == body.scopes.count,
                     "must be a non-empty list of \(APIKeys.Scope.allCases.map(\.rawValue).joined(separator: ", "))")
        try errors.throwIfAny()
        guard let tenant = try await Tenant.find(access.tenantID, on: request.db), tenant.kind == .client else {
            throw AppError.notFound("No such tenant.")
        }
        guard try await APIKey.query(on: request.db).filter(\.$tenantID == access.tenantID).filter(\.$name == body.name)
            .filter(\.$revokedAt == nil).all().allSatisfy({ !$0.isActive(at: Date()) })
        else { throw AppError(.conflict, code: "api_key_exists", message: "This tenant has an active key of that name; rotate it instead.") }
        let (text, key) = APIKeys.mint(tenantID: access.tenantID, name: body.name, scopes: scopes, createdBy: access.principal.userID)
        try await key.create(on: request.db)
        try await audit.record("apikey.created", actor: access.principal.userID, tenant: access.tenantID, target: key.id!.uuidString,
                               metadata: ["name": key.name, "scopes": key.scopes], request: request)
        return try await Self.view(key, text: text).encodeResponse(status: .created, for: request)
    }

    @Sendable func list(_ request: Request, _ access: TenantAccess) async throws -> [KeyView] {
        try await APIKey.query(on: request.db).filter(\.$tenantID == access.tenantID).sort(\.$createdAt, .descending).all().map { Self.view($0) }
    }

    private func key(_ request: Request) async throws -> APIKey {
        guard let id = request.parameters.get("keyID", as: UUID.self), let key = try await APIKey.find(id, on: request.db) else {
            throw AppError.notFound("No such API key.")
        }
        return key
    }

    /// A successor with the same name and scopes; the old key works for 24 more hours, then expires.
    @Sendable func rotate(_ request: Request, _ principal: Principal) async throws -> Response {
        let old = try await key(request)
        let now = Date()
        guard old.isActive(at: now), old.expiresAt == nil else {
            throw AppError(.conflict, code: "api_key_not_rotatable", message: "Only an active key that is not already being replaced can be rotated.")
        }
        let scopes = old.scopes.split(separator: " ").compactMap { APIKeys.Scope(rawValue: String($0)) }
        let (text, successor) = APIKeys.mint(tenantID: old.tenantID, name: old.name, scopes: scopes, createdBy: principal.userID, now: now)
        old.expiresAt = now.addingTimeInterval(APIKeys.rotationGrace)
        try await request.db.writeTransaction { transaction in
            try await old.update(on: transaction)
            try await successor.create(on: transaction)
        }
        try await audit.record("apikey.rotated", actor: principal.userID, tenant: old.tenantID, target: old.id!.uuidString,
                               metadata: ["successor": successor.id!.uuidString], request: request)
        return try await Self.view(successor, text: text).encodeResponse(status: .created, for: request)
    }

    @Sendable func revoke(_ request: Request, _ principal: Principal) async throws -> HTTPStatus {
        let key = try await key(request)
        if key.revokedAt == nil {
            key.revokedAt = Date()
            try await key.update(on: request.db)
        }
        try await audit.record("apikey.revoked", actor: principal.userID, tenant: key.tenantID, target: key.id!.uuidString,
                               request: request)
        return .noContent
    }
}
