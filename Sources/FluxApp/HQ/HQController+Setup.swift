import Fluent
import FluxSecurity
import Foundation
import Vapor

extension HQController {
    /// The moves a setup request may make: pending → approved | rejected, approved → provisioned | rejected.
    static let setupTransitions: [SetupRequest.Status: Set<SetupRequest.Status>] = [
        .pending: [.approved, .rejected], .approved: [.provisioned, .rejected],
    ]

    struct SetupStatusBody: Content {
        let status: String
    }

    /// `PUT /api/hq/setup-requests/:requestID/status` `{status}` (engineers, admins, owners). Provisioning
    /// writes the tenant's configuration from the request and makes the tenant active; every move is audited.
    @Sendable func changeSetupRequest(_ request: Request, _ principal: Principal) async throws -> PortalController.SetupRequestView {
        let body = try request.content.decode(SetupStatusBody.self)
        guard let next = SetupRequest.Status(rawValue: body.status) else {
            throw AppError.invalidFields(["status": "must be one of approved, provisioned, rejected"])
        }
        guard let id = request.parameters.get("requestID", as: UUID.self), let setup = try await SetupRequest.find(id, on: request.db) else {
            throw AppError.notFound("No such setup request.")
        }
        let previous = setup.status
        guard Self.setupTransitions[previous]?.contains(next) == true else {
            throw AppError(.conflict, code: "invalid_transition", message: "A \(previous.rawValue) request cannot become \(next.rawValue).")
        }
        let configured = try await request.db.writeTransaction { transaction -> Bool in
            setup.status = next
            setup.updatedAt = Date()
            try await setup.update(on: transaction)
            guard let tenant = try await Tenant.find(setup.tenantID, on: transaction) else { return false }
            var configured = false
            switch next {
            case .provisioned:
                if try await TenantConfig.query(on: transaction).filter(\.$tenantID == tenant.id!).first() == nil {
                    configured = true
                    let config = TenantConfig()
                    config.tenantID = tenant.id!
                    config.templateType = setup.templateType
                    config.businessName = tenant.name
                    config.language = "en"
                    config.openingHours = "{}"
                    config.updatedAt = Date()
                    try await config.create(on: transaction)
                }
                tenant.status = "active"
                tenant.phone = setup.contactNumber
            case .rejected:
                tenant.status = "onboarding"
            case .approved, .pending:
                tenant.status = "approved"
            }
            try await tenant.update(on: transaction)
            return configured
        }
        // The first configuration is version 1 of what the organization's workers are told.
        if configured { try await request.application.workerControl.configurationWritten(for: setup.tenantID, on: request.db) }
        try await audit.record("setup_request." + next.rawValue, actor: principal.userID, tenant: setup.tenantID, target: id.uuidString,
                                        metadata: ["from": previous.rawValue], request: request)
        await Notifications.setupRequestChanged(setup, request: request)
        return PortalController.view(setup)
    }
}
