import Fluent
import FluxSecurity
import Foundation
import SQLKit
import Vapor

/// What workers call, with an API key of their tenant (never a person's session), as `docs/workers.md`
/// describes: the desired state by long poll, observed state by heartbeat, and message logs. The tenant is
/// always the key's, so a worker can only ever read or write its own organization's rows.
struct WorkerProtocolController: Sendable {
    let keys: APIKeys
    let control: WorkerControl
    let incidents: WorkerIncidents

    static let maxEntries = 500
    static let maxQRLifetime: TimeInterval = 600

    // MARK: - Desired state

    /// `GET /api/portal/worker/desired?after=<version>`: at once when the state's version is not `after` (or
    /// `after` is absent), else when it changes or after 25 s.
    @Sendable func desired(_ request: Request) async throws -> Response {
        let after: Int64?
        if let raw = request.query[String.self, at: "after"] {
            guard let parsed = Int64(raw), parsed >= 0 else { throw AppError.invalidFields(["after": "must be a version: a whole number, 0 or more"]) }
            after = parsed
        } else {
            after = nil
        }
        if let name = request.query[String.self, at: "name"], !TextInput.isToken(name) {
            throw AppError.invalidFields(["name": "must be 1 to 100 letters, digits, - or _"])
        }
        let key = try await keys.authenticate(request, scope: .worker, auditUse: false)
        let state = try await control.desired(for: key.tenantID, after: after, on: request.db)
        let response = try await state.encodeResponse(for: request)
        response.headers.replaceOrAdd(name: .eTag, value: "\"v\(state.version)\"")
        response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        return response
    }

    // MARK: - Observed state

    struct Heartbeat: Content {
        struct QR: Content {
            let payload: String
            let expiresAt: String
        }

        let name: String
        let status: String
        let sequence: Int64?
        let lastError: String?
        let version: String?
        let configVersion: Int64?
        let qr: QR?
        let pairedNumber: String?
        let acknowledged: [UUID]?
    }

    /// `POST /api/portal/worker/heartbeat`: the worker's observed state. A report whose `sequence` is not past
    /// the stored one changes nothing (it is late or repeated); acknowledgements count either way.
    @Sendable func heartbeat(_ request: Request) async throws -> HTTPStatus {
        let key = try await keys.authenticate(request, scope: .heartbeat)
        let body = try request.content.decode(Heartbeat.self)
        let now = Date()
        let status = WorkerProcess.Status(rawValue: body.status)
        let qrExpiry = body.qr.flatMap { TextInput.instant($0.expiresAt) }
        var errors = FieldErrors()
        errors.check("name", TextInput.isToken(body.name), "must be 1 to 100 letters, digits, - or _")
        errors.check("status", status != nil, "must be one of \(WorkerProcess.Status.allCases.map(\.rawValue).joined(separator: ", "))")
        errors.check("sequence", (body.sequence ?? 0) >= 0, "must be 0 or more")
        errors.check("lastError", (body.lastError ?? "").count <= 2000, "must be at most 2000 characters")
        errors.check("version", body.version.map { (1...100).contains($0.count) && !TextInput.hasControlCharacters($0) } ?? true,
                     "must be 1 to 100 characters")
        errors.check("configVersion", (body.configVersion ?? 0) >= 0, "must be 0 or more")
        errors.check("pairedNumber", body.pairedNumber.map { (1...32).contains($0.count) && !TextInput.hasControlCharacters($0) } ?? true,
                     "must be 1 to 32 characters")
        errors.check("acknowledged", (body.acknowledged ?? []).count <= 50, "must list at most 50 commands")
        if status == .pairing {
            errors.check("qr", body.qr != nil, "is required while pairing")
        }
        if let qr = body.qr {
            errors.check("qr.payload", (1...1000).contains(qr.payload.count) && !TextInput.hasControlCharacters(qr.payload), "must be 1 to 1000 characters")
            errors.check("qr.expiresAt", qrExpiry.map { $0 > now && $0 <= now.addingTimeInterval(Self.maxQRLifetime) } ?? false,
                         "must be an ISO 8601 time within the next 10 minutes")
        }
        try errors.throwIfAny()

        let tenant = key.tenantID
        let sql = request.db.sql
        try await sql.insert(into: WorkerProcess.schema).columns("id", "tenant_id", "name", "status", "heartbeat_at")
            .values(SQLBind(UUID()), SQLBind(tenant), SQLBind(body.name), SQLBind(body.status), SQLBind(now))
            .ignoringConflicts(with: ["tenant_id", "name"]).run()
        let pairing = status == .pairing
        let pairedNumber: SQLQueryString = pairing ? "NULL" : "COALESCE(\(bind: body.pairedNumber.map { TextInput.line($0) }), paired_number)"
        let newer: SQLQueryString = body.sequence.map { "(sequence IS NULL OR sequence < \(bind: $0))" } ?? "1 = 1"
        try await sql.raw("""
            UPDATE worker_processes SET status = \(bind: body.status), last_error = \(bind: body.lastError.map(TextInput.multiline)),
                heartbeat_at = \(bind: now), sequence = COALESCE(\(bind: body.sequence), sequence),
                qr_payload = \(bind: pairing ? body.qr?.payload : nil), qr_expires_at = \(bind: pairing ? qrExpiry : nil),
                paired_number = \(pairedNumber),
                software_version = COALESCE(\(bind: body.version), software_version),
                config_version = COALESCE(\(bind: body.configVersion), config_version)
            WHERE tenant_id = \(bind: tenant) AND name = \(bind: body.name) AND \(newer)
            """).run()
        if let acknowledged = body.acknowledged, !acknowledged.isEmpty {
            let done = try await sql.raw("""
                UPDATE worker_commands SET acknowledged_at = \(bind: now), acknowledged_by = \(bind: body.name)
                WHERE tenant_id = \(bind: tenant) AND acknowledged_at IS NULL AND id IN (\(SQLList(acknowledged.map { SQLBind($0) })))
                RETURNING id
                """).all()
            // The pending commands are part of the desired state: their end is a change a poll should see.
            if !done.isEmpty { try await control.commandsAcknowledged(tenant, on: request.db) }
        }
        await incidents.reported(tenant: tenant, name: body.name, request: request)
        return .noContent
    }

    // MARK: - Message logs

    struct LogEntry: Content {
        let direction: String
        let from: String
        let to: String
        let text: String
        let externalId: String?
        /// ISO 8601, with or without fractional seconds.
        let occurredAt: String
    }

    struct LogBatch: Content {
        let entries: [LogEntry]
    }

    struct Accepted: Content {
        let received: Int
        let stored: Int
    }

    /// `POST /api/portal/worker/message-logs`: entries whose `externalId` is already stored are skipped, so a
    /// worker may resend a batch after a timeout.
    @Sendable func messageLogs(_ request: Request) async throws -> Response {
        let key = try await keys.authenticate(request, scope: .logsWrite)
        let batch = try request.content.decode(LogBatch.self)
        var errors = FieldErrors()
        errors.check("entries", (1...Self.maxEntries).contains(batch.entries.count), "must hold 1 to \(Self.maxEntries) entries")
        let latest = Date().addingTimeInterval(300)
        for (index, entry) in batch.entries.enumerated() {
            let field = "entries[\(index)]"
            errors.check(field + ".direction", MessageLog.Direction(rawValue: entry.direction) != nil, "must be inbound or outbound")
            errors.check(field + ".from", (1...320).contains(entry.from.count), "must be 1 to 320 characters")
            errors.check(field + ".to", (1...320).contains(entry.to.count), "must be 1 to 320 characters")
            errors.check(field + ".text", entry.text.count <= 4000, "must be at most 4000 characters")
            errors.check(field + ".externalId", entry.externalId.map { (1...200).contains($0.count) } ?? true, "must be 1 to 200 characters")
            errors.check(field + ".occurredAt", TextInput.instant(entry.occurredAt).map { $0 <= latest } ?? false,
                         "must be an ISO 8601 time, not in the future")
        }
        try errors.throwIfAny()
        let sql = request.db.sql
        let insert = sql.insert(into: MessageLog.schema)
            .columns("id", "tenant_id", "direction", "from_address", "to_address", "text", "external_id", "occurred_at")
        for entry in batch.entries {
            insert.values([SQLBind(UUID()), SQLBind(key.tenantID), SQLBind(entry.direction), SQLBind(TextInput.line(entry.from)),
                           SQLBind(TextInput.line(entry.to)), SQLBind(TextInput.multiline(entry.text)), SQLBind(entry.externalId),
                           SQLBind(TextInput.instant(entry.occurredAt)!)])
        }
        // Only rows actually inserted come back: a resent entry (same externalId) is skipped, not counted.
        let stored = try await insert.ignoringConflicts(with: ["tenant_id", "external_id"]).returning("id").all().count
        return try await Accepted(received: batch.entries.count, stored: stored).encodeResponse(status: .accepted, for: request)
    }
}
