import Crypto
import Fluent
import FluxSecurity
import Foundation
import SQLKit
import Vapor

/// TOTP enrolment and checks, and recovery codes.
struct MultiFactor: Sendable {
    static let issuer = "Flux"
    static let recoveryCodeCount = 10

    let identity: Identity

    /// Whether the account has a confirmed authenticator app.
    func isEnabled(_ userID: UUID, on database: any Database) async throws -> Bool {
        try await MfaFactor.query(on: database).filter(\.$userID == userID).filter(\.$confirmedAt != nil).first() != nil
    }

    /// Whether the account has any second factor: the authenticator app or a passkey that can still sign in.
    func hasAnyFactor(_ userID: UUID, on database: any Database) async throws -> Bool {
        if try await isEnabled(userID, on: database) { return true }
        return try await identity.passkeys.hasUsable(userID, on: database)
    }

    struct Enrolment: Content {
        let secret: String
        let otpauthUri: String
        /// The URI as a QR code for the authenticator app to scan: an SVG image as a `data:` URL, which a page shows
        /// in an `<img>` (the CSP allows `data:` images, and an image runs no script).
        let qrCode: String
    }

    /// A new, unconfirmed factor (replacing an earlier unconfirmed one); `nil` when one is confirmed already.
    func begin(for user: User, on database: any Database, now: Date = Date()) async throws -> Enrolment? {
        guard try await !isEnabled(user.id!, on: database) else { return nil }
        let secret = [UInt8].random(count: 20)
        try await MfaFactor.query(on: database).filter(\.$userID == user.id!).delete()
        try await MfaFactor(userID: user.id!, sealedSecret: try identity.secretBox.seal(secret), now: now).create(on: database)
        let uri = TOTP.provisioningURI(secret: secret, account: user.email, issuer: Self.issuer)
        let svg = try QRCode(uri).svg()
        return Enrolment(secret: Base32.encode(secret), otpauthUri: uri,
                         qrCode: "data:image/svg+xml;base64," + Data(svg.utf8).base64EncodedString())
    }

    /// Confirms the pending factor with a first code and returns fresh recovery codes; `nil` for a wrong code
    /// or no pending factor.
    func confirm(_ userID: UUID, code: String, on database: any Database, now: Date = Date()) async throws -> [String]? {
        guard let factor = try await MfaFactor.query(on: database).filter(\.$userID == userID).filter(\.$confirmedAt == nil).first(),
            let step = TOTP.matchingStep(code, secret: try identity.secretBox.open(factor.sealedSecret), at: now)
        else { return nil }
        factor.confirmedAt = now
        factor.lastUsedStep = step
        try await factor.update(on: database)
        return try await replaceRecoveryCodes(userID, on: database, now: now)
    }

    /// Whether `code` is a current code of the user's confirmed factor that has not been used. The step is
    /// claimed with one conditional update, so two requests racing with one code cannot both pass.
    func check(_ userID: UUID, code: String, on database: any Database, now: Date = Date()) async throws -> Bool {
        guard let factor = try await MfaFactor.query(on: database).filter(\.$userID == userID).filter(\.$confirmedAt != nil).first(),
            let step = TOTP.matchingStep(code, secret: try identity.secretBox.open(factor.sealedSecret), at: now)
        else { return false }
        let claimed = try await database.sql.raw("""
            UPDATE mfa_factors SET last_used_step = \(bind: step)
            WHERE id = \(bind: factor.id!) AND (last_used_step IS NULL OR last_used_step < \(bind: step))
            RETURNING id
            """).first()
        return claimed != nil
    }

    /// Spends one recovery code; false when it is unknown or used.
    func useRecoveryCode(_ userID: UUID, code: String, on database: any Database, now: Date = Date()) async throws -> Bool {
        let claimed = try await database.sql.raw("""
            UPDATE recovery_codes SET used_at = \(bind: now)
            WHERE user_id = \(bind: userID) AND code_hash = \(bind: Self.hash(code)) AND used_at IS NULL
            RETURNING id
            """).first()
        return claimed != nil
    }

    /// Whether the account has a recovery code left to use.
    func hasRecoveryCodes(_ userID: UUID, on database: any Database) async throws -> Bool {
        try await RecoveryCode.query(on: database).filter(\.$userID == userID).filter(\.$usedAt == nil).count() > 0
    }

    /// Ten new codes, shown once; the old ones stop working.
    func replaceRecoveryCodes(_ userID: UUID, on database: any Database, now: Date = Date()) async throws -> [String] {
        let codes = (0..<Self.recoveryCodeCount).map { _ in Self.newRecoveryCode() }
        try await database.writeTransaction { transaction in
            try await RecoveryCode.query(on: transaction).filter(\.$userID == userID).delete()
            for code in codes {
                try await RecoveryCode(userID: userID, codeHash: Self.hash(code), now: now).create(on: transaction)
            }
        }
        return codes
    }

    /// Removes the authenticator app; its recovery codes go too unless a passkey remains, whose lost device they
    /// then stand in for.
    func disable(_ userID: UUID, on database: any Database) async throws {
        let keepCodes = try await identity.passkeys.hasUsable(userID, on: database)
        try await database.writeTransaction { transaction in
            try await MfaFactor.query(on: transaction).filter(\.$userID == userID).delete()
            if !keepCodes { try await RecoveryCode.query(on: transaction).filter(\.$userID == userID).delete() }
        }
    }

    /// 80 random bits as four groups of four base32 characters: typed by hand, never guessed.
    static func newRecoveryCode() -> String {
        let encoded = Base32.encode([UInt8].random(count: 10))
        return stride(from: 0, to: 16, by: 4).map { offset in
            String(encoded.dropFirst(offset).prefix(4))
        }.joined(separator: "-")
    }

    /// Codes compare without case, dashes or spaces, as people type them.
    static func hash(_ code: String) -> String {
        let normalized = code.uppercased().filter { $0 != "-" && $0 != " " }
        return SHA256.hash(data: Data(normalized.utf8)).hexString
    }
}
