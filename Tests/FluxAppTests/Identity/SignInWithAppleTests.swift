@testable import FluxApp
import Crypto
import Foundation
import JWT
import Testing

/// What Flux computes for Sign in with Apple on its own: the client secret and the shared name. The flow itself runs
/// against a provider behaving like Apple's in Tests/integration/test_oidc.py.
@Suite struct SignInWithAppleTests {
    @Test func theClientSecretIsAnES256JWTOnlyTheTeamsKeyVerifies() async throws {
        // setup
        let key = P256.Signing.PrivateKey()
        let secret = try AppleClientSecret(teamID: "TEAM123456", keyID: "KEY1234567", privateKeyPEM: key.pemRepresentation)
        let now = Date(timeIntervalSince1970: (Date().timeIntervalSince1970).rounded(.down))

        // MUT
        let token = try await secret.token(clientID: "com.example.flux", audience: "https://appleid.apple.com", now: now)

        // validate
        let header = try JSONDecoder().decode([String: String].self,
                                              from: try #require(Data(base64URLEncoded: String(token.split(separator: ".")[0]))))
        #expect(header["alg"] == "ES256" && header["kid"] == "KEY1234567")
        let teams = await JWTKeyCollection().add(ecdsa: try ES256PublicKey(pem: key.publicKey.pemRepresentation))
        let claims = try await teams.verify(token, as: AppleClientSecret.Claims.self)
        #expect(claims.iss.value == "TEAM123456" && claims.sub.value == "com.example.flux")
        #expect(claims.aud.value == ["https://appleid.apple.com"])
        #expect(claims.iat.value == now && claims.exp.value == now.addingTimeInterval(300))
        let another = await JWTKeyCollection().add(ecdsa: try ES256PublicKey(pem: P256.Signing.PrivateKey().publicKey.pemRepresentation))
        await #expect(throws: (any Error).self) { try await another.verify(token, as: AppleClientSecret.Claims.self) }
    }

    @Test func theKeyIsNeverPrinted() throws {
        let pem = P256.Signing.PrivateKey().pemRepresentation
        let secret = try AppleClientSecret(teamID: "TEAM123456", keyID: "KEY1234567", privateKeyPEM: pem)
        var dumped = ""
        dump(secret, to: &dumped)
        let body = pem.split(separator: "\n")[1]
        for shown in [String(describing: secret), String(reflecting: secret), dumped] {
            #expect(!shown.contains(body) && shown.contains("KEY1234567"), "\(shown)")
        }
    }

    @Test func theSharedNameNamesANewAccountAndAnythingElseIsIgnored() {
        #expect(AppleUser.name(#"{"name":{"firstName":"Ada","lastName":"Lovelace"},"email":"ada@example.com"}"#) == "Ada Lovelace")
        #expect(AppleUser.name(#"{"name":{"firstName":"Ada"}}"#) == "Ada")
        #expect(AppleUser.name(#"{"email":"ada@example.com"}"#) == nil)
        #expect(AppleUser.name(#"{"name":{"firstName":"  ","lastName":""}}"#) == nil)
        #expect(AppleUser.name("not json") == nil)
        #expect(AppleUser.name(nil) == nil)
    }
}
