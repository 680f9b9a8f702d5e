import Fluent
import FluxSecurity
import Foundation
import Vapor

/// What people do with an organization's workers: the client's admin in the portal (see the status, pair,
/// restart, edit the configuration) and staff in HQ (all of that for any tenant, plus start, stop and the
/// per-organization settings). Each change goes to the desired state through ``WorkerControl`` and is audited
/// with who did it and why.
struct WorkerControlController: Sendable {
    let control: WorkerControl
    let audit: AuditLog

    static let operators: Set<Role> = HQController.tenantViewers

    struct Observed: Content {
        struct QR: Content {
            let payload: String
            let expiresAt: Date
            /// The payload drawn as a QR code (an SVG data URI), to scan with the phone being paired.
            let image: String
        }

        let name: String
        /// What the worker reported, or `stale` once it has been silent past the threshold.
        let state: String
        let reported: String
        let stale: Bool
        let lastSeen: Date
        let lastError: String?
        let pairedNumber: String?
        let qr: QR?
        let version: String?
        let configVersion: Int64?
    }

    struct CommandView: Content {
        let id: UUID
        let kind: WorkerCommand.Kind
        let reason: String
        let issuedAt: Date
        let acknowledgedAt: Date?
    }

    struct Overview: Content {
        let tenantId: UUID
        let desiredVersion: Int64
        let run: Bool
        let restartGeneration: Int64
        /// The threshold in force: staff's for this organization, else WORKER_STALE_SECONDS.
        let staleAfterSeconds: Int
        /// Staff's own threshold for this organization; `nil`: the server's default.
        let staleAfterSecondsSet: Int?
        /// `nil`: the server's default (MESSAGE_LOG_RETENTION_DAYS).
        let logRetentionDays: Int?
        let config: WorkerSettings.Config
        let workers: [Observed]
        let commands: [CommandView]
    }

    func overview(of tenant: UUID, on database: any Database, now: Date = Date()) async throws -> Overview {
        let desired = try await control.desired(for: tenant, on: database)
        let state = try await WorkerDesiredState.query(on: database).filter(\.$tenantID == tenant).first()
        let workers = try await WorkerProcess.query(on: database).filter(\.$tenantID == tenant).sort(\.$name).all()
        let commands = try await WorkerCommand.query(on: database).filter(\.$tenantID == tenant).sort(\.$issuedAt, .descending).limit(20).all()
        return Overview(
            tenantId: tenant, desiredVersion: desired.version, run: desired.run, restartGeneration: desired.restartGeneration,
            staleAfterSeconds: desired.staleAfterSeconds, staleAfterSecondsSet: state?.staleAfterSeconds.map(Int.init),
            logRetentionDays: state?.logRetentionDays.map(Int.init), config: desired.config,
            workers: workers.map { Self.observed($0, staleAfter: desired.staleAfterSeconds, now: now) },
            commands: commands.map { CommandView(id: $0.id!, kind: $0.kind, reason: $0.reason, issuedAt: $0.issuedAt, acknowledgedAt: $0.acknowledgedAt) })
    }

    static func observed(_ worker: WorkerProcess, staleAfter: Int, now: Date) -> Observed {
        let stale = worker.staleSince != nil || now.timeIntervalSince(worker.heartbeatAt) > Double(staleAfter)
        let qr = stale ? nil : worker.currentQR(at: now).flatMap { current in
            (try? QRCode(current.payload).svg()).map {
                Observed.QR(payload: current.payload, expiresAt: current.expiresAt, image: "data:image/svg+xml;base64," + Data($0.utf8).base64EncodedString())
            }
        }
        return Observed(name: worker.name, state: stale ? "stale" : worker.status, reported: worker.status, stale: stale, lastSeen: worker.heartbeatAt,
                        lastError: worker.lastError, pairedNumber: worker.pairedNumber, qr: qr, version: worker.softwareVersion,
                        configVersion: worker.configVersion)
    }

    // MARK: - The client's admin, in the portal

    /// `GET /api/portal/tenant/current/worker`
    @Sendable func current(_ request: Request, _ principal: Principal) async throws -> Overview {
        try await overview(of: principal.tenantID, on: request.db)
    }

    /// `PUT /api/portal/tenant/current/config`
    @Sendable func configureCurrent(_ request: Request, _ principal: Principal) async throws -> WorkerSettings.Config {
        try await configure(request, principal: principal, tenant: principal.tenantID)
    }

    struct RestartBody: Content {
        let reason: String?
    }

    /// `POST /api/portal/tenant/current/worker/restart` `{reason?}`
    @Sendable func restartCurrent(_ request: Request, _ principal: Principal) async throws -> Response {
        let body = try request.content.decode(RestartBody.self)
        let reason = Self.reason(body.reason)
        var errors = FieldErrors()
        errors.check("reason", reason.count <= 500, "must be at most 500 characters")
        try errors.throwIfAny()
        return try await issue(.restart, reason: reason, principal: principal, tenant: principal.tenantID, request: request)
    }

    // MARK: - Staff, in HQ

    /// `GET /api/hq/tenants/:tenantID/worker`
    @Sendable func show(_ request: Request, _ access: TenantAccess) async throws -> Overview {
        try await overview(of: try await Self.organization(access.tenantID, on: request.db), on: request.db)
    }

    /// `PUT /api/hq/tenants/:tenantID/worker/config`
    @Sendable func configureTenant(_ request: Request, _ access: TenantAccess) async throws -> WorkerSettings.Config {
        try await configure(request, principal: access.principal, tenant: try await Self.organization(access.tenantID, on: request.db))
    }

    struct CommandBody: Content {
        let kind: String
        let reason: String?
    }

    /// `POST /api/hq/tenants/:tenantID/worker/commands` `{kind: start|stop|restart, reason}`: staff say why.
    @Sendable func command(_ request: Request, _ access: TenantAccess) async throws -> Response {
        let body = try request.content.decode(CommandBody.self)
        var errors = FieldErrors()
        let kind = WorkerCommand.Kind(rawValue: body.kind)
        errors.check("kind", kind != nil, "must be start, stop or restart")
        let reason = Self.reason(body.reason)
        errors.check("reason", (1...500).contains(reason.count), "say why, in 1 to 500 characters")
        try errors.throwIfAny()
        let tenant = try await Self.organization(access.tenantID, on: request.db)
        return try await issue(kind!, reason: reason, principal: access.principal, tenant: tenant, request: request)
    }

    struct SettingsBody: Content {
        let staleAfterSeconds: Int?
        let logRetentionDays: Int?
    }

    /// `PUT /api/hq/tenants/:tenantID/worker/settings` `{staleAfterSeconds?, logRetentionDays?}` (absent: the default).
    @Sendable func settings(_ request: Request, _ access: TenantAccess) async throws -> Overview {
        let body = try request.content.decode(SettingsBody.self)
        var errors = FieldErrors()
        errors.check("staleAfterSeconds", body.staleAfterSeconds.map(WorkerSettings.staleSeconds.contains) ?? true,
                     "must be \(WorkerSettings.staleSeconds.lowerBound) to \(WorkerSettings.staleSeconds.upperBound) seconds")
        errors.check("logRetentionDays", body.logRetentionDays.map(WorkerSettings.retentionDays.contains) ?? true,
                     "must be \(WorkerSettings.retentionDays.lowerBound) to \(WorkerSettings.retentionDays.upperBound) days")
        try errors.throwIfAny()
        let tenant = try await Self.organization(access.tenantID, on: request.db)
        try await control.settle(tenant: tenant, staleAfterSeconds: body.staleAfterSeconds, logRetentionDays: body.logRetentionDays, on: request.db)
        try await audit.record("worker.settings", actor: access.principal.userID, tenant: tenant, target: tenant.uuidString,
                               metadata: ["staleAfterSeconds": body.staleAfterSeconds.map(String.init) ?? "default",
                                          "logRetentionDays": body.logRetentionDays.map(String.init) ?? "default"], request: request)
        return try await overview(of: tenant, on: request.db)
    }

    struct WorkerRow: Content {
        let tenantId: UUID
        let organization: String
        let run: Bool
        let workers: [Observed]
    }

    /// `GET /api/hq/workers`: every client organization's desired run state and workers.
    @Sendable func all(_ request: Request, _ principal: Principal) async throws -> [WorkerRow] {
        try await Self.rows(on: request.db, staleSeconds: control.staleSeconds)
    }

    static func rows(on database: any Database, staleSeconds: Int, now: Date = Date()) async throws -> [WorkerRow] {
        let tenants = try await Tenant.query(on: database).filter(\.$kind == .client).sort(\.$name).limit(2000).all()
        let states = Dictionary(try await WorkerDesiredState.query(on: database).all().map { ($0.tenantID, $0) }) { first, _ in first }
        let workers = Dictionary(grouping: try await WorkerProcess.query(on: database).sort(\.$name).all(), by: \.tenantID)
        return tenants.map { tenant in
            let state = states[tenant.id!]
            let staleAfter = state?.staleAfterSeconds.map(Int.init) ?? staleSeconds
            return WorkerRow(tenantId: tenant.id!, organization: tenant.name, run: state?.run ?? false,
                             workers: (workers[tenant.id!] ?? []).map { observed($0, staleAfter: staleAfter, now: now) })
        }
    }

    // MARK: - Shared

    private func configure(_ request: Request, principal: Principal, tenant: UUID) async throws -> WorkerSettings.Config {
        let input = try request.content.decode(WorkerSettings.ConfigInput.self)
        try WorkerSettings.check(input).throwIfAny()
        let config = try await control.configure(input, tenant: tenant, on: request.db)
        try await audit.record("worker.config", actor: principal.userID, tenant: tenant, target: tenant.uuidString,
                               metadata: ["version": String(config.version)], request: request)
        return config
    }

    private func issue(_ kind: WorkerCommand.Kind, reason: String, principal: Principal, tenant: UUID, request: Request) async throws -> Response {
        let command = try await control.issue(kind, tenant: tenant, reason: reason, by: principal.userID, on: request.db)
        try await audit.record("worker." + kind.rawValue, actor: principal.userID, tenant: tenant, target: command.id!.uuidString,
                               metadata: ["reason": reason], request: request)
        return try await CommandView(id: command.id!, kind: kind, reason: reason, issuedAt: command.issuedAt, acknowledgedAt: nil)
            .encodeResponse(status: .accepted, for: request)
    }

    static func reason(_ text: String?) -> String {
        TextInput.line(text ?? "", maxLength: 1000).trimmingCharacters(in: .whitespaces)
    }

    /// `tenant` if it is a client organization (the operator's own has no workers).
    static func organization(_ tenant: UUID, on database: any Database) async throws -> UUID {
        guard let found = try await Tenant.find(tenant, on: database), found.kind == .client else { throw AppError.notFound("No such organization.") }
        return tenant
    }
}
