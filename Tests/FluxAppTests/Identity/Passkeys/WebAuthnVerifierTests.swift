@testable import FluxApp
import Foundation
import Testing

@Suite struct WebAuthnVerifierTests {
    static let party = RelyingParty(id: "example.com", origins: ["https://example.com", "https://www.example.com"])
    static let challenge: [UInt8] = Array("a challenge of 32 random bytes!!".utf8)
    static let otherChallenge: [UInt8] = Array("another challenge, also 32 bytes".utf8)

    static func authenticator(_ algorithm: SoftwareAuthenticator.Algorithm = .es256) -> SoftwareAuthenticator {
        SoftwareAuthenticator(rpID: party.id, origin: "https://example.com", algorithm: algorithm)
    }

    static func register(_ authenticator: SoftwareAuthenticator, challenge: [UInt8] = challenge) throws -> WebAuthnVerifier.Registration {
        let response = authenticator.register(challenge: Self.challenge)
        return try WebAuthnVerifier.verifyRegistration(
            clientDataJSON: response.clientDataJSON, attestationObject: response.attestationObject,
            challenge: challenge, relyingParty: party)
    }

    /// Verifies the authenticator's next assertion, after `change`, against `key` stored with `storedSignCount`.
    static func assert(
        _ authenticator: inout SoftwareAuthenticator, key: [UInt8], storedSignCount: UInt32 = 0,
        challenge: [UInt8] = challenge,
        change: (inout (clientDataJSON: [UInt8], authenticatorData: [UInt8], signature: [UInt8])) -> Void = { _ in }
    ) throws -> WebAuthnVerifier.Assertion {
        var response = authenticator.assert(challenge: Self.challenge, userHandle: [1, 2, 3])
        change(&response)
        return try WebAuthnVerifier.verifyAssertion(
            clientDataJSON: response.clientDataJSON, authenticatorData: response.authenticatorData,
            signature: response.signature, challenge: challenge, publicKey: key, storedSignCount: storedSignCount,
            relyingParty: party)
    }

    /// The failure `body` throws; the test fails when it throws nothing or something else.
    static func failure(_ body: () throws -> Any) -> String? {
        do {
            _ = try body()
            Issue.record("accepted")
            return nil
        } catch let failure as WebAuthnFailure {
            return failure.reason
        } catch {
            Issue.record("threw \(error), not a WebAuthnFailure")
            return nil
        }
    }

    // MARK: - Happy paths

    @Test(arguments: [SoftwareAuthenticator.Algorithm.es256, .rs256])
    func aRegisteredPasskeySignsIn(_ algorithm: SoftwareAuthenticator.Algorithm) throws {
        // setup
        var authenticator = Self.authenticator(algorithm)
        authenticator.flags = 0x1D // UP, UV, BE, BS

        // MUT
        let registration = try Self.register(authenticator)
        let first = try Self.assert(&authenticator, key: registration.publicKey, storedSignCount: registration.signCount)
        let second = try Self.assert(&authenticator, key: registration.publicKey, storedSignCount: first.signCount)

        // validate
        #expect(registration.credentialID == authenticator.credentialID)
        #expect(registration.publicKey == authenticator.publicKeyCOSE)
        #expect(registration.algorithm == (algorithm == .es256 ? -7 : -257))
        #expect(registration.signCount == 0)
        #expect(registration.backupEligible && registration.backedUp)
        #expect(first.signCount == 1 && second.signCount == 2)
        #expect(first.backedUp)
        #expect(authenticator.userHandle == [1, 2, 3])
    }

    @Test func aPasskeyThatNeverCountsSignsInAgainAndAgain() throws {
        var authenticator = Self.authenticator()
        let registration = try Self.register(authenticator)
        authenticator.signCount = UInt32.max // wraps to 0 on the next assertion, as a counter-less authenticator sends
        let assertion = try Self.assert(&authenticator, key: registration.publicKey)
        #expect(assertion.signCount == 0)
        #expect(!assertion.backedUp)
        #expect(!registration.backupEligible && !registration.backedUp)
    }

    @Test func anyListedOriginIsAccepted() throws {
        var authenticator = Self.authenticator()
        authenticator.origin = "https://www.example.com"
        #expect(try Self.register(authenticator).algorithm == -7)
    }

    // MARK: - Registration refusals

    @Test func registrationRefusals() throws {
        func refusal(_ change: (inout SoftwareAuthenticator) -> Void) -> String? {
            var authenticator = Self.authenticator()
            change(&authenticator)
            return Self.failure { try Self.register(authenticator) }
        }
        #expect(refusal { $0.origin = "https://evil.example" } == "The origin is not allowed.")
        #expect(refusal { $0.origin = "http://example.com" } == "The origin is not allowed.")
        #expect(refusal { $0.origin = "https://example.com/" } == "The origin is not allowed.")
        #expect(refusal { $0.origin = "https://EXAMPLE.com" } == "The origin is not allowed.")
        #expect(refusal { $0.clientDataType = "webauthn.get" } == "The client data has the wrong type.")
        #expect(refusal { $0.crossOrigin = true } == "Cross-origin requests are refused.")
        #expect(refusal { $0.rpID = "evil.example" } == "The authenticator data is for another relying party.")
        #expect(refusal { $0.flags = 0x04 } == "The user was not present.")
        #expect(refusal { $0.flags = 0x01 } == "The user was not verified.")
        #expect(refusal { $0.flags = 0x15 } == "A credential that cannot be backed up reports that it is.")
        #expect(refusal { $0.omitAttestedCredentialData = true } == "The authenticator data has no attested credential.")
        #expect(refusal { $0.flags = 0x85 } == "The authenticator extensions are not a CBOR map.")
        #expect(refusal { $0.attestationFormat = "packed" } == "Only \"none\" attestation is accepted.")
        #expect(Self.failure { try Self.register(Self.authenticator(), challenge: Self.otherChallenge) }
            == "The challenge does not match.")
    }

    /// Registrations built by hand around one wrong part; the rest is what a real authenticator sends.
    @Test func malformedAttestationObjectsAreRefused() throws {
        let authenticator = Self.authenticator()
        let response = authenticator.register(challenge: Self.challenge)
        let attestation = try CBOR.decodeWhole(response.attestationObject)
        guard case .bytes(let authenticatorData)? = attestation[.text("authData")] else { throw WebAuthnFailure(reason: "no authData") }
        func verify(_ attestationObject: [UInt8]) -> String? {
            Self.failure {
                try WebAuthnVerifier.verifyRegistration(
                    clientDataJSON: response.clientDataJSON, attestationObject: attestationObject,
                    challenge: Self.challenge, relyingParty: Self.party)
            }
        }
        func object(statement: CBOR = .map([]), authData: CBOR) -> [UInt8] {
            CBORTests.map((.text("fmt"), .text("none")), (.text("attStmt"), statement), (.text("authData"), authData)).encoded()
        }
        #expect(verify(object(statement: CBORTests.map((.text("sig"), .bytes([1]))), authData: .bytes(authenticatorData)))
            == "A \"none\" attestation must have an empty statement.")
        #expect(verify(object(authData: .text("x"))) == "The attestation object has no valid authenticator data.")
        #expect(verify(object(authData: .bytes(Array(authenticatorData[..<36])))) == "The authenticator data is too short.")
        #expect(verify(object(authData: .bytes(Array(authenticatorData.dropLast()))))
            == "The credential public key is not valid CBOR.")
        #expect(verify(object(authData: .bytes(authenticatorData + [0]))) == "The authenticator data has unexpected trailing bytes.")
        #expect(verify(object(authData: .bytes(Array(authenticatorData[..<60])))) == "The attested credential data is truncated.")
        #expect(verify(Array(response.attestationObject.dropLast())) == "The attestation object is not valid CBOR.")
        #expect(verify(response.attestationObject + [0]) == "The attestation object is not valid CBOR.")
        #expect(verify([UInt8](repeating: 0x40, count: 16 * 1024 + 1)) == "The attestation object is too large.")

        // A credential id of 0 bytes, then of 1024, around the same key.
        let header = Array(authenticatorData[..<53])
        let key = authenticator.publicKeyCOSE
        #expect(verify(object(authData: .bytes(header + [0, 0] + key))) == "The credential id must be 1 to 1023 bytes long.")
        #expect(verify(object(authData: .bytes(header + [4, 0] + [UInt8](repeating: 7, count: 1024) + key)))
            == "The credential id must be 1 to 1023 bytes long.")
        #expect(throws: Never.self) {
            try WebAuthnVerifier.verifyRegistration(
                clientDataJSON: response.clientDataJSON,
                attestationObject: object(authData: .bytes(header + [3, 0xFF] + [UInt8](repeating: 7, count: 1023) + key)),
                challenge: Self.challenge, relyingParty: Self.party)
        }
    }

    /// COSE keys Flux does not accept: other algorithms, other key types and curves, wrong coordinate sizes, RSA
    /// moduli under 2048 bits.
    @Test func unsupportedKeysAreRefused() throws {
        let authenticator = Self.authenticator()
        let response = authenticator.register(challenge: Self.challenge)
        let attestation = try CBOR.decodeWhole(response.attestationObject)
        guard case .bytes(let authenticatorData)? = attestation[.text("authData")],
              case .map(let entries) = try CBOR.decodeWhole(authenticator.publicKeyCOSE)
        else { throw WebAuthnFailure(reason: "no key") }
        let header = Array(authenticatorData[..<(55 + authenticator.credentialID.count)])
        func verify(_ key: CBOR) -> String? {
            let object = CBORTests.map(
                (.text("fmt"), .text("none")), (.text("attStmt"), .map([])), (.text("authData"), .bytes(header + key.encoded())))
            return Self.failure {
                try WebAuthnVerifier.verifyRegistration(
                    clientDataJSON: response.clientDataJSON, attestationObject: object.encoded(),
                    challenge: Self.challenge, relyingParty: Self.party)
            }
        }
        func replacing(_ label: Int64, with value: CBOR?) -> CBOR {
            .map(entries.compactMap { entry in
                entry.key == .integer(label) ? value.map { CBOR.Entry(key: entry.key, value: $0) } : entry
            })
        }
        #expect(verify(replacing(3, with: .integer(-8))) == "The public key uses an unsupported algorithm.", "EdDSA")
        #expect(verify(replacing(3, with: .integer(-35))) == "The public key uses an unsupported algorithm.", "ES384")
        #expect(verify(replacing(3, with: nil)) == "The public key uses an unsupported algorithm.")
        #expect(verify(replacing(3, with: .text("ES256"))) == "The public key uses an unsupported algorithm.")
        #expect(verify(replacing(1, with: .integer(1))) == "An ES256 key must be an EC2 key on P-256.")
        #expect(verify(replacing(-1, with: .integer(2))) == "An ES256 key must be an EC2 key on P-256.")
        #expect(verify(replacing(-2, with: .bytes([UInt8](repeating: 1, count: 31)))) == "The P-256 public key is not a point on the curve.")
        #expect(verify(replacing(-3, with: .bool(true))) == "The P-256 public key is not a point on the curve.")
        #expect(verify(replacing(-3, with: .bytes([UInt8](repeating: 1, count: 32)))) == "The P-256 public key is not a point on the curve.")
        #expect(verify(.array([])) == "The public key is not a COSE map.")

        // An odd 1024-bit modulus is a well-formed RSA public key to BoringSSL; only its size is wrong.
        let modulus1024: [UInt8] = [0xC1] + [UInt8](repeating: 0x55, count: 126) + [0x01]
        #expect(verify(CBORTests.map((.integer(1), .integer(3)), (.integer(3), .integer(-257)),
                                     (.integer(-1), .bytes(modulus1024)), (.integer(-2), .bytes([1, 0, 1]))))
            == "The RSA public key is invalid or shorter than 2048 bits.")
        #expect(verify(CBORTests.map((.integer(1), .integer(2)), (.integer(3), .integer(-257)))) == "An RS256 key must be an RSA key.")
    }

    // MARK: - Assertion refusals

    @Test(arguments: [SoftwareAuthenticator.Algorithm.es256, .rs256])
    func assertionRefusals(_ algorithm: SoftwareAuthenticator.Algorithm) throws {
        let original = Self.authenticator(algorithm)
        let key = try Self.register(original).publicKey
        func refusal(
            storedSignCount: UInt32 = 0, challenge: [UInt8] = Self.challenge, _ knob: (inout SoftwareAuthenticator) -> Void = { _ in },
            change: @escaping (inout (clientDataJSON: [UInt8], authenticatorData: [UInt8], signature: [UInt8])) -> Void = { _ in }
        ) -> String? {
            var authenticator = original
            knob(&authenticator)
            return Self.failure {
                try Self.assert(&authenticator, key: key, storedSignCount: storedSignCount, challenge: challenge, change: change)
            }
        }
        #expect(refusal { $0.origin = "https://example.com.evil" } == "The origin is not allowed.")
        #expect(refusal { $0.clientDataType = "webauthn.create" } == "The client data has the wrong type.")
        #expect(refusal { $0.crossOrigin = true } == "Cross-origin requests are refused.")
        #expect(refusal(challenge: Self.otherChallenge) == "The challenge does not match.")
        #expect(refusal { $0.rpID = "example.org" } == "The authenticator data is for another relying party.")
        #expect(refusal { $0.flags = 0x04 } == "The user was not present.")
        #expect(refusal { $0.flags = 0x01 } == "The user was not verified.")
        #expect(refusal { $0.flags = 0x15 } == "A credential that cannot be backed up reports that it is.")
        #expect(refusal(change: { $0.signature[$0.signature.count / 2] ^= 0x01 }) == "The signature is not valid.")
        #expect(refusal(change: { $0.signature = [] }) == "The signature is not valid.")
        #expect(refusal(change: { $0.authenticatorData[36] ^= 0x01 }) == "The signature is not valid.", "a changed sign count")
        #expect(refusal(change: { $0.clientDataJSON = Array(String(decoding: $0.clientDataJSON, as: UTF8.self)
            .replacingOccurrences(of: "\"crossOrigin\":false", with: "\"crossOrigin\":false ").utf8) })
            == "The signature is not valid.", "clientDataJSON is signed byte for byte")
        #expect(refusal(change: { $0.authenticatorData = Array($0.authenticatorData[..<36]) }) == "The authenticator data is too short.")
        #expect(refusal(change: { $0.authenticatorData += [0] }) == "The authenticator data has unexpected trailing bytes.")
        #expect(refusal(change: { $0.clientDataJSON = Array("{\"type\":\"webauthn.get\"}".utf8) }) == "The client data is not valid JSON.")
        #expect(refusal(change: { $0.clientDataJSON = [UInt8](repeating: 0x20, count: 4097) }) == "The client data is too large.")
        #expect(refusal(change: { $0.signature = [UInt8](repeating: 0, count: 1025) }) == "The signature is too large.")
        #expect(refusal(change: { $0.authenticatorData += [UInt8](repeating: 0, count: 4096) }) == "The authenticator data is too large.")
    }

    @Test func aSignCountThatDoesNotAdvanceIsFlagged() throws {
        var authenticator = Self.authenticator()
        let key = try Self.register(authenticator).publicKey
        authenticator.signCount = 4 // the next assertion counts 5
        #expect(Self.failure { try Self.assert(&authenticator, key: key, storedSignCount: 7) } == WebAuthnVerifier.signCountReason)
        authenticator.signCount = 4
        #expect(Self.failure { try Self.assert(&authenticator, key: key, storedSignCount: 5) } == WebAuthnVerifier.signCountReason)
        authenticator.signCount = UInt32.max
        #expect(Self.failure { try Self.assert(&authenticator, key: key, storedSignCount: 5) } == WebAuthnVerifier.signCountReason,
                "a count that drops to 0 after counting is flagged too (WebAuthn §7.2 step 22)")
        authenticator.signCount = 4
        #expect(try Self.assert(&authenticator, key: key, storedSignCount: 4).signCount == 5)

        #expect(WebAuthnVerifier.signCountCheck(new: 0, stored: 0) == .ok)
        #expect(WebAuthnVerifier.signCountCheck(new: 1, stored: 0) == .ok)
        #expect(WebAuthnVerifier.signCountCheck(new: 0, stored: 1) == .wentBackwards)
        #expect(WebAuthnVerifier.signCountCheck(new: 3, stored: 3) == .wentBackwards)
    }

    @Test func aKeyFromAnotherAuthenticatorDoesNotVerify() throws {
        var authenticator = Self.authenticator()
        let otherKey = try Self.register(Self.authenticator()).publicKey
        let rsaKey = try Self.register(Self.authenticator(.rs256)).publicKey
        #expect(Self.failure { try Self.assert(&authenticator, key: otherKey) } == "The signature is not valid.")
        #expect(Self.failure { try Self.assert(&authenticator, key: rsaKey) } == "The signature is not valid.")
        #expect(Self.failure { try Self.assert(&authenticator, key: [0xA0]) } == "The public key uses an unsupported algorithm.")
        #expect(Self.failure { try Self.assert(&authenticator, key: []) } == "The public key is not valid CBOR.")
    }

    @Test func failureReasonsNeverEchoTheInput() throws {
        var authenticator = Self.authenticator()
        authenticator.origin = "https://secret-token-in-origin.example"
        let reason = Self.failure { try Self.register(authenticator) }
        #expect(reason?.contains("secret") == false)
    }
}
