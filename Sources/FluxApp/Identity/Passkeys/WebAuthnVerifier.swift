import Crypto
import FluxSecurity
import Foundation

/// The relying party: its id (a registrable domain, e.g. "example.com" or "localhost") and the exact origins allowed
/// ("https://example.com").
struct RelyingParty: Sendable {
    let id: String
    let origins: [String]
}

/// Why a passkey ceremony was refused: a short English sentence that names the check, never a secret or input bytes.
struct WebAuthnFailure: Error, Equatable {
    let reason: String
}

/// Turns what a browser sends for `navigator.credentials.create()` and `.get()` into verified facts
/// (WebAuthn Level 3, §7.1 and §7.2), for "none" attestation and the ES256 and RS256 algorithms.
///
/// Every input is bounded before it is parsed, every parse is total (it throws, never traps), and a ceremony is
/// accepted only when all of its checks pass; each refusal is a `WebAuthnFailure`. The two entry points declare
/// untyped `throws`: Swift 6.3 crashes compiling an async caller's `catch let failure as WebAuthnFailure` around a
/// typed-throws call.
enum WebAuthnVerifier {
    struct Registration: Sendable {
        let credentialID: [UInt8]
        /// The COSE_Key bytes exactly as in authenticator data (stored; re-decoded to verify).
        let publicKey: [UInt8]
        /// -7 (ES256) or -257 (RS256).
        let algorithm: Int
        let signCount: UInt32
        let backupEligible: Bool
        let backedUp: Bool
    }

    struct Assertion: Sendable {
        let signCount: UInt32
        let backedUp: Bool
    }

    enum SignCountCheck {
        case ok
        case wentBackwards
    }

    /// The reason of the failure `verifyAssertion` throws when the sign count did not advance: the signature was
    /// valid, so the caller can flag the credential as possibly cloned.
    static let signCountReason = "The authenticator's sign count did not increase; the credential may be cloned."

    /// Bounds on what a browser sends, checked before parsing; genuine values are a few hundred bytes (an RSA
    /// key and signature make the largest).
    static let maximumClientDataBytes = 4 * 1024
    static let maximumAttestationObjectBytes = 16 * 1024
    static let maximumAuthenticatorDataBytes = 4 * 1024
    static let maximumSignatureBytes = 1024

    /// Checks clientDataJSON (type "webauthn.create", the challenge, an allowed origin, not cross-origin), the
    /// attestation object ("none" with an empty statement), the authenticator data (rpIdHash, user present and
    /// verified, attested credential data, backup flags), the credential id (1...1023 bytes) and that the public key
    /// decodes to ES256 or RS256.
    static func verifyRegistration(
        clientDataJSON: [UInt8], attestationObject: [UInt8], challenge: [UInt8], relyingParty: RelyingParty
    ) throws -> Registration {
        try checkClientData(clientDataJSON, type: "webauthn.create", challenge: challenge, relyingParty: relyingParty)
        guard attestationObject.count <= maximumAttestationObjectBytes else {
            throw WebAuthnFailure(reason: "The attestation object is too large.")
        }
        guard let attestation = try? CBOR.decodeWhole(attestationObject) else {
            throw WebAuthnFailure(reason: "The attestation object is not valid CBOR.")
        }
        guard attestation[.text("fmt")] == .text("none") else {
            throw WebAuthnFailure(reason: "Only \"none\" attestation is accepted.")
        }
        guard attestation[.text("attStmt")] == .map([]) else {
            throw WebAuthnFailure(reason: "A \"none\" attestation must have an empty statement.")
        }
        guard case .bytes(let authenticatorData)? = attestation[.text("authData")],
              authenticatorData.count <= maximumAuthenticatorDataBytes
        else { throw WebAuthnFailure(reason: "The attestation object has no valid authenticator data.") }

        let data = try AuthenticatorData(authenticatorData, relyingParty: relyingParty)
        guard let credential = data.credential else {
            throw WebAuthnFailure(reason: "The authenticator data has no attested credential.")
        }
        guard (1...1023).contains(credential.id.count) else {
            throw WebAuthnFailure(reason: "The credential id must be 1 to 1023 bytes long.")
        }
        let key: COSEKey
        do {
            key = try COSEKey(bytes: credential.publicKey)
        } catch {
            throw WebAuthnFailure(reason: error.reason)
        }
        return Registration(
            credentialID: credential.id, publicKey: credential.publicKey, algorithm: key.algorithm.rawValue,
            signCount: data.signCount, backupEligible: data.backupEligible, backedUp: data.backedUp
        )
    }

    /// Checks clientDataJSON (type "webauthn.get", the challenge, an allowed origin, not cross-origin), the
    /// authenticator data (rpIdHash, user present and verified) and the signature over
    /// authenticatorData ‖ SHA-256(clientDataJSON) with the stored key. Then, as WebAuthn §7.2 step 22 says: when
    /// either sign count is non-zero, the new one must exceed `storedSignCount`, or this throws a failure whose
    /// reason is `signCountReason`.
    static func verifyAssertion(
        clientDataJSON: [UInt8], authenticatorData: [UInt8], signature: [UInt8], challenge: [UInt8],
        publicKey: [UInt8], storedSignCount: UInt32, relyingParty: RelyingParty
    ) throws -> Assertion {
        try checkClientData(clientDataJSON, type: "webauthn.get", challenge: challenge, relyingParty: relyingParty)
        guard authenticatorData.count <= maximumAuthenticatorDataBytes else {
            throw WebAuthnFailure(reason: "The authenticator data is too large.")
        }
        guard signature.count <= maximumSignatureBytes else { throw WebAuthnFailure(reason: "The signature is too large.") }
        let data = try AuthenticatorData(authenticatorData, relyingParty: relyingParty)
        let key: COSEKey
        do {
            key = try COSEKey(bytes: publicKey)
        } catch {
            throw WebAuthnFailure(reason: error.reason)
        }
        guard key.isValidSignature(signature, for: authenticatorData + SHA256.hash(data: clientDataJSON)) else {
            throw WebAuthnFailure(reason: "The signature is not valid.")
        }
        guard signCountCheck(new: data.signCount, stored: storedSignCount) == .ok else {
            throw WebAuthnFailure(reason: signCountReason)
        }
        return Assertion(signCount: data.signCount, backedUp: data.backedUp)
    }

    static func signCountCheck(new: UInt32, stored: UInt32) -> SignCountCheck {
        (new == 0 && stored == 0) || new > stored ? .ok : .wentBackwards
    }

    /// The fields of CollectedClientData (WebAuthn §5.8.1) that Flux checks.
    private struct ClientData: Decodable {
        let type: String
        let challenge: String
        let origin: String
        let crossOrigin: Bool?
    }

    private static func checkClientData(
        _ json: [UInt8], type: String, challenge: [UInt8], relyingParty: RelyingParty
    ) throws(WebAuthnFailure) {
        guard json.count <= maximumClientDataBytes else { throw WebAuthnFailure(reason: "The client data is too large.") }
        guard let clientData = try? JSONDecoder().decode(ClientData.self, from: Data(json)) else {
            throw WebAuthnFailure(reason: "The client data is not valid JSON.")
        }
        // Byte for byte: Swift's String == would also match canonically equivalent spellings.
        guard clientData.type.utf8.elementsEqual(type.utf8) else {
            throw WebAuthnFailure(reason: "The client data has the wrong type.")
        }
        guard Base64URL.decode(clientData.challenge) == challenge else {
            throw WebAuthnFailure(reason: "The challenge does not match.")
        }
        guard relyingParty.origins.contains(where: { $0.utf8.elementsEqual(clientData.origin.utf8) }) else {
            throw WebAuthnFailure(reason: "The origin is not allowed.")
        }
        guard clientData.crossOrigin != true else { throw WebAuthnFailure(reason: "Cross-origin requests are refused.") }
    }
}

/// Authenticator data (WebAuthn §6.1): rpIdHash, flags, sign count, then the attested credential when flag AT is set
/// and an extensions map when flag ED is set, with nothing after them.
private struct AuthenticatorData {
    struct Credential {
        let id: [UInt8]
        let publicKey: [UInt8]
    }

    let signCount: UInt32
    let backupEligible: Bool
    let backedUp: Bool
    let credential: Credential?

    private enum Flag {
        static let userPresent: UInt8 = 0x01
        static let userVerified: UInt8 = 0x04
        static let backupEligible: UInt8 = 0x08
        static let backedUp: UInt8 = 0x10
        static let attestedCredential: UInt8 = 0x40
        static let extensions: UInt8 = 0x80
    }

    /// Parses `bytes` and checks the rpIdHash, that the user was present and verified, and that a credential is not
    /// backed up unless it is eligible for backup.
    init(_ bytes: [UInt8], relyingParty: RelyingParty) throws(WebAuthnFailure) {
        guard bytes.count >= 37 else { throw WebAuthnFailure(reason: "The authenticator data is too short.") }
        guard bytes[0..<32].elementsEqual(SHA256.hash(data: Array(relyingParty.id.utf8))) else {
            throw WebAuthnFailure(reason: "The authenticator data is for another relying party.")
        }
        let flags = bytes[32]
        guard flags & Flag.userPresent != 0 else { throw WebAuthnFailure(reason: "The user was not present.") }
        guard flags & Flag.userVerified != 0 else { throw WebAuthnFailure(reason: "The user was not verified.") }
        backupEligible = flags & Flag.backupEligible != 0
        backedUp = flags & Flag.backedUp != 0
        guard backupEligible || !backedUp else {
            throw WebAuthnFailure(reason: "A credential that cannot be backed up reports that it is.")
        }
        signCount = bytes[33..<37].reduce(0) { $0 << 8 | UInt32($1) }

        var rest = bytes[37...]
        if flags & Flag.attestedCredential != 0 {
            // AAGUID (16 bytes), credential id length (2 bytes, big-endian), credential id, COSE_Key.
            guard rest.count >= 18 else { throw WebAuthnFailure(reason: "The attested credential data is truncated.") }
            let idLength = Int(rest[rest.startIndex + 16]) << 8 | Int(rest[rest.startIndex + 17])
            let idStart = rest.startIndex + 18
            guard rest.endIndex - idStart >= idLength else {
                throw WebAuthnFailure(reason: "The attested credential data is truncated.")
            }
            let keyStart = idStart + idLength
            guard let keyLength = try? CBOR.decode(rest[keyStart...]).consumed else {
                throw WebAuthnFailure(reason: "The credential public key is not valid CBOR.")
            }
            credential = Credential(id: Array(rest[idStart..<keyStart]), publicKey: Array(rest[keyStart..<keyStart + keyLength]))
            rest = rest[(keyStart + keyLength)...]
        } else {
            credential = nil
        }
        if flags & Flag.extensions != 0 {
            guard case .map? = try? CBOR.decodeWhole(rest) else {
                throw WebAuthnFailure(reason: "The authenticator extensions are not a CBOR map.")
            }
        } else if !rest.isEmpty {
            throw WebAuthnFailure(reason: "The authenticator data has unexpected trailing bytes.")
        }
    }
}
