import Fluent
import FluxSecurity
import Foundation
import Vapor

/// `/api/tenants/:tenantID/…`: an organization and its members. Clients see only their own tenant (the
/// guard answers 404 for any other); staff see every tenant.
struct TenantController: Sendable {
    let audit: AuditLog
    let revocations: SessionRevocations

    static let managers: Set<Role> = [.clientAdmin, .owner, .admin]

    struct TenantView: Content {
        let id: UUID
        let name: String
        let kind: Tenant.Kind
        let status: String
        let createdAt: Date
    }

    @Sendable func show(_ request: Request, _ access: TenantAccess) async throws -> TenantView {
        let tenant = try await Self.tenant(access, on: request.db)
        return TenantView(id: tenant.id!, name: tenant.name, kind: tenant.kind, status: tenant.status, createdAt: tenant.createdAt)
    }

    struct MemberView: Content {
        let userId: UUID
        let email: String
        let displayName: String?
        let role: Role
        let since: Date
    }

    @Sendable func members(_ request: Request, _ access: TenantAccess) async throws -> [MemberView] {
        _ = try await Self.tenant(access, on: request.db)
        return try await Self.memberViews(of: access.tenantID, on: request.db)
    }

    static func memberViews(of tenantID: UUID, on database: any Database) async throws -> [MemberView] {
        let memberships = try await Membership.query(on: database).filter(\.$tenantID == tenantID)
            .sort(\.$createdAt).all()
        let users = try await User.query(on: database).filter(\.$id ~~ memberships.map(\.userID)).all()
        let byID = Dictionary(uniqueKeysWithValues: users.map { ($0.id!, $0) })
        return memberships.compactMap { membership in
            byID[membership.userID].map {
                MemberView(userId: $0.id!, email: $0.email, displayName: $0.displayName, role: membership.role, since: membership.createdAt)
            }
        }
    }

    struct RoleBody: Content {
        let role: String
    }

    /// Changes a member's role and signs the member out everywhere, so the new role applies at once.
    @Sendable func changeRole(_ request: Request, _ access: TenantAccess) async throws -> MemberView {
        let tenant = try await Self.tenant(access, on: request.db)
        let body = try request.content.decode(RoleBody.self)
        let allowed = tenant.kind == .operator ? Role.staff : Role.client
        guard let role = Role(rawValue: body.role), allowed.contains(role) else {
            throw AppError.invalidFields(["role": "must be one of " + allowed.map(\.rawValue).sorted().joined(separator: ", ")])
        }
        guard let userID = request.parameters.get("userID", as: UUID.self),
            let membership = try await Membership.query(on: request.db)
                .filter(\.$tenantID == access.tenantID).filter(\.$userID == userID).first(),
            let user = try await User.find(userID, on: request.db)
        else { throw AppError.notFound("No such member.") }
        let principal = access.principal
        guard userID != principal.userID else {
            throw AppError(.forbidden, code: "own_role", message: "You cannot change your own role.")
        }
        // Only an owner makes or unmakes owners.
        guard principal.role == .owner || (membership.role != .owner && role != .owner) else {
            throw AppError.forbidden("Only an owner can grant or remove the owner role.")
        }
        let previous = membership.role
        membership.role = role
        try await membership.update(on: request.db)
        let sessions = try await AuthSession.query(on: request.db)
            .filter(\.$userID == userID).filter(\.$tenantID == access.tenantID).filter(\.$revokedAt == nil).all(\.$id)
        try await revocations.revoke(sessions, reason: "role_changed", on: request.db)
        try await audit.record("member.role_changed", actor: principal.userID, tenant: access.tenantID,
                               target: userID.uuidString, metadata: ["from": previous.rawValue, "to": role.rawValue],
                               request: request)
        return MemberView(userId: userID, email: user.email, displayName: user.displayName, role: role, since: membership.createdAt)
    }

    /// Takes a member out of the organization and ends every session the member had into it.
    @Sendable func remove(_ request: Request, _ access: TenantAccess) async throws -> HTTPStatus {
        _ = try await Self.tenant(access, on: request.db)
        guard let userID = request.parameters.get("userID", as: UUID.self),
            let membership = try await Membership.query(on: request.db)
                .filter(\.$tenantID == access.tenantID).filter(\.$userID == userID).first()
        else { throw AppError.notFound("No such member.") }
        guard userID != access.principal.userID else {
            throw AppError(.forbidden, code: "own_membership", message: "You cannot remove yourself.")
        }
        guard access.principal.role == .owner || membership.role != .owner else {
            throw AppError.forbidden("Only an owner can remove an owner.")
        }
        let sessions = try await AuthSession.query(on: request.db)
            .filter(\.$userID == userID).filter(\.$tenantID == access.tenantID).filter(\.$revokedAt == nil).all(\.$id)
        try await membership.delete(on: request.db)
        try await revocations.revoke(sessions, reason: "removed_from_tenant", on: request.db)
        try await audit.record("member.removed", actor: access.principal.userID, tenant: access.tenantID,
                               target: userID.uuidString, metadata: ["role": membership.role.rawValue], request: request)
        return .noContent
    }

    private static func tenant(_ access: TenantAccess, on database: any Database) async throws -> Tenant {
        guard let tenant = try await Tenant.find(access.tenantID, on: database) else {
            throw AppError.notFound("No such tenant.")
        }
        return tenant
    }
}
