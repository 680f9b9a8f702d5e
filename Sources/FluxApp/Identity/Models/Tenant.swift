import Fluent
import Foundation

/// An organization: the operator (the company running Flux, home of the staff) or one of its clients.
final class Tenant: Model, @unchecked Sendable {
    static let schema = "tenants"

    enum Kind: String, Codable, Sendable {
        case `operator`, client
    }

    @ID(key: .id) var id: UUID?
    @Field(key: "name") var name: String
    @Enum(key: "kind") var kind: Kind
    @Field(key: "status") var status: String
    @OptionalField(key: "phone") var phone: String?
    @Field(key: "created_at") var createdAt: Date

    init() {}

    init(id: UUID = UUID(), name: String, kind: Kind, status: String, createdAt: Date = Date()) {
        self.id = id
        self.name = name
        self.kind = kind
        self.status = status
        self.createdAt = createdAt
    }
}
