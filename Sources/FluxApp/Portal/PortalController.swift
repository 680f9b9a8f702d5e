import Fluent
import FluxSecurity
import Foundation
import Vapor

/// `/api/portal/me` and `/api/portal/setup-request`: where a client stands in onboarding, and the request
/// that starts it. Clients only; every query is scoped to the caller's tenant.
struct PortalController: Sendable {
    let audit: AuditLog

    static let templateTypes = ["restaurant", "retail", "clinic", "services", "other"]

    struct SetupRequestView: Content {
        let id: UUID
        let templateType: String
        let contactNumber: String
        let status: SetupRequest.Status
        let createdAt: Date
    }

    struct PortalMe: Content {
        let userId: UUID
        let email: String
        let role: Role
        let tenantId: UUID
        let tenantName: String
        let hasSetupRequest: Bool
        let setupRequest: SetupRequestView?
        /// Where the portal sends this user: `onboarding` until a setup request exists, then `status`.
        let next: String
    }

    @Sendable func me(_ request: Request, _ principal: Principal) async throws -> PortalMe {
        guard let user = try await User.find(principal.userID, on: request.db),
            let tenant = try await Tenant.find(principal.tenantID, on: request.db)
        else { throw AppError(.unauthorized, code: "unauthenticated", message: "Sign in to continue.") }
        let latest = try await SetupRequest.query(on: request.db).filter(\.$tenantID == principal.tenantID)
            .sort(\.$createdAt, .descending).first()
        let active = latest.map { $0.status != .rejected } ?? false
        return PortalMe(userId: user.id!, email: user.email, role: principal.role, tenantId: tenant.id!, tenantName: tenant.name,
                        hasSetupRequest: active, setupRequest: latest.map(Self.view), next: active ? "status" : "onboarding")
    }

    struct SetupRequestBody: Content {
        let templateType: String
        let contactNumber: String
    }

    @Sendable func createSetupRequest(_ request: Request, _ principal: Principal) async throws -> Response {
        let body = try request.content.decode(SetupRequestBody.self)
        var errors = FieldErrors()
        errors.check("templateType", Self.templateTypes.contains(body.templateType),
                     "must be one of \(Self.templateTypes.joined(separator: ", "))")
        let phone = Sanitize.phone(body.contactNumber)
        errors.check("contactNumber", phone != nil, "must be a phone number (7 to 15 digits, optionally with +)")
        try errors.throwIfAny()
        guard try await !SetupRequest.exists(for: principal.tenantID, on: request.db) else {
            throw AppError(.conflict, code: "setup_request_exists", message: "Your organization has a setup request already.")
        }
        let created = SetupRequest(tenantID: principal.tenantID, userID: principal.userID, templateType: body.templateType,
                                   contactNumber: phone!)
        try await created.create(on: request.db)
        try await audit.record("setup_request.created", actor: principal.userID, tenant: principal.tenantID,
                               target: created.id?.uuidString, request: request)
        return try await Self.view(created).encodeResponse(status: .created, for: request)
    }

    static func view(_ request: SetupRequest) -> SetupRequestView {
        SetupRequestView(id: request.id!, templateType: request.templateType, contactNumber: request.contactNumber,
                         status: request.status, createdAt: request.createdAt)
    }
}
