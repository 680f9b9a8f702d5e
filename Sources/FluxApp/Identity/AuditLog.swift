import Fluent
import FluxSecurity
import Foundation
import Vapor

/// Writes the append-only audit trail: who (actor, tenant) did what (action) to what (target), from where
/// (keyed IP hash, user agent) and in which request.
struct AuditLog: Sendable {
    let security: Hardening

    func record(_ action: String, actor: UUID?, tenant: UUID?, target: String? = nil, metadata: [String: String]? = nil,
                request: Request) async throws {
        try await Self.write(action, actor: actor, tenant: tenant, target: target, metadata: metadata,
                             ipHash: security.clientAddressHash(request),
                             userAgent: request.headers.first(name: .userAgent).map { Sanitize.headerValue($0, maxLength: 300) },
                             requestID: request.requestID, on: request.db)
    }

    /// An event with no request behind it (an operator's command).
    static func write(_ action: String, actor: UUID?, tenant: UUID?, target: String?, metadata: [String: String]?,
                      ipHash: String? = nil, userAgent: String? = nil, requestID: String? = nil,
                      on database: any Database) async throws {
        let event = AuditEvent()
        event.id = UUID()
        event.occurredAt = Date()
        event.action = action
        event.actorID = actor
        event.tenantID = tenant
        event.target = target.map { String($0.prefix(300)) }
        event.ipHash = ipHash
        event.userAgent = userAgent
        event.requestID = requestID
        if let metadata {
            event.metadata = String(decoding: try JSONEncoder().encode(metadata), as: UTF8.self)
        }
        try await event.create(on: database)
    }
}
