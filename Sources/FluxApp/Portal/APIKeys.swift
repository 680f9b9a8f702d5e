import Crypto
import Fluent
import FluxSecurity
import Foundation
import Vapor

/// Keys for machine clients (a tenant's workers), replacing the one shared `x-portal-key` of the system
/// Flux replaces. A key is `fxk_` + its id (32 hex) + a 256-bit secret (64 hex), shown once; Flux keeps
/// the secret's SHA-256 (the secret is random, so a slow hash adds nothing) and compares it in constant
/// time. Each key belongs to one tenant and carries scopes; a rotation keeps the old key working for
/// ``rotationGrace`` beside its successor, never more than two at once; every use and refusal is audited.
struct APIKeys: Sendable {
    enum Scope: String, CaseIterable, Sendable {
        case heartbeat
        case logsWrite = "logs:write"
        /// Reading the control plane's desired state.
        case worker
    }

    static let prefix = "fxk_"
    static let length = 4 + 32 + 64
    static let rotationGrace: TimeInterval = 24 * 3600
    static let invalid = AppError(.unauthorized, code: "invalid_api_key", message: "The API key is missing, wrong, expired or revoked.",
                                  headers: ["WWW-Authenticate": "Bearer"])

    let audit: AuditLog

    /// A new key's text and its row (not yet saved).
    static func mint(tenantID: UUID, name: String, scopes: [Scope], createdBy: UUID?, now: Date = Date()) -> (text: String, key: APIKey) {
        let id = UUID()
        let secret = [UInt8].random(count: 32).hexString
        let key = APIKey()
        key.id = id
        key.tenantID = tenantID
        key.name = name
        key.scopes = scopes.map(\.rawValue).joined(separator: " ")
        key.secretHash = SHA256.hash(data: Data(secret.utf8)).hexString
        key.createdBy = createdBy
        key.createdAt = now
        return (prefix + id.uuidString.replacingOccurrences(of: "-", with: "").lowercased() + secret, key)
    }

    /// The caller's key, if `Authorization: Bearer fxk_…` names an active key of this tenant's with `scope`.
    /// Wrong, expired or revoked → 401; a valid key without the scope → 403. Both audited, as is each use
    /// unless `auditUse` is false (a worker's long poll, repeated all day, would bury the log).
    func authenticate(_ request: Request, scope: Scope, auditUse: Bool = true, now: Date = Date()) async throws -> APIKey {
        guard let presented = request.headers.bearerToken, presented.utf8.count == Self.length,
            presented.hasPrefix(Self.prefix),
            let id = Self.keyID(presented.dropFirst(4).prefix(32))
        else { throw Self.invalid }
        let secret = String(presented.suffix(64))
        guard let key = try await APIKey.find(id, on: request.db),
            ConstantTimeComparison.equals(SHA256.hash(data: Data(secret.utf8)).hexString, key.secretHash),
            key.isActive(at: now)
        else {
            try await audit.record("apikey.refused", actor: nil, tenant: nil, target: id.uuidString, request: request)
            throw Self.invalid
        }
        guard key.scopes.split(separator: " ").contains(Substring(scope.rawValue)) else {
            try await audit.record("apikey.forbidden", actor: nil, tenant: key.tenantID, target: id.uuidString,
                                   metadata: ["scope": scope.rawValue], request: request)
            throw AppError.forbidden("This key does not allow \(scope.rawValue).")
        }
        // Known to the minute: a worker calling every few seconds need not write the row each time.
        if key.lastUsedAt.map({ now.timeIntervalSince($0) >= 60 }) ?? true {
            key.lastUsedAt = now
            try await key.update(on: request.db)
        }
        guard auditUse else { return key }
        try await audit.record("apikey.used", actor: nil, tenant: key.tenantID, target: id.uuidString,
                               metadata: ["scope": scope.rawValue, "name": key.name], request: request)
        return key
    }

    private static func keyID(_ hex: Substring) -> UUID? {
        guard hex.count == 32, hex.allSatisfy(\.isHexDigit) else { return nil }
        let h = Array(hex)
        return UUID(uuidString: String(h[0..<8]) + "-" + String(h[8..<12]) + "-" + String(h[12..<16]) + "-" + String(h[16..<20])
                    + "-" + String(h[20..<32]))
    }
}
