import Foundation
import JWT

/// An OpenID Connect provider as configured: who it is, how Flux authenticates to its token endpoint and how
/// it sends the browser back. ``google(issuer:clientID:clientSecret:)`` and ``apple(issuer:clientID:secret:)``
/// hold what differs between the two; everything else (PKCE, state, nonce, ID token checks, linking) is one
/// code path (``OIDCController``).
public struct OIDCSettings: Sendable {
    /// How Flux proves itself at the token endpoint.
    public enum ClientAuthentication: Sendable {
        /// A shared secret, sent as `client_secret`.
        case secret(SecretValue)
        /// Apple's: `client_secret` is a short-lived JWT signed with the team's key.
        case appleSignedSecret(AppleClientSecret)
    }

    /// How the provider hands the authorization code back.
    public enum ResponseMode: String, Sendable {
        /// A redirect to the callback with the code in the query string (`GET …/callback`).
        case query
        /// A cross-site form POST to the callback (`POST …/callback`); Apple requires it when it shares name or email.
        case formPost = "form_post"
    }

    /// The provider's path segment (`/api/auth/oidc/<slug>/…`) and its name in external identities and the audit log.
    public let slug: String
    /// The name people know it by, for messages.
    public let displayName: String
    public let issuer: URL
    public let clientID: String
    public let clientAuthentication: ClientAuthentication
    public let responseMode: ResponseMode
    public let scope: String

    public static func google(issuer: URL, clientID: String, clientSecret: SecretValue) -> OIDCSettings {
        OIDCSettings(slug: "google", displayName: "Google", issuer: issuer, clientID: clientID,
                     clientAuthentication: .secret(clientSecret), responseMode: .query, scope: "openid email profile")
    }

    /// Sign in with Apple: its scopes are `name` and `email`, and asking for either makes `form_post` mandatory.
    public static func apple(issuer: URL, clientID: String, secret: AppleClientSecret) -> OIDCSettings {
        OIDCSettings(slug: "apple", displayName: "Apple", issuer: issuer, clientID: clientID,
                     clientAuthentication: .appleSignedSecret(secret), responseMode: .formPost, scope: "openid email name")
    }

    /// The issuer as the provider writes it, without a trailing slash (`iss` of its ID tokens, `aud` of Apple's secret).
    var issuerIdentifier: String {
        var text = issuer.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }
}

/// Apple's client secret: an ES256 JWT (header `kid` = the key id; `iss` = the team id, `sub` = the client id,
/// `aud` = Apple's issuer, `iat`, `exp`) signed with the private key Apple issued for the team. A fresh one is
/// signed for each token request and lives minutes, so a leaked one is soon worthless.
///
/// The key is never printed: descriptions and mirrors are redacted, like ``SecretValue``.
public struct AppleClientSecret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let teamID: String
    public let keyID: String
    private let key: ES256PrivateKey
    static let lifetime: TimeInterval = 300

    /// Throws when `privateKeyPEM` is not a P-256 private key in PEM (Apple's `AuthKey_<key id>.p8` is PKCS#8).
    public init(teamID: String, keyID: String, privateKeyPEM: String) throws {
        self.teamID = teamID
        self.keyID = keyID
        key = try ES256PrivateKey(pem: privateKeyPEM)
    }

    struct Claims: JWTPayload {
        let iss: IssuerClaim
        let sub: SubjectClaim
        let aud: AudienceClaim
        let iat: IssuedAtClaim
        let exp: ExpirationClaim

        func verify(using algorithm: some JWTAlgorithm) async throws {
            try exp.verifyNotExpired()
        }
    }

    /// A client secret for `clientID`, addressed to `audience`, valid from `now` for ``lifetime``.
    func token(clientID: String, audience: String, now: Date = Date()) async throws -> String {
        let kid = JWKIdentifier(string: keyID)
        let keys = await JWTKeyCollection().add(ecdsa: key, kid: kid)
        // Whole seconds: NumericDate allows fractions, but Apple's examples and libraries send integers.
        let issued = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        return try await keys.sign(Claims(iss: IssuerClaim(value: teamID), sub: SubjectClaim(value: clientID),
                                          aud: AudienceClaim(value: audience), iat: IssuedAtClaim(value: issued),
                                          exp: ExpirationClaim(value: issued.addingTimeInterval(Self.lifetime))),
                                   kid: kid)
    }

    public var description: String { "AppleClientSecret(team: \(teamID), key: \(keyID), <redacted>)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["teamID": teamID, "keyID": keyID]) }
}
