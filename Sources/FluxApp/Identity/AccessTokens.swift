import FluxSecurity
import Foundation
import JWT
import NIOConcurrencyHelpers
import Vapor

/// The claims of a Flux access token.
struct AccessClaims: JWTPayload, Content {
    let sub: SubjectClaim
    let sid: UUID
    let tid: UUID
    let role: Role
    let iat: IssuedAtClaim
    let exp: ExpirationClaim
    let iss: IssuerClaim
    let aud: AudienceClaim
    let jti: IDClaim
    /// Not a claim Flux issues, but a token that carries one is held to it.
    var nbf: NotBeforeClaim?

    /// Expiry is checked by ``AccessTokens/verify(_:now:)``, which holds the clock and the leeway.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// The claims of a sign-in that waits for its second factor.
struct MFAChallengeClaims: JWTPayload {
    static let audience = "flux-mfa-challenge"
    static let lifetime: TimeInterval = 5 * 60

    enum Purpose: String, Codable, Sendable {
        /// The account has a factor: a code completes the sign-in.
        case verify
        /// The role requires a factor the account does not have yet: enrol one, then the sign-in completes.
        case enroll
    }

    let sub: SubjectClaim
    let tid: UUID
    let role: Role
    let purpose: Purpose
    let cookies: Bool
    let iat: IssuedAtClaim
    let exp: ExpirationClaim
    let iss: IssuerClaim
    let aud: AudienceClaim
    let jti: IDClaim

    /// Checked by ``AccessTokens/verifyChallenge(_:purpose:now:)``.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Signs and verifies access tokens: HS256 JWTs (vapor/jwt) for 15 minutes, under a key derived from
/// SESSION_SECRET for this purpose alone and named by a key id, so a previous secret's tokens verify during
/// a rotation.
///
/// Verification pins everything an attacker could choose: the header must say HS256 and name a key id Flux
/// holds (no `none`, no RS/HS confusion, no fallback to a default key), the token must be at most 2 KiB
/// and three base64url parts, and iss, aud, exp, iat and nbf are checked with 30 s of leeway.
struct AccessTokens: Sendable {
    static let audience = "flux-api"
    static let leeway: TimeInterval = 30
    static let maximumLength = 2048

    let keys: JWTKeyCollection
    /// Tokens already verified, by their exact text: a client sends the same token for up to 15 minutes,
    /// and parsing and MACing it each time was most of what an authenticated request cost (bench/auth.sh).
    /// Only an identical string hits, and its expiry is still checked on every use.
    private let verified = VerifiedTokenCache(capacity: 20_000)
    let currentKeyID: String
    let acceptedKeyIDs: Set<String>
    let issuer: String
    /// How long an access token is valid (ACCESS_TOKEN_SECONDS).
    let lifetime: TimeInterval

    init(keys: JWTKeyCollection, secrets: [SecretKeys], issuer: String, lifetime: TimeInterval) async {
        self.keys = keys
        self.lifetime = lifetime
        currentKeyID = Self.keyID(secrets[0])
        acceptedKeyIDs = Set(secrets.map(Self.keyID))
        for secret in secrets {
            await keys.add(hmac: HMACKey(key: secret.key(for: "access-token")), digestAlgorithm: .sha256,
                           kid: JWKIdentifier(string: Self.keyID(secret)))
        }
        self.issuer = issuer
    }

    private static func keyID(_ keys: SecretKeys) -> String {
        "hs-" + keys.id.hexString
    }

    func issue(userID: UUID, sessionID: UUID, tenantID: UUID, role: Role, now: Date = Date()) async throws -> String {
        let issuedAt = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        let claims = AccessClaims(
            sub: .init(value: userID.uuidString), sid: sessionID, tid: tenantID, role: role,
            iat: .init(value: issuedAt), exp: .init(value: issuedAt.addingTimeInterval(lifetime)),
            iss: .init(value: issuer), aud: .init(value: Self.audience), jti: .init(value: UUID().uuidString))
        return try await sign(claims)
    }

    /// `claims` signed with the current secret's key, in the one header shape ``hasPinnedShape(_:)`` accepts.
    private func sign(_ claims: some JWTPayload) async throws -> String {
        var header = JWTHeader()
        header.typ = "JWT"
        header.kid = currentKeyID
        header.alg = "HS256"
        return try await keys.sign(claims, kid: JWKIdentifier(string: currentKeyID), header: header)
    }

    /// The claims of `token`, or `nil` when anything about it is wrong.
    func verify(_ token: String, now: Date = Date()) async -> AccessClaims? {
        if let claims = verified.claims(for: token) {
            return claims.exp.value > now.addingTimeInterval(-Self.leeway) ? claims : nil
        }
        guard let claims = await verifyUncached(token, now: now) else { return nil }
        verified.insert(claims, for: token)
        return claims
    }

    private func verifyUncached(_ token: String, now: Date) async -> AccessClaims? {
        guard hasPinnedShape(token), let claims = try? await keys.verify(token, as: AccessClaims.self) else { return nil }
        guard claims.iss.value == issuer, claims.aud.value == [Self.audience],
            claims.exp.value > now.addingTimeInterval(-Self.leeway),
            claims.iat.value <= now.addingTimeInterval(Self.leeway),
            claims.exp.value.timeIntervalSince(claims.iat.value) <= lifetime,
            UUID(uuidString: claims.sub.value) != nil
        else { return nil }
        if let notBefore = claims.nbf?.value, notBefore > now.addingTimeInterval(Self.leeway) { return nil }
        return claims
    }

    /// At most 2 KiB, three non-empty parts, and a header saying HS256 with a key id this server holds.
    private func hasPinnedShape(_ token: String) -> Bool {
        guard token.utf8.count <= Self.maximumLength else { return false }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }),
            let headerData = Data(base64URLEncoded: String(parts[0])),
            let header = try? JSONDecoder().decode(PinnedHeader.self, from: headerData),
            header.alg == "HS256", header.typ == nil || header.typ == "JWT", header.crit == nil,
            let kid = header.kid
        else { return false }
        return acceptedKeyIDs.contains(kid)
    }

    /// A short-lived token that a password sign-in hands out when a second factor must follow (or be
    /// enrolled): same keys as access tokens, but its own audience, so neither passes for the other.
    func issueChallenge(userID: UUID, tenantID: UUID, role: Role, purpose: MFAChallengeClaims.Purpose, cookies: Bool,
                        now: Date = Date()) async throws -> String {
        let issuedAt = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        let claims = MFAChallengeClaims(
            sub: .init(value: userID.uuidString), tid: tenantID, role: role, purpose: purpose, cookies: cookies,
            iat: .init(value: issuedAt), exp: .init(value: issuedAt.addingTimeInterval(MFAChallengeClaims.lifetime)),
            iss: .init(value: issuer), aud: .init(value: MFAChallengeClaims.audience), jti: .init(value: UUID().uuidString))
        return try await sign(claims)
    }

    func verifyChallenge(_ token: String, purpose: MFAChallengeClaims.Purpose, now: Date = Date()) async -> MFAChallengeClaims? {
        guard hasPinnedShape(token), let claims = try? await keys.verify(token, as: MFAChallengeClaims.self),
            claims.iss.value == issuer, claims.aud.value == [MFAChallengeClaims.audience], claims.purpose == purpose,
            claims.exp.value > now, claims.iat.value <= now.addingTimeInterval(Self.leeway),
            UUID(uuidString: claims.sub.value) != nil
        else { return nil }
        return claims
    }

    /// The session a token names, read without checking it: only for binding CSRF tokens to a session,
    /// where a forged value gains nothing (the request is still authenticated by ``verify(_:now:)``).
    static func unverifiedSessionID(_ token: String) -> String? {
        guard token.utf8.count <= maximumLength else { return nil }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let payload = Data(base64URLEncoded: String(parts[1])),
            let body = try? JSONDecoder().decode(SessionOnly.self, from: payload)
        else { return nil }
        return body.sid
    }

    private struct SessionOnly: Decodable {
        let sid: String
    }

    private struct PinnedHeader: Decodable {
        let alg: String?
        let kid: String?
        let typ: String?
        let crit: [String]?
    }
}

/// A bounded map from token text to its verified claims; emptied when full rather than keeping an eviction
/// order on the hot path.
final class VerifiedTokenCache: Sendable {
    private let capacity: Int
    private let entries = NIOLockedValueBox<[String: AccessClaims]>([:])

    init(capacity: Int) {
        self.capacity = capacity
    }

    func claims(for token: String) -> AccessClaims? {
        entries.withLockedValue { $0[token] }
    }

    func insert(_ claims: AccessClaims, for token: String) {
        entries.withLockedValue { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[token] = claims
        }
    }
}
