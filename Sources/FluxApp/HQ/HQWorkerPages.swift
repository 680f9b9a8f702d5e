import Fluent
import Foundation
import Vapor

/// HQ's worker pages: every organization's workers at a glance (`/hq-command/workers`), and one
/// organization's control panel (`/hq-command/workers/:tenantID`). The panel's script, `workers.js`, keeps
/// the status live and sends commands and edits through the staff API.
struct HQWorkerPages: Sendable {
    let site: PageSite
    let controls: WorkerControlController
    let logs: TenantOperationsController

    @Sendable func list(_ request: Request, _ principal: Principal) async throws -> Response {
        let rows = try await WorkerControlController.rows(on: request.db, staleSeconds: controls.control.staleSeconds)
        let locale = Messages.locale(for: request)
        let label = { (state: String) in Messages.shared.text("worker.state." + state, locale: locale) }
        struct Row: Encodable {
            let tenantId: UUID
            let organization, desired, worker, state, stateClass, lastSeen, version, error: String
        }
        struct Body: Encodable {
            let rows: [Row]
            let hasRows: Bool
        }
        let shown = rows.flatMap { row -> [Row] in
            let desired = row.run ? "Run" : "Stopped"
            guard !row.workers.isEmpty else {
                return [Row(tenantId: row.tenantId, organization: row.organization, desired: desired, worker: "—", state: label("none"),
                            stateClass: "", lastSeen: "", version: "", error: "")]
            }
            return row.workers.map {
                Row(tenantId: row.tenantId, organization: row.organization, desired: desired, worker: $0.name, state: label($0.state),
                    stateClass: WorkerPanel.stateClass($0.state), lastSeen: PageSite.time($0.lastSeen), version: $0.version ?? "",
                    error: $0.lastError ?? "")
            }
        }
        return try await site.render(request, "hq/workers", title: "Workers", principal: principal, body: Body(rows: shown, hasRows: !shown.isEmpty))
    }

    @Sendable func tenant(_ request: Request, _ principal: Principal) async throws -> Response {
        guard let id = request.parameters.get("tenantID", as: UUID.self), let tenant = try await Tenant.find(id, on: request.db),
            tenant.kind == .client
        else { throw AppError.notFound("No such organization.") }
        let overview = try await controls.overview(of: id, on: request.db)
        let recent = try await logs.logs(request, tenant: id)
        let panel = WorkerPanel(overview: overview, defaultStaleSeconds: controls.control.staleSeconds, staff: true, canEdit: true, logs: recent.entries,
                                logQuery: request.query[String.self, at: "q"] ?? "", locale: Messages.locale(for: request))
        struct Body: Encodable {
            let organization: String
            let panel: WorkerPanel
        }
        return try await site.render(request, "hq/worker", title: "Workers of \(tenant.name)", principal: principal, script: "workers",
                                     body: Body(organization: tenant.name, panel: panel))
    }
}
