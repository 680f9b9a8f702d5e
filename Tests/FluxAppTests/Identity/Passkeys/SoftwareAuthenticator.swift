import Crypto
import CryptoExtras
@testable import FluxApp
import FluxSecurity
import Foundation

/// A passkey authenticator in software, for tests: it makes a real key pair and answers registrations ("none"
/// attestation) and assertions the way a browser and a platform authenticator would, byte for byte.
///
/// Its knobs corrupt what it sends (origin, client data type, flags, the rpId it hashes, the attestation format)
/// so a test can show each check refusing; by default everything it sends verifies.
struct SoftwareAuthenticator {
    enum Algorithm: Sendable {
        case es256
        case rs256
    }

    private enum PrivateKey {
        case p256(P256.Signing.PrivateKey)
        case rsa(_RSA.Signing.PrivateKey)
    }

    /// The rpId whose SHA-256 starts the authenticator data.
    var rpID: String
    /// The origin the "browser" writes into clientDataJSON.
    var origin: String
    let algorithm: Algorithm
    let credentialID: [UInt8]
    /// Flags of the authenticator data: user present and verified by default. Registration adds attested credential
    /// data (0x40) on top of these unless `omitAttestedCredentialData` is set.
    var flags: UInt8 = 0x05
    var omitAttestedCredentialData = false
    /// The type written into clientDataJSON; nil for the right one ("webauthn.create" or "webauthn.get").
    var clientDataType: String?
    var crossOrigin = false
    var attestationFormat = "none"
    /// The sign count of the next assertion; it goes up by one with each assertion.
    var signCount: UInt32 = 0
    /// The user handle the last assertion returned, as a browser's `response.userHandle` carries it (it is not signed).
    private(set) var userHandle: [UInt8]?
    private let key: PrivateKey

    init(rpID: String, origin: String, algorithm: Algorithm = .es256) {
        self.rpID = rpID
        self.origin = origin
        self.algorithm = algorithm
        credentialID = (0..<16).map { _ in UInt8.random(in: 0...255) }
        switch algorithm {
        case .es256: key = .p256(P256.Signing.PrivateKey())
        case .rs256: key = .rsa(try! _RSA.Signing.PrivateKey(keySize: .bits2048))
        }
    }

    /// The credential public key as a COSE_Key map (RFC 9053 §7.1.1 for EC2, RFC 8230 §4 for RSA).
    var publicKeyCOSE: [UInt8] {
        switch key {
        case .p256(let key):
            let raw = Array(key.publicKey.rawRepresentation)
            return CBOR.map([
                .init(key: .integer(1), value: .integer(2)), .init(key: .integer(3), value: .integer(-7)),
                .init(key: .integer(-1), value: .integer(1)), .init(key: .integer(-2), value: .bytes(Array(raw[0..<32]))),
                .init(key: .integer(-3), value: .bytes(Array(raw[32...]))),
            ]).encoded()
        case .rsa(let key):
            let primitives = try! key.publicKey.getKeyPrimitives()
            return CBOR.map([
                .init(key: .integer(1), value: .integer(3)), .init(key: .integer(3), value: .integer(-257)),
                .init(key: .integer(-1), value: .bytes(Array(primitives.modulus))),
                .init(key: .integer(-2), value: .bytes(Array(primitives.publicExponent))),
            ]).encoded()
        }
    }

    /// What `navigator.credentials.create()` returns for `challenge`.
    func register(challenge: [UInt8]) -> (clientDataJSON: [UInt8], attestationObject: [UInt8], credentialID: [UInt8]) {
        var authenticatorData = header(flags: omitAttestedCredentialData ? flags : flags | 0x40)
        if !omitAttestedCredentialData {
            authenticatorData += [UInt8](repeating: 0, count: 16)
            authenticatorData += [UInt8(credentialID.count >> 8), UInt8(credentialID.count & 0xFF)] + credentialID
            authenticatorData += publicKeyCOSE
        }
        let attestation = CBOR.map([
            .init(key: .text("fmt"), value: .text(attestationFormat)),
            .init(key: .text("attStmt"), value: .map([])),
            .init(key: .text("authData"), value: .bytes(authenticatorData)),
        ])
        return (clientData(type: clientDataType ?? "webauthn.create", challenge: challenge), attestation.encoded(), credentialID)
    }

    /// What `navigator.credentials.get()` returns for `challenge`; each call counts one more signature.
    mutating func assert(challenge: [UInt8], userHandle: [UInt8]?) -> (clientDataJSON: [UInt8], authenticatorData: [UInt8], signature: [UInt8]) {
        signCount &+= 1
        self.userHandle = userHandle
        let clientDataJSON = clientData(type: clientDataType ?? "webauthn.get", challenge: challenge)
        let authenticatorData = header(flags: flags)
        return (clientDataJSON, authenticatorData, sign(authenticatorData + SHA256.hash(data: clientDataJSON)))
    }

    /// A signature over `data` as WebAuthn carries it: DER for ECDSA, PKCS#1 v1.5 over SHA-256 for RSA.
    func sign(_ data: [UInt8]) -> [UInt8] {
        switch key {
        case .p256(let key):
            return Array(try! key.signature(for: data).derRepresentation)
        case .rsa(let key):
            return Array(try! key.signature(for: SHA256.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation)
        }
    }

    private func header(flags: UInt8) -> [UInt8] {
        Array(SHA256.hash(data: Array(rpID.utf8))) + [flags]
            + [UInt8(signCount >> 24), UInt8(signCount >> 16 & 0xFF), UInt8(signCount >> 8 & 0xFF), UInt8(signCount & 0xFF)]
    }

    /// clientDataJSON with its members in the order browsers write them.
    private func clientData(type: String, challenge: [UInt8]) -> [UInt8] {
        func quoted(_ text: String) -> String {
            String(decoding: try! JSONSerialization.data(withJSONObject: text, options: .fragmentsAllowed), as: UTF8.self)
        }
        let json = #"{"type":\#(quoted(type)),"challenge":\#(quoted(Base64URL.encode(challenge))),"#
            + #""origin":\#(quoted(origin)),"crossOrigin":\#(crossOrigin)}"#
        return Array(json.utf8)
    }
}

extension CBOR {
    /// The preferred (shortest) serialisation, RFC 8949 §4.1; written here, in the tests only, to build inputs.
    func encoded() -> [UInt8] {
        switch self {
        case .integer(let value) where value >= 0: Self.head(0, UInt64(value))
        case .integer(let value): Self.head(1, UInt64(-1 - value))
        case .bytes(let bytes): Self.head(2, UInt64(bytes.count)) + bytes
        case .text(let text): Self.head(3, UInt64(text.utf8.count)) + Array(text.utf8)
        case .array(let items): Self.head(4, UInt64(items.count)) + items.flatMap { $0.encoded() }
        case .map(let entries): Self.head(5, UInt64(entries.count)) + entries.flatMap { $0.key.encoded() + $0.value.encoded() }
        case .bool(let value): [value ? 0xF5 : 0xF4]
        case .null: [0xF6]
        }
    }

    /// The initial byte and argument of an item of major type `major`.
    static func head(_ major: UInt8, _ argument: UInt64) -> [UInt8] {
        let type = major << 5
        switch argument {
        case 0..<24: return [type | UInt8(argument)]
        case 24..<0x100: return [type | 24, UInt8(argument)]
        case 0x100..<0x10000: return [type | 25] + bigEndian(argument, width: 2)
        case 0x10000..<0x1_0000_0000: return [type | 26] + bigEndian(argument, width: 4)
        default: return [type | 27] + bigEndian(argument, width: 8)
        }
    }

    static func bigEndian(_ value: UInt64, width: Int) -> [UInt8] {
        (0..<width).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }
}
