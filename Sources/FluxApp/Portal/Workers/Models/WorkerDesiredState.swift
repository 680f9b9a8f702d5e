import Fluent
import Foundation

/// What an organization's workers should be doing: Flux's side of the control plane. Every change raises
/// `version`, which is what a long-polling worker waits on. The configuration itself is the tenant's
/// ``TenantConfig``; `configVersion` counts its edits.
final class WorkerDesiredState: Model, @unchecked Sendable {
    static let schema = "worker_desired_states"

    @ID(key: .id) var id: UUID?
    @Field(key: "tenant_id") var tenantID: UUID
    @Field(key: "version") var version: Int64
    @Field(key: "run") var run: Bool
    @Field(key: "restart_generation") var restartGeneration: Int64
    @Field(key: "config_version") var configVersion: Int64
    /// Staff's threshold for this organization; `nil` is WORKER_STALE_SECONDS.
    @OptionalField(key: "stale_after_seconds") var staleAfterSeconds: Int64?
    /// Staff's retention for this organization's message logs; `nil` is MESSAGE_LOG_RETENTION_DAYS.
    @OptionalField(key: "log_retention_days") var logRetentionDays: Int64?
    @Field(key: "updated_at") var updatedAt: Date

    init() {}
}
