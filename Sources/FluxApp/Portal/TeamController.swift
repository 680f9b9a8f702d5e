import Fluent
import FluxSecurity
import Foundation
import Vapor

/// Teams: a client admin invites by email (`POST /api/portal/team/invitations` `{email, role}`, mailed through
/// the outbox), lists the team (`GET /api/portal/team`), revokes a pending invitation
/// (`DELETE /api/portal/team/invitations/:invitationID`); the invitee accepts through the link
/// (`POST /api/portal/team/accept` `{invitationId, token, name?, password?}`: a new account needs a password,
/// an existing one joins as it is, since the link proves the address is theirs).
struct TeamController: Sendable {
    let audit: AuditLog
    let passwords: PasswordHasher
    let links: AccountLinks
    /// Invitations one organization may send in 24 hours (INVITATIONS_PER_DAY): Flux never becomes a way to
    /// mail strangers in bulk.
    var invitationsPerDay = 50

    struct InvitationView: Content {
        let id: UUID
        let email: String
        let role: Role
        let createdAt: Date
        let expiresAt: Date
    }

    struct TeamView: Content {
        let members: [TenantController.MemberView]
        /// Pending invitations, for client admins only.
        let invitations: [InvitationView]
    }

    @Sendable func show(_ request: Request, _ principal: Principal) async throws -> TeamView {
        let members = try await TenantController.memberViews(of: principal.tenantID, on: request.db)
        var invitations: [InvitationView] = []
        if principal.role == .clientAdmin {
            let now = Date()
            invitations = try await Invitation.query(on: request.db).filter(\.$tenantID == principal.tenantID).sort(\.$createdAt).all()
                .filter { $0.isPending(at: now) }
                .map { InvitationView(id: $0.id!, email: $0.email, role: $0.role, createdAt: $0.createdAt, expiresAt: $0.expiresAt) }
        }
        return TeamView(members: members, invitations: invitations)
    }

    struct InviteBody: Content {
        let email: String
        let role: String
    }

    @Sendable func invite(_ request: Request, _ principal: Principal) async throws -> Response {
        let body = try request.content.decode(InviteBody.self)
        let email = EmailAddress.normalized(body.email)
        let role = Role(rawValue: body.role)
        var errors = FieldErrors()
        errors.check("email", email != nil, "must be an email address")
        errors.check("role", role.map(Role.client.contains) ?? false, "must be client_admin or client_member")
        try errors.throwIfAny()
        // Only an address Flux has seen proved may make Flux mail someone else.
        let inviter = try await User.find(principal.userID, on: request.db)
        guard inviter?.emailVerifiedAt != nil else {
            throw AppError(.forbidden, code: "email_unverified",
                           message: "Confirm your email address with the link we sent you before inviting people.")
        }
        let now = Date()
        let sentToday = try await Invitation.query(on: request.db).filter(\.$tenantID == principal.tenantID)
            .filter(\.$createdAt > now.addingTimeInterval(-86_400)).count()
        guard sentToday < invitationsPerDay else {
            throw AppError(.tooManyRequests, code: "invitation_limit",
                           message: "Your organization has sent \(invitationsPerDay) invitations in the last 24 hours. Try again tomorrow.",
                           headers: ["Retry-After": "3600"])
        }
        let existing = try await Invitation.query(on: request.db).filter(\.$tenantID == principal.tenantID).filter(\.$email == email!).all()
        guard !existing.contains(where: { $0.isPending(at: now) }) else {
            throw AppError(.conflict, code: "invitation_pending", message: "This address has a pending invitation.")
        }
        if let user = try await User.query(on: request.db).filter(\.$email == email!).first(),
            try await Membership.query(on: request.db).filter(\.$userID == user.id!).filter(\.$tenantID == principal.tenantID).first() != nil {
            throw AppError(.conflict, code: "already_member", message: "This address belongs to a member already.")
        }
        guard let tenant = try await Tenant.find(principal.tenantID, on: request.db) else {
            throw AppError.notFound("No such tenant.")
        }
        let invitation = Invitation()
        invitation.id = UUID()
        invitation.tenantID = principal.tenantID
        invitation.email = email!
        invitation.role = role!
        invitation.invitedBy = principal.userID
        invitation.createdAt = now
        invitation.expiresAt = now.addingTimeInterval(Invitation.lifetime)
        let links = links
        try await request.db.writeTransaction { transaction in
            try await invitation.create(on: transaction)
            let token = try await OneTimeTokens.issue(purpose: invitation.purpose, userID: nil, lifetime: Invitation.lifetime, on: transaction)
            try await Outbox.enqueue(MailTemplates.invitation(to: MailAddress(name: nil, address: invitation.email)!, organization: tenant.name,
                                                              inviter: inviter?.displayName ?? inviter?.email ?? "Your colleague",
                                                              link: links.acceptInvitation(invitation.id!, token)),
                                     kind: "invitation", on: transaction)
        }
        try await audit.record("invitation.created", actor: principal.userID, tenant: principal.tenantID, target: invitation.email,
                               metadata: ["role": invitation.role.rawValue], request: request)
        return try await InvitationView(id: invitation.id!, email: invitation.email, role: invitation.role, createdAt: invitation.createdAt,
                                        expiresAt: invitation.expiresAt).encodeResponse(status: .created, for: request)
    }

    @Sendable func revoke(_ request: Request, _ principal: Principal) async throws -> HTTPStatus {
        guard let id = request.parameters.get("invitationID", as: UUID.self), let invitation = try await Invitation.find(id, on: request.db),
            invitation.tenantID == principal.tenantID
        else { throw AppError.notFound("No such invitation.") }
        guard invitation.acceptedAt == nil else {
            throw AppError(.conflict, code: "invitation_accepted", message: "This invitation was accepted; remove the member instead.")
        }
        invitation.revokedAt = Date()
        try await request.db.writeTransaction { transaction in
            try await invitation.update(on: transaction)
            try await OneTimeTokens.voidAll(purpose: invitation.purpose, on: transaction)
        }
        try await audit.record("invitation.revoked", actor: principal.userID, tenant: principal.tenantID, target: invitation.email,
                               request: request)
        return .noContent
    }

    struct AcceptBody: Content {
        let invitationId: UUID
        let token: String
        let name: String?
        let password: String?
    }

    struct Accepted: Content {
        let tenantId: UUID
        let email: String
        let role: Role
        let newAccount: Bool
    }

    @Sendable func accept(_ request: Request) async throws -> Response {
        let body = try request.content.decode(AcceptBody.self)
        let now = Date()
        guard let invitation = try await Invitation.find(body.invitationId, on: request.db), invitation.isPending(at: now) else {
            throw AccountRecovery.invalidToken
        }
        let existing = try await User.query(on: request.db).filter(\.$email == invitation.email).first()
        if existing == nil {
            var errors = FieldErrors()
            PasswordPolicy.check(body.password ?? "", into: &errors)
            errors.check("name", (body.name ?? "").count <= 100, "must be at most 100 characters")
            try errors.throwIfAny()
        }
        // Hashed before the token is spent, so a slow hash never holds a half-accepted invitation.
        let hash = existing == nil ? try await passwords.hash(body.password!) : nil
        let accepted = try await request.db.writeTransaction { transaction -> Accepted in
            guard try await OneTimeTokens.redeem(body.token, purpose: invitation.purpose, on: transaction, now: now) != nil else {
                throw AccountRecovery.invalidToken
            }
            let user: User
            if let existing {
                user = existing
                // The link came to this address: it is proved.
                if existing.emailVerifiedAt == nil {
                    existing.emailVerifiedAt = now
                    try await existing.update(on: transaction)
                }
            } else {
                user = User(email: invitation.email, passwordHash: hash, displayName: body.name.map { TextInput.line($0) })
                // The link came to this address: it is verified.
                user.emailVerifiedAt = now
                try await user.create(on: transaction)
            }
            guard try await Membership.query(on: transaction).filter(\.$userID == user.id!).filter(\.$tenantID == invitation.tenantID).first() == nil
            else { throw AppError(.conflict, code: "already_member", message: "You are a member of this organization already.") }
            try await Membership(userID: user.id!, tenantID: invitation.tenantID, role: invitation.role).create(on: transaction)
            invitation.acceptedAt = now
            try await invitation.update(on: transaction)
            return Accepted(tenantId: invitation.tenantID, email: user.email, role: invitation.role, newAccount: existing == nil)
        }
        try await audit.record("invitation.accepted", actor: nil, tenant: invitation.tenantID, target: invitation.email,
                               metadata: ["role": invitation.role.rawValue], request: request)
        await Notifications.invitationAccepted(invitation, request: request)
        return try await accepted.encodeResponse(status: .created, for: request)
    }
}
