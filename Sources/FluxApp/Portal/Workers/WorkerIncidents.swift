import Fluent
import Foundation
import NIOConcurrencyHelpers
import SQLKit
import Vapor

/// Finds workers gone silent and tells the people who must act, once per incident, and again when the worker
/// reports again; and deletes message logs past their organization's retention.
///
/// A worker is stale once it has not reported for its organization's threshold. Its row is claimed by a
/// conditional update (`stale_since` from NULL) before anyone is told, and cleared the same way by its next
/// report, so with several replicas each incident and each recovery is announced exactly once.
final class WorkerIncidents: LifecycleHandler, Sendable {
    static let checkInterval: Duration = .seconds(5)
    static let retentionInterval: TimeInterval = 3600

    private let control: WorkerControl
    private let links: AccountLinks
    private let loop = BackgroundTask()
    private let lastRetention = NIOLockedValueBox(Date.distantPast)

    init(control: WorkerControl, links: AccountLinks) {
        self.control = control
        self.links = links
    }

    /// Called by `flux serve`, so commands and tests do not run it (tests call ``pass(on:now:)``).
    func start(on application: Application) {
        loop.repeating(every: Self.checkInterval) { [self] in
            guard let database = application.databases.database(logger: application.logger, on: application.eventLoopGroup.any()) else { return }
            do {
                try await pass(on: database)
            } catch {
                application.logger.warning("worker check failed", metadata: ["error": .string(String(describing: error))])
            }
        }
    }

    func shutdownAsync(_ application: Application) async {
        await loop.stop()
    }

    /// Marks and announces workers silent past their threshold at `now`; once an hour, deletes expired logs.
    /// Returns how many workers turned stale.
    @discardableResult
    func pass(on database: any Database, now: Date = Date()) async throws -> Int {
        struct Candidate: Decodable {
            let id: UUID
            let tenant_id: UUID
            let name: String
            let heartbeat_at: Date
            let stale_after_seconds: Int64?
        }
        let candidates = try await database.sql.raw("""
            SELECT w.id, w.tenant_id, w.name, w.heartbeat_at, d.stale_after_seconds
            FROM worker_processes w LEFT JOIN worker_desired_states d ON d.tenant_id = w.tenant_id
            WHERE w.stale_since IS NULL AND w.heartbeat_at < \(bind: now.addingTimeInterval(-Double(WorkerSettings.staleSeconds.lowerBound)))
            """).all(decoding: Candidate.self)
        var stale = 0
        for candidate in candidates {
            let threshold = Double(candidate.stale_after_seconds.map(Int.init) ?? control.staleSeconds)
            guard now.timeIntervalSince(candidate.heartbeat_at) > threshold else { continue }
            // Only if still silent: a report arriving since the read above keeps it fresh.
            let claimed = try await database.sql.raw("""
                UPDATE worker_processes SET stale_since = \(bind: now) WHERE id = \(bind: candidate.id) AND stale_since IS NULL
                    AND heartbeat_at < \(bind: now.addingTimeInterval(-threshold))
                RETURNING id
                """).all()
            guard !claimed.isEmpty else { continue }
            stale += 1
            try await announce(stale: true, tenant: candidate.tenant_id, worker: candidate.name, source: candidate.id, on: database, now: now)
        }
        if now.timeIntervalSince(lastRetention.withLockedValue { $0 }) >= Self.retentionInterval {
            lastRetention.withLockedValue { $0 = now }
            try await expireLogs(on: database, now: now)
        }
        return stale
    }

    /// A report arrived from `name`: if it was stale, it has recovered.
    func reported(tenant: UUID, name: String, request: Request) async {
        do {
            let cleared = try await request.db.sql.raw("""
                UPDATE worker_processes SET stale_since = NULL WHERE tenant_id = \(bind: tenant) AND name = \(bind: name) AND stale_since IS NOT NULL
                RETURNING id
                """).all()
            guard let row = cleared.first else { return }
            try await announce(stale: false, tenant: tenant, worker: name, source: try row.decode(column: "id", as: UUID.self), on: request.db, now: Date())
        } catch {
            request.logger.warning("worker recovery not announced", metadata: ["error": .string(String(describing: error))])
        }
    }

    /// Deletes each organization's message logs older than its retention.
    func expireLogs(on database: any Database, now: Date = Date()) async throws {
        let custom = try await WorkerDesiredState.query(on: database).filter(\.$logRetentionDays != nil).all()
        let days = { (value: Int) in now.addingTimeInterval(-Double(value) * 86_400) }
        for state in custom {
            try await database.sql.raw("""
                DELETE FROM message_logs WHERE tenant_id = \(bind: state.tenantID) AND occurred_at < \(bind: days(Int(state.logRetentionDays ?? 0)))
                """).run()
        }
        let excluded = custom.map(\.tenantID)
        let others: SQLQueryString = excluded.isEmpty ? "1 = 1" : "tenant_id NOT IN (\(SQLList(excluded.map { SQLBind($0) })))"
        try await database.sql.raw("DELETE FROM message_logs WHERE occurred_at < \(bind: days(control.retentionDays)) AND \(others)").run()
    }

    /// The organization's admins and HQ's engineers, admins and owners hear of it, in the portal and by mail.
    private func announce(stale: Bool, tenant: UUID, worker: String, source: UUID, on database: any Database, now: Date) async throws {
        guard let organization = try await Tenant.find(tenant, on: database) else { return }
        let operatorTenant = try await Accounts.operatorTenant(on: database).id!
        let members = try await Membership.query(on: database).group(.or) { either in
            either.group(.and) { $0.filter(\.$tenantID == tenant).filter(\.$role == .clientAdmin) }
            either.group(.and) { $0.filter(\.$tenantID == operatorTenant).filter(\.$role ~~ Array(HQController.tenantViewers)) }
        }.all()
        let people = Set(members.map(\.userID))
        let state = stale ? "stale" : "recovered"
        try await Notifications.write(Notifications.Notice(kind: .worker, subject: state, actor: nil, link: "/app/status",
                                                           staffLink: "/hq-command/workers/\(tenant)", source: source),
                                      to: people, on: database, now: now)
        let users = try await User.query(on: database).filter(\.$id ~~ Array(people)).all()
        let staff = Set(members.filter { $0.tenantID == operatorTenant }.map(\.userID))
        for user in users {
            guard let address = MailAddress(name: nil, address: user.email) else { continue }
            let link = staff.contains(user.id!) ? links.publicURL.appendingPathComponent("hq-command/workers/\(tenant)")
                : links.publicURL.appendingPathComponent("app/status")
            let mail = try await MailTemplates.workerIncident(to: address, organization: organization.name, worker: worker, stale: stale, link: link)
            try await Outbox.enqueue(mail, kind: "worker." + state, on: database, now: now)
        }
    }
}

extension Application {
    private struct WorkerIncidentsKey: StorageKey {
        typealias Value = WorkerIncidents
    }

    /// Stale workers and log retention (`configure` builds it; tests call its `pass`).
    var workerIncidents: WorkerIncidents {
        get { storage[WorkerIncidentsKey.self]! }
        set { storage[WorkerIncidentsKey.self] = newValue }
    }
}
