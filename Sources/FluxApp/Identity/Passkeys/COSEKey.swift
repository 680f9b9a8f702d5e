import Crypto
import CryptoExtras

/// A passkey's public key, read from a COSE_Key map (RFC 9052 §7, parameters from RFC 9053 and RFC 8230).
///
/// Only the two algorithms Flux offers when a passkey is created decode: ES256 (ECDSA on P-256 with SHA-256) and
/// RS256 (RSASSA-PKCS1-v1_5 with SHA-256, moduli of at least 2048 bits). Anything else, or a key whose parameters
/// disagree with its algorithm, throws, so a stored key always verifies with the algorithm it names.
struct COSEKey: Sendable {
    enum Algorithm: Int, Sendable {
        case es256 = -7
        case rs256 = -257
    }

    struct Unsupported: Error, Equatable, Sendable {
        let reason: String
    }

    let algorithm: Algorithm
    private let verifier: Verifier

    private enum Verifier: Sendable {
        case p256(P256.Signing.PublicKey)
        case rsa(_RSA.Signing.PublicKey)
    }

    /// Labels from RFC 9052 §7.1 and RFC 9053 §7.1.1 (EC2), RFC 8230 §4 (RSA).
    private enum Label {
        static let keyType = CBOR.integer(1)
        static let algorithm = CBOR.integer(3)
        static let curve = CBOR.integer(-1)
        static let x = CBOR.integer(-2)
        static let y = CBOR.integer(-3)
        static let modulus = CBOR.integer(-1)
        static let exponent = CBOR.integer(-2)
    }

    /// The key that `bytes` encode as exactly one COSE_Key map.
    init(bytes: [UInt8]) throws(Unsupported) {
        let item: CBOR
        do {
            item = try CBOR.decodeWhole(bytes)
        } catch {
            throw Unsupported(reason: "The public key is not valid CBOR.")
        }
        try self.init(item)
    }

    init(_ key: CBOR) throws(Unsupported) {
        guard case .map = key else { throw Unsupported(reason: "The public key is not a COSE map.") }
        guard case .integer(let number)? = key[Label.algorithm], let algorithm = Int(exactly: number).flatMap(Algorithm.init) else {
            throw Unsupported(reason: "The public key uses an unsupported algorithm.")
        }
        self.algorithm = algorithm
        switch algorithm {
        case .es256:
            guard key[Label.keyType] == .integer(2), key[Label.curve] == .integer(1) else {
                throw Unsupported(reason: "An ES256 key must be an EC2 key on P-256.")
            }
            guard case .bytes(let x)? = key[Label.x], case .bytes(let y)? = key[Label.y], x.count == 32, y.count == 32,
                  let publicKey = try? P256.Signing.PublicKey(rawRepresentation: x + y)
            else { throw Unsupported(reason: "The P-256 public key is not a point on the curve.") }
            verifier = .p256(publicKey)
        case .rs256:
            guard key[Label.keyType] == .integer(3) else { throw Unsupported(reason: "An RS256 key must be an RSA key.") }
            guard case .bytes(let modulus)? = key[Label.modulus], case .bytes(let exponent)? = key[Label.exponent],
                  let publicKey = try? _RSA.Signing.PublicKey(n: modulus, e: exponent)
            else { throw Unsupported(reason: "The RSA public key is invalid or shorter than 2048 bits.") }
            verifier = .rsa(publicKey)
        }
    }

    /// Whether `signature`, as WebAuthn sends it (DER for ECDSA, the raw block for RSA), signs `data` under this key.
    func isValidSignature(_ signature: [UInt8], for data: [UInt8]) -> Bool {
        switch verifier {
        case .p256(let key):
            guard let parsed = try? P256.Signing.ECDSASignature(derRepresentation: signature) else { return false }
            return key.isValidSignature(parsed, for: data)
        case .rsa(let key):
            let parsed = _RSA.Signing.RSASignature(rawRepresentation: signature)
            return key.isValidSignature(parsed, for: SHA256.hash(data: data), padding: .insecurePKCS1v1_5)
        }
    }
}
