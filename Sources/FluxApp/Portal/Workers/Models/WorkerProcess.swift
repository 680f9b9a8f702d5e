import Fluent
import Foundation

/// A process serving a tenant: what its latest heartbeat reported (its observed state).
final class WorkerProcess: Model, @unchecked Sendable {
    static let schema = "worker_processes"

    /// What a worker may report; `running` is what workers before the control plane sent for `connected`.
    enum Status: String, CaseIterable, Sendable {
        case starting, pairing, connected, degraded, error, stopped, running
    }

    @ID(key: .id) var id: UUID?
    @Field(key: "tenant_id") var tenantID: UUID
    @Field(key: "name") var name: String
    @Field(key: "status") var status: String
    @OptionalField(key: "last_error") var lastError: String?
    @Field(key: "heartbeat_at") var heartbeatAt: Date
    /// The newest report's sequence: an older one arriving late is ignored.
    @OptionalField(key: "sequence") var sequence: Int64?
    /// While pairing: the text to show as a QR code, and when it stops being valid.
    @OptionalField(key: "qr_payload") var qrPayload: String?
    @OptionalField(key: "qr_expires_at") var qrExpiresAt: Date?
    @OptionalField(key: "paired_number") var pairedNumber: String?
    @OptionalField(key: "software_version") var softwareVersion: String?
    /// The configuration version the worker says it runs.
    @OptionalField(key: "config_version") var configVersion: Int64?
    /// Set when the worker was found silent (and its people told), cleared by its next report.
    @OptionalField(key: "stale_since") var staleSince: Date?

    init() {}

    /// The QR payload, while it is worth showing.
    func currentQR(at now: Date) -> (payload: String, expiresAt: Date)? {
        guard status == Status.pairing.rawValue, let qrPayload, let qrExpiresAt, qrExpiresAt > now else { return nil }
        return (qrPayload, qrExpiresAt)
    }
}
