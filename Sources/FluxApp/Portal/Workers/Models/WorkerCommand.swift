import Fluent
import Foundation

/// A start, stop or restart someone asked for, kept until a worker acknowledges it, so it is applied once
/// even when the worker or Flux restarts in between.
final class WorkerCommand: Model, @unchecked Sendable {
    static let schema = "worker_commands"

    enum Kind: String, Codable, CaseIterable, Sendable {
        case start, stop, restart
    }

    @ID(key: .id) var id: UUID?
    @Field(key: "tenant_id") var tenantID: UUID
    @Enum(key: "kind") var kind: Kind
    @Field(key: "reason") var reason: String
    @OptionalField(key: "issued_by") var issuedBy: UUID?
    @Field(key: "issued_at") var issuedAt: Date
    @OptionalField(key: "acknowledged_at") var acknowledgedAt: Date?
    /// The worker (by name) that acknowledged it.
    @OptionalField(key: "acknowledged_by") var acknowledgedBy: String?

    init() {}
}
