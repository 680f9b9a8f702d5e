import Fluent
import Foundation

/// One line of the append-only audit trail. Flux only ever inserts these.
final class AuditEvent: Model, @unchecked Sendable {
    static let schema = "audit_events"

    @ID(key: .id) var id: UUID?
    @Field(key: "occurred_at") var occurredAt: Date
    @Field(key: "action") var action: String
    @OptionalField(key: "actor_id") var actorID: UUID?
    @OptionalField(key: "tenant_id") var tenantID: UUID?
    @OptionalField(key: "target") var target: String?
    @OptionalField(key: "ip_hash") var ipHash: String?
    @OptionalField(key: "user_agent") var userAgent: String?
    @OptionalField(key: "request_id") var requestID: String?
    @OptionalField(key: "metadata") var metadata: String?

    init() {}
}
