@testable import FluxApp
import Crypto
import FluxSecurity
import Foundation
import Testing
import VaporTesting

/// Tokens an attacker would try, each sent to `GET /api/auth/me`. Most are signed with Flux's real access
/// key (derived from the test's secret), so they fail on the claim or header under test, not on the MAC.
@Suite struct AccessTokenAttackTests {
    struct Forger {
        let key: SymmetricKey
        let kid: String
        let issuer: String

        func segment(_ object: [String: Any]) -> String {
            Data(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).base64URLEncodedString()
        }

        func sign(_ input: String, with key: SymmetricKey) -> String {
            Data(HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: key)).base64URLEncodedString()
        }

        func token(header: [String: Any]? = nil, claims: [String: Any], key: SymmetricKey? = nil) -> String {
            let input = segment(header ?? ["alg": "HS256", "typ": "JWT", "kid": kid]) + "." + segment(claims)
            return input + "." + sign(input, with: key ?? self.key)
        }

        func claims(_ signedIn: SignedIn, role: String = "client_admin", now: Date = Date(),
                    changing changes: [String: Any?] = [:]) -> [String: Any] {
            var claims: [String: Any] = [
                "sub": signedIn.userID.uuidString, "sid": signedIn.sessionID.uuidString, "tid": signedIn.tenantID.uuidString,
                "role": role, "iat": now.timeIntervalSince1970.rounded(.down), "exp": now.timeIntervalSince1970 + 600,
                "iss": issuer, "aud": "flux-api", "jti": UUID().uuidString,
            ]
            for (name, value) in changes { claims[name] = value }
            return claims
        }
    }

    @Test func attackCorpusIsAllRejected() async throws {
        try await withFlux { app, config async throws in
            let tester = try app.testing()
            let victim = try await mintSignedIn(app, role: .clientMember)
            let keys = SecretKeys(secret: config.sessionSecret.value)
            let kid = "hs-" + keys.id.map { String(format: "%02x", $0) }.joined()
            var issuer = config.publicURL.absoluteString
            while issuer.hasSuffix("/") { issuer.removeLast() }
            let forger = Forger(key: keys.key(for: "access-token"), kid: kid, issuer: issuer)

            // Control: a token forged with the real key and honest claims is accepted, so every refusal
            // below is caused by the one thing each case changes.
            let control = forger.token(claims: forger.claims(victim, role: "client_member"))
            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: ["Authorization": "Bearer \(control)"]).status == .ok)

            let publicKeyPEM = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"
            let honest = forger.claims(victim, role: "client_member")
            let valid = forger.token(claims: honest)
            let parts = valid.split(separator: ".").map(String.init)
            let now = Date().timeIntervalSince1970
            var corpus: [(String, String)] = [
                ("alg none", forger.segment(["alg": "none", "typ": "JWT"]) + "." + forger.segment(honest) + "."),
                ("alg none with kid", forger.segment(["alg": "none", "kid": kid]) + "." + forger.segment(honest) + "."),
                ("alg None", forger.segment(["alg": "None", "kid": kid]) + "." + forger.segment(honest) + "."),
                ("RS256 signed with the public key as HMAC secret",
                 forger.token(header: ["alg": "RS256", "kid": kid], claims: honest, key: SymmetricKey(data: Data(publicKeyPEM.utf8)))),
                ("HS256 signed with a public key as secret",
                 forger.token(header: ["alg": "HS256", "kid": kid], claims: honest, key: SymmetricKey(data: Data(publicKeyPEM.utf8)))),
                ("HS512 header", forger.token(header: ["alg": "HS512", "kid": kid], claims: honest)),
                ("lowercase alg", forger.token(header: ["alg": "hs256", "kid": kid], claims: honest)),
                ("no kid", forger.token(header: ["alg": "HS256", "typ": "JWT"], claims: honest)),
                ("unknown kid", forger.token(header: ["alg": "HS256", "kid": "hs-00000000"], claims: honest)),
                ("path traversal kid", forger.token(header: ["alg": "HS256", "kid": "../../../../dev/null"], claims: honest,
                                                    key: SymmetricKey(data: Data()))),
                ("SQL kid", forger.token(header: ["alg": "HS256", "kid": "x' UNION SELECT 'secret"], claims: honest)),
                ("kid with jku", forger.token(header: ["alg": "HS256", "kid": kid, "jku": "https://evil.example/jwks"],
                                              claims: honest, key: SymmetricKey(size: .bits256))),
                ("embedded jwk", forger.token(header: ["alg": "HS256", "kid": kid, "jwk": ["kty": "oct", "k": "AAAA"]],
                                              claims: honest, key: SymmetricKey(data: Data([0, 0, 0])))),
                ("crit header", forger.token(header: ["alg": "HS256", "kid": kid, "crit": ["exp"]], claims: honest)),
                ("wrong typ", forger.token(header: ["alg": "HS256", "kid": kid, "typ": "at+jwt+evil"], claims: honest)),
                ("expired", forger.token(claims: forger.claims(victim, now: Date(timeIntervalSinceNow: -3600)))),
                ("expired beyond leeway", forger.token(claims: forger.claims(victim, changing: ["exp": now - 31]))),
                ("not yet valid (nbf)", forger.token(claims: forger.claims(victim, changing: ["nbf": now + 600]))),
                ("issued in the future", forger.token(claims: forger.claims(victim, changing: ["iat": now + 600, "exp": now + 1200]))),
                ("lifetime longer than 15 min", forger.token(claims: forger.claims(victim, changing: ["exp": now + 86_400]))),
                ("wrong iss", forger.token(claims: forger.claims(victim, changing: ["iss": "https://evil.example"]))),
                ("missing iss", forger.token(claims: forger.claims(victim, changing: ["iss": nil]))),
                ("wrong aud", forger.token(claims: forger.claims(victim, changing: ["aud": "another-api"]))),
                ("extra aud", forger.token(claims: forger.claims(victim, changing: ["aud": ["flux-api", "another-api"]]))),
                ("missing exp", forger.token(claims: forger.claims(victim, changing: ["exp": nil]))),
                ("exp as string", forger.token(claims: forger.claims(victim, changing: ["exp": "never"]))),
                ("missing sid", forger.token(claims: forger.claims(victim, changing: ["sid": nil]))),
                ("unknown role", forger.token(claims: forger.claims(victim, role: "superuser"))),
                ("sub not a uuid", forger.token(claims: forger.claims(victim, changing: ["sub": "admin"]))),
                ("unknown session", forger.token(claims: forger.claims(victim, changing: ["sid": UUID().uuidString]))),
                ("tampered payload",
                 parts[0] + "." + forger.segment(forger.claims(victim, role: "owner")) + "." + parts[2]),
                ("tampered signature", parts[0] + "." + parts[1] + "." + String(parts[2].reversed())),
                ("signature of another key", forger.token(claims: honest, key: SymmetricKey(size: .bits256))),
                ("empty signature", parts[0] + "." + parts[1] + "."),
                ("truncated to two parts", parts[0] + "." + parts[1]),
                ("truncated signature", parts[0] + "." + parts[1] + "." + parts[2].dropLast(5)),
                ("four parts", valid + ".AAAA"),
                ("not base64", "%%%." + parts[1] + "." + parts[2]),
                ("header not JSON", Data("not json".utf8).base64URLEncodedString() + "." + parts[1] + "." + parts[2]),
                ("payload an array", forger.token(claims: [:]).split(separator: ".")[0] + "." + Data("[1,2]".utf8).base64URLEncodedString() + "." + parts[2]),
                ("oversized", forger.token(claims: forger.claims(victim, changing: ["pad": String(repeating: "A", count: 10_000)]))),
                ("empty", ""),
                ("whitespace inside", parts[0] + ". " + parts[1] + "." + parts[2]),
            ]
            corpus.append(("padding on the signature", valid + "=="))
            var accepted: [String] = []
            for (name, token) in corpus {
                let response = try await tester.sendRequest(.GET, "/api/auth/me", headers: ["Authorization": "Bearer \(token)"])
                if response.status != .unauthorized { accepted.append("\(name): \(response.status.code)") }
            }
            #expect(accepted.isEmpty, "accepted: \(accepted)")
            #expect(corpus.count >= 40)
        }
    }

    @Test func tokensOfAPreviousSecretStayValidDuringRotation() async throws {
        try await withFlux { app, config async throws in
            let signedIn = try await mintSignedIn(app, role: .clientMember)
            let bearer = signedIn.bearer
            var rotated = config
            rotated.sessionSecret = SecretValue("a-new-session-secret-that-is-long-enough-00002")
            rotated.previousSessionSecret = config.sessionSecret
            try await withAnotherInstance(rotated) { second async throws in
                #expect(try await second.testing().sendRequest(.GET, "/api/auth/verify", headers: bearer).status == .ok)
                // New tokens come from the new secret, and the old instance (without it) refuses them.
                let fresh = try await mintSignedIn(second, role: .clientMember)
                #expect(try await app.testing().sendRequest(.GET, "/api/auth/verify", headers: fresh.bearer).status == .unauthorized)
            }
            var retired = rotated
            retired.previousSessionSecret = nil
            try await withAnotherInstance(retired) { third async throws in
                #expect(try await third.testing().sendRequest(.GET, "/api/auth/verify", headers: bearer).status == .unauthorized)
            }
        }
    }
}
