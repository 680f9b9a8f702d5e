import Fluent
import Foundation

/// A provisioned organization's settings (from its setup request, editable by staff).
final class TenantConfig: Model, @unchecked Sendable {
    static let schema = "tenant_configs"

    @ID(key: .id) var id: UUID?
    @Field(key: "tenant_id") var tenantID: UUID
    @Field(key: "template_type") var templateType: String
    @Field(key: "business_name") var businessName: String
    @Field(key: "language") var language: String
    /// JSON object: weekday → [opening, closing] times.
    @Field(key: "opening_hours") var openingHours: String
    @Field(key: "updated_at") var updatedAt: Date

    init() {}
}

/// One message a tenant's worker handled (a chat on the client's channel), as the worker reported it.
final class MessageLog: Model, @unchecked Sendable {
    static let schema = "message_logs"

    enum Direction: String, Codable, Sendable, CaseIterable {
        case inbound, outbound
    }

    @ID(key: .id) var id: UUID?
    @Field(key: "tenant_id") var tenantID: UUID
    @Enum(key: "direction") var direction: Direction
    @Field(key: "from_address") var from: String
    @Field(key: "to_address") var to: String
    @Field(key: "text") var text: String
    @OptionalField(key: "external_id") var externalID: String?
    @Field(key: "occurred_at") var occurredAt: Date

    init() {}
}

/// A process serving a tenant, known by the heartbeats it sends.
final class WorkerProcess: Model, @unchecked Sendable {
    static let schema = "worker_processes"

    @ID(key: .id) var id: UUID?
    @Field(key: "tenant_id") var tenantID: UUID
    @Field(key: "name") var name: String
    @Field(key: "status") var status: String
    @OptionalField(key: "last_error") var lastError: String?
    @Field(key: "heartbeat_at") var heartbeatAt: Date

    init() {}

    /// A worker silent for longer than this is shown as stale.
    static let staleAfter: TimeInterval = 120
}

/// A machine client's key: named, scoped to one tenant and to some operations, stored as a SHA-256 hash.
final class APIKey: Model, @unchecked Sendable {
    static let schema = "api_keys"

    @ID(key: .id) var id: UUID?
    @Field(key: "tenant_id") var tenantID: UUID
    @Field(key: "name") var name: String
    /// Space-separated ``APIKeys/Scope`` values.
    @Field(key: "scopes") var scopes: String
    @Field(key: "secret_hash") var secretHash: String
    @OptionalField(key: "created_by") var createdBy: UUID?
    @Field(key: "created_at") var createdAt: Date
    /// Set on the old key when it is rotated: it keeps working until then, beside its successor.
    @OptionalField(key: "expires_at") var expiresAt: Date?
    @OptionalField(key: "last_used_at") var lastUsedAt: Date?
    @OptionalField(key: "revoked_at") var revokedAt: Date?

    init() {}

    func isActive(at now: Date) -> Bool {
        revokedAt == nil && (expiresAt.map { $0 > now } ?? true)
    }
}
