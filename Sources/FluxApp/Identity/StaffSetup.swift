import Fluent
import Foundation
import Vapor

/// The first staff account without a default password: while no staff account exists, each boot logs a
/// one-time link (valid 24 hours, stored only as a hash, older links void) that creates the owner.
enum StaffSetup {
    static let purpose = "staff-setup"
    static let lifetime: TimeInterval = 24 * 3600

    /// A new setup token, or `nil` when staff exists already.
    static func issueIfNeeded(on database: any Database, now: Date = Date()) async throws -> String? {
        guard try await !Accounts.staffExists(on: database) else { return nil }
        return try await database.writeTransaction { transaction in
            try await OneTimeTokens.voidAll(purpose: purpose, on: transaction)
            return try await OneTimeTokens.issue(purpose: purpose, userID: nil, lifetime: lifetime, on: transaction, now: now)
        }
    }

    /// Spends `token`; true when it was a live setup token and no staff account exists yet.
    static func redeem(_ token: String, on database: any Database, now: Date = Date()) async throws -> Bool {
        guard try await !Accounts.staffExists(on: database) else { return false }
        return try await OneTimeTokens.redeem(token, purpose: purpose, on: database, now: now) != nil
    }

    /// Logs a fresh setup link when no staff account exists.
    static func announceIfNeeded(on application: Application, publicURL: URL) async throws {
        guard let token = try await issueIfNeeded(on: application.db) else { return }
        let link = publicURL.appendingPathComponent("hq-command/setup").absoluteString + "#token=" + token
        application.logger.notice(
            "No staff account exists yet. Create the owner with this one-time link (valid 24 h), or run: flux create-admin --email EMAIL",
            metadata: ["setupLink": .string(link)])
    }
}

extension [UInt8] {
    static func random(count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    var base64URL: String { Data(self).base64URLEncodedString() }
}
