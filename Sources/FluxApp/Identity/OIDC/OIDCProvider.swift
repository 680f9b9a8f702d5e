import FluxSecurity
import Foundation
import JWT
import NIOConcurrencyHelpers
import Vapor

/// The claims Flux reads from an ID token.
struct IDTokenClaims: JWTPayload {
    let iss: IssuerClaim
    let sub: SubjectClaim
    let aud: AudienceClaim
    let exp: ExpirationClaim
    let iat: IssuedAtClaim
    let azp: String?
    let nonce: String?
    let email: String?
    let email_verified: BoolClaim?
    let name: String?

    /// Checked by ``OIDCProvider/verify(idToken:nonce:client:now:)``, which knows the issuer, audience and nonce.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

struct OIDCFailure: Error {
    let reason: String
}

/// One provider's discovery document and signing keys, fetched when first needed and cached: the document
/// for an hour, the keys until a token names a key id they do not have (the provider rotated), when they
/// are fetched again (at most every 2 s, so forged key ids cannot make Flux hammer the provider).
final class OIDCProvider: Sendable {
    let settings: OIDCSettings
    private let cache = NIOLockedValueBox(Cache())

    struct Discovery: Codable, Sendable {
        let issuer: String
        let authorization_endpoint: String
        let token_endpoint: String
        let jwks_uri: String
    }

    private struct Cache {
        var discovery: Discovery?
        var discoveredAt = Date.distantPast
        var keys: JWTKeyCollection?
        var keyIDs: Set<String> = []
        var keysFetchedAt = Date.distantPast
    }

    init(settings: OIDCSettings) {
        self.settings = settings
    }

    func discovery(client: any Client, now: Date = Date()) async throws -> Discovery {
        let (cached, discoveredAt) = cache.withLockedValue { ($0.discovery, $0.discoveredAt) }
        if let cached, now.timeIntervalSince(discoveredAt) < 3600 { return cached }
        let url = settings.issuerIdentifier
        let response = try await client.get(URI(string: url + "/.well-known/openid-configuration"))
        guard response.status == .ok else { throw OIDCFailure(reason: "discovery answered \(response.status.code)") }
        let document = try response.content.decode(Discovery.self)
        // The document must speak for the configured issuer, or a redirect could substitute another provider.
        guard document.issuer.trimmingCharacters(in: CharacterSet(charactersIn: "/")) == url.trimmingCharacters(in: CharacterSet(charactersIn: "/")) else {
            throw OIDCFailure(reason: "discovery names another issuer")
        }
        cache.withLockedValue {
            $0.discovery = document
            $0.discoveredAt = now
        }
        return document
    }

    /// The `client_secret` of a token request: the configured secret, or a freshly signed Apple client secret.
    func clientSecret(now: Date = Date()) async throws -> String {
        switch settings.clientAuthentication {
        case .secret(let secret): secret.value
        case .appleSignedSecret(let secret): try await secret.token(clientID: settings.clientID, audience: settings.issuerIdentifier, now: now)
        }
    }

    private func keys(for kid: String, discovery: Discovery, client: any Client, now: Date) async throws -> JWTKeyCollection {
        let (current, known, fetchedAt) = cache.withLockedValue { ($0.keys, $0.keyIDs, $0.keysFetchedAt) }
        if let current, known.contains(kid) { return current }
        guard now.timeIntervalSince(fetchedAt) >= 2 || current == nil else { throw OIDCFailure(reason: "unknown signing key") }
        let response = try await client.get(URI(string: discovery.jwks_uri))
        guard response.status == .ok, let body = response.body else { throw OIDCFailure(reason: "JWKS answered \(response.status.code)") }
        let jwks = try JSONDecoder().decode(JWKS.self, from: Data(buffer: body))
        let fresh = JWTKeyCollection()
        var ids = Set<String>()
        for key in jwks.keys {
            guard let id = key.keyIdentifier?.string, (try? await fresh.add(jwk: key)) != nil else { continue }
            ids.insert(id)
        }
        cache.withLockedValue {
            $0.keys = fresh
            $0.keyIDs = ids
            $0.keysFetchedAt = now
        }
        guard ids.contains(kid) else { throw OIDCFailure(reason: "unknown signing key") }
        return fresh
    }

    /// The claims of `idToken` once its RS256 signature (by a key of the provider's JWKS), issuer, audience,
    /// expiry, nonce and verified email all check out.
    func verify(idToken: String, nonce: String, client: any Client, now: Date = Date()) async throws -> IDTokenClaims {
        let parts = idToken.split(separator: ".", omittingEmptySubsequences: false)
        guard idToken.utf8.count <= 16_384, parts.count == 3,
            let headerData = Data(base64URLEncoded: String(parts[0])),
            let header = try? JSONDecoder().decode(Header.self, from: headerData),
            header.alg == "RS256", let kid = header.kid
        else { throw OIDCFailure(reason: "malformed token or algorithm other than RS256") }
        let discovery = try await discovery(client: client, now: now)
        let keys = try await keys(for: kid, discovery: discovery, client: client, now: now)
        let claims: IDTokenClaims
        do {
            claims = try await keys.verify(idToken, as: IDTokenClaims.self)
        } catch {
            throw OIDCFailure(reason: "signature")
        }
        guard claims.iss.value == discovery.issuer else { throw OIDCFailure(reason: "issuer") }
        guard claims.aud.value.contains(settings.clientID),
            claims.aud.value.count == 1 || claims.azp == settings.clientID
        else { throw OIDCFailure(reason: "audience") }
        guard claims.exp.value > now.addingTimeInterval(-60), claims.iat.value <= now.addingTimeInterval(60) else {
            throw OIDCFailure(reason: "expired")
        }
        guard let tokenNonce = claims.nonce, ConstantTimeComparison.equals(tokenNonce, nonce) else { throw OIDCFailure(reason: "nonce") }
        guard claims.email_verified?.value == true, claims.email.flatMap(EmailAddress.normalized) != nil else {
            throw OIDCFailure(reason: "email not verified")
        }
        return claims
    }

    private struct Header: Decodable {
        let alg: String?
        let kid: String?
    }
}
