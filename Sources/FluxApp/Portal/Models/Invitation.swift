import Fluent
import FluxSecurity
import Foundation
import Vapor

/// An invitation into a client organization: mailed as a single-use link (a ``OneTimeTokens`` token whose
/// purpose names the invitation), valid for ``lifetime``, revocable until accepted.
final class Invitation: Model, @unchecked Sendable {
    static let schema = "invitations"
    static let lifetime: TimeInterval = 7 * 86_400

    @ID(key: .id) var id: UUID?
    @Field(key: "tenant_id") var tenantID: UUID
    @Field(key: "email") var email: String
    @Enum(key: "role") var role: Role
    @Field(key: "invited_by") var invitedBy: UUID
    @Field(key: "created_at") var createdAt: Date
    @Field(key: "expires_at") var expiresAt: Date
    @OptionalField(key: "accepted_at") var acceptedAt: Date?
    @OptionalField(key: "revoked_at") var revokedAt: Date?

    init() {}

    var purpose: String { "invitation:" + id!.uuidString }

    func isPending(at now: Date) -> Bool { acceptedAt == nil && revokedAt == nil && expiresAt > now }
}
