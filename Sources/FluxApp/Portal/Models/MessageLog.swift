import Fluent
import Foundation

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
