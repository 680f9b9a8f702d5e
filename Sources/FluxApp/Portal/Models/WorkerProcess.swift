import Fluent
import Foundation

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
