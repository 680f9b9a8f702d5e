import Fluent
import Foundation
import SQLKit
import Vapor

/// Flux's side of the control plane: each organization's desired state, the changes people make to it, and
/// the wake-up long-polling workers wait for. Every change raises the state's `version` in one SQL statement
/// (so two replicas changing it at once both count) and then announces the tenant: in this process at once,
/// and on PostgreSQL with `NOTIFY flux_worker_desired`, which every replica's listener turns into the same
/// wake-up, so a worker polling another replica hears of the change within a second.
final class WorkerControl: LifecycleHandler, Sendable {
    static let channel = "flux_worker_desired"
    /// How long a long poll waits for a change before answering with the same state.
    static let longPoll: Duration = .seconds(25)
    static let heartbeatSeconds = 30

    let signals: WorkerSignals
    let staleSeconds: Int
    let retentionDays: Int
    private let listener: PostgresListener?

    init(config: AppConfig) {
        staleSeconds = config.workerStaleSeconds
        retentionDays = config.messageLogRetentionDays
        let postgres = PostgresListener.configuration(for: config.database)
        // On PostgreSQL another replica's change is known only through the listener: nothing is cached until it listens.
        let signals = WorkerSignals(cacheTrusted: postgres == nil)
        self.signals = signals
        listener = postgres.map { configuration in
            PostgresListener(channel: Self.channel, configuration: configuration,
                             // Notices may have been missed while the listener was away: every waiter looks again.
                             listening: { await signals.listening($0) },
                             notice: { payload in
                                 if let tenant = UUID(uuidString: payload) { await signals.signal(tenant) }
                             })
        }
    }

    func didBootAsync(_ application: Application) async throws {
        listener?.start(logger: application.logger)
    }

    func shutdownAsync(_ application: Application) async {
        await listener?.stop()
    }

    /// What a worker of `tenant` is told.
    struct Desired: Content, Sendable {
        struct Command: Content {
            let id: UUID
            let kind: WorkerCommand.Kind
            let issuedAt: Date
        }

        let version: Int64
        let run: Bool
        let restartGeneration: Int64
        let commands: [Command]
        let config: WorkerSettings.Config
        let heartbeatSeconds: Int
        let staleAfterSeconds: Int
    }

    /// The desired state of `tenant` (as a new organization's defaults when nothing was ever set: stopped).
    func desired(for tenant: UUID, on database: any Database) async throws -> Desired {
        let state = try await WorkerDesiredState.query(on: database).filter(\.$tenantID == tenant).first()
        let config = try await TenantConfig.query(on: database).filter(\.$tenantID == tenant).first()
        let commands = try await WorkerCommand.query(on: database).filter(\.$tenantID == tenant).filter(\.$acknowledgedAt == nil)
            .sort(\.$issuedAt).limit(50).all()
        return Desired(
            version: state?.version ?? 0, run: state?.run ?? false, restartGeneration: state?.restartGeneration ?? 0,
            commands: commands.map { Desired.Command(id: $0.id!, kind: $0.kind, issuedAt: $0.issuedAt) },
            config: WorkerSettings.view(config, version: state?.configVersion ?? 0),
            heartbeatSeconds: Self.heartbeatSeconds, staleAfterSeconds: staleAfter(state))
    }

    /// The desired state once its version differs from `after`, or after `wait` with whatever it is then. What was read
    /// is kept until the tenant's next announcement, so a thousand workers waiting cost no database reads.
    func desired(for tenant: UUID, after: Int64?, wait: Duration = WorkerControl.longPoll, on database: any Database) async throws -> Desired {
        let deadline = ContinuousClock.now + wait
        while true {
            // The generation is read before the state, so a change landing in between still wakes the wait below.
            let generation = await signals.generation(of: tenant)
            let state: Desired
            if let cached = await signals.cached(tenant, at: generation) {
                state = cached
            } else {
                state = try await desired(for: tenant, on: database)
                await signals.remember(state, for: tenant, at: generation)
            }
            // Only a worker that has exactly this version waits; any other (a database restored from a backup may
            // be behind what the worker saw) gets the state at once.
            guard let after, state.version == after, ContinuousClock.now < deadline else { return state }
            guard await signals.wait(for: tenant, since: generation, until: deadline) else { return state }
        }
    }

    func staleAfter(_ state: WorkerDesiredState?) -> Int {
        state?.staleAfterSeconds.map(Int.init) ?? staleSeconds
    }

    // MARK: - Changes

    /// Records `kind` (start, stop or restart) for `tenant`'s workers and applies it to the desired state.
    func issue(_ kind: WorkerCommand.Kind, tenant: UUID, reason: String, by actor: UUID?, on database: any Database) async throws -> WorkerCommand {
        let command = WorkerCommand()
        command.id = UUID()
        command.tenantID = tenant
        command.kind = kind
        command.reason = reason
        command.issuedBy = actor
        command.issuedAt = Date()
        try await database.writeTransaction { transaction in
            try await command.create(on: transaction)
            let change: SQLQueryString = switch kind {
            case .start: "run = \(bind: true)"
            case .stop: "run = \(bind: false)"
            case .restart: "run = \(bind: true), restart_generation = restart_generation + 1"
            }
            try await self.bump(tenant, change, on: transaction)
        }
        await announce(tenant, on: database)
        return command
    }

    /// Replaces `tenant`'s configuration with `input` (already checked). Throws 409 when `input.version` is
    /// given and is no longer the stored one.
    func configure(_ input: WorkerSettings.ConfigInput, tenant: UUID, on database: any Database) async throws -> WorkerSettings.Config {
        try await database.writeTransaction { transaction in
            try await self.ensureState(tenant, on: transaction)
            if let expected = input.version {
                let current = try await WorkerDesiredState.query(on: transaction).filter(\.$tenantID == tenant).first()?.configVersion ?? 0
                guard current == expected else {
                    throw AppError(.conflict, code: "stale_version",
                                   message: "The configuration was changed by someone else since you opened it (now version \(current)). Reload to see it.")
                }
            }
            let config = try await TenantConfig.query(on: transaction).filter(\.$tenantID == tenant).first() ?? TenantConfig()
            config.tenantID = tenant
            config.templateType = input.templateType
            config.businessName = TextInput.line(input.businessName, maxLength: 200).trimmingCharacters(in: .whitespaces)
            config.language = input.language
            config.openingHours = WorkerSettings.canonicalHours(input.openingHours)
            config.updatedAt = Date()
            try await config.save(on: transaction)
            try await self.bump(tenant, "config_version = config_version + 1", on: transaction)
        }
        await announce(tenant, on: database)
        return try await desired(for: tenant, on: database).config
    }

    /// Staff's per-organization staleness threshold and log retention; `nil` returns each to the server's default.
    func settle(tenant: UUID, staleAfterSeconds: Int?, logRetentionDays: Int?, on database: any Database) async throws {
        try await database.writeTransaction { transaction in
            try await self.bump(tenant, "stale_after_seconds = \(bind: staleAfterSeconds.map(Int64.init)), log_retention_days = \(bind: logRetentionDays.map(Int64.init))",
                                on: transaction)
        }
        await announce(tenant, on: database)
    }

    /// The configuration was written outside ``configure(_:tenant:on:)`` (at provisioning): a new version.
    func configurationWritten(for tenant: UUID, on database: any Database) async throws {
        try await bump(tenant, "config_version = config_version + 1", on: database)
        await announce(tenant, on: database)
    }

    /// Commands were acknowledged: they leave the desired state, which polls should see.
    func commandsAcknowledged(_ tenant: UUID, on database: any Database) async throws {
        try await bump(tenant, "run = run", on: database)
        await announce(tenant, on: database)
    }

    /// The organization's desired state row, made (stopped, version 0) if it has none yet.
    private func ensureState(_ tenant: UUID, on database: any Database) async throws {
        try await database.sql.insert(into: WorkerDesiredState.schema)
            .columns("id", "tenant_id", "version", "run", "restart_generation", "config_version", "updated_at")
            .values(SQLBind(UUID()), SQLBind(tenant), SQLBind(Int64(0)), SQLBind(false), SQLBind(Int64(0)), SQLBind(Int64(0)), SQLBind(Date()))
            .ignoringConflicts(with: ["tenant_id"]).run()
    }

    private func bump(_ tenant: UUID, _ change: SQLQueryString, on database: any Database) async throws {
        try await ensureState(tenant, on: database)
        try await database.sql.raw("""
            UPDATE worker_desired_states SET \(change), version = version + 1, updated_at = \(bind: Date())
            WHERE tenant_id = \(bind: tenant)
            """).run()
    }

    /// Wakes the tenant's long polls here and, on PostgreSQL, on every replica (this one's listener included).
    func announce(_ tenant: UUID, on database: any Database) async {
        if let sql = database as? any SQLDatabase, sql.dialect.name == "postgresql" {
            do {
                try await sql.raw("SELECT pg_notify(\(bind: Self.channel), \(bind: tenant.uuidString))").run()
            } catch {
                database.logger.warning("worker change not announced to other replicas", metadata: ["error": .string(String(describing: error))])
            }
        }
        // Also directly: this replica's own polls need not wait for its listener, which may be reconnecting.
        await signals.signal(tenant)
    }
}

/// Long polls waiting for a tenant's desired state to change. Each tenant has a generation that every
/// announcement raises; a wait returns as soon as the generation differs from the one the poll read.
///
/// It also keeps each tenant's desired state as last read, valid while the tenant's generation stays the same.
actor WorkerSignals {
    private var generations: [UUID: Int] = [:]
    private var waiters: [UUID: [UUID: CheckedContinuation<Bool, Never>]] = [:]
    private var cache: [UUID: (generation: Int, state: WorkerControl.Desired)] = [:]
    /// Whether every change reaches ``signal(_:)``: always in one process; on PostgreSQL while the listener listens.
    private var cacheTrusted: Bool

    init(cacheTrusted: Bool) {
        self.cacheTrusted = cacheTrusted
    }

    /// Whether what was read may be kept (tests wait for it on PostgreSQL).
    var caching: Bool { cacheTrusted }

    func cached(_ tenant: UUID, at generation: Int) -> WorkerControl.Desired? {
        guard cacheTrusted, let entry = cache[tenant], entry.generation == generation, generation == generations[tenant, default: 0] else { return nil }
        return entry.state
    }

    func remember(_ state: WorkerControl.Desired, for tenant: UUID, at generation: Int) {
        guard cacheTrusted else { return }
        cache[tenant] = (generation, state)
    }

    /// The PostgreSQL listener connected or went away: notices may have been missed, so nothing cached counts.
    func listening(_ connected: Bool) {
        cacheTrusted = connected
        cache.removeAll()
        signalAll()
    }

    func generation(of tenant: UUID) -> Int {
        generations[tenant, default: 0]
    }

    func signal(_ tenant: UUID) {
        generations[tenant, default: 0] += 1
        cache[tenant] = nil
        for waiter in (waiters.removeValue(forKey: tenant) ?? [:]).values { waiter.resume(returning: true) }
    }

    func signalAll() {
        for tenant in waiters.keys { signal(tenant) }
    }

    /// Returns true when `tenant` is announced after `generation`, false at `deadline`.
    func wait(for tenant: UUID, since generation: Int, until deadline: ContinuousClock.Instant) async -> Bool {
        guard generations[tenant, default: 0] == generation else { return true }
        let id = UUID()
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            waiters[tenant, default: [:]][id] = continuation
            Task { [weak self] in
                try? await Task.sleep(until: deadline, clock: .continuous)
                await self?.expire(tenant, id)
            }
        }
    }

    /// How many polls are waiting.
    var waiting: Int { waiters.values.reduce(0) { $0 + $1.count } }

    private func expire(_ tenant: UUID, _ id: UUID) {
        guard let waiter = waiters[tenant]?.removeValue(forKey: id) else { return }
        if waiters[tenant]?.isEmpty == true { waiters[tenant] = nil }
        waiter.resume(returning: false)
    }
}

extension Application {
    private struct WorkerControlKey: StorageKey {
        typealias Value = WorkerControl
    }

    /// The worker control plane (`configure` builds it; tests reach it here).
    var workerControl: WorkerControl {
        get { storage[WorkerControlKey.self]! }
        set { storage[WorkerControlKey.self] = newValue }
    }
}
