import Crypto
import Foundation

/// Derives independent keys from one application secret (HKDF-SHA256, one `purpose` per use), so the
/// raw secret is never used directly and a key leaked from one use (say, CSRF) says nothing about another
/// (say, access tokens). The keys are only as strong as the secret: HKDF adds no entropy to a guessable one.
public struct SecretKeys: Sendable {
    private let root: SymmetricKey

    /// Names this secret without revealing it: 4 bytes of a key derived for naming alone. Tokens carry it,
    /// so after a rotation each token is checked with the key that signed it.
    public let id: [UInt8]

    /// Keys derived from `secret`'s UTF-8 bytes.
    public init(secret: String) {
        let root = SymmetricKey(data: Data(secret.utf8))
        self.root = root
        // A SymmetricKey lends its bytes only through withUnsafeBytes.
        id = Array(HKDF<SHA256>.deriveKey(inputKeyMaterial: root, salt: Data("flux-security/v1".utf8),
                                          info: Data("key-id".utf8), outputByteCount: 4).withUnsafeBytes { Array($0) })
    }

    /// The 256-bit key for `purpose`, for example `"csrf"` or `"ip-hash"`. Same secret and purpose, same key.
    public func key(for purpose: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: root, salt: Data("flux-security/v1".utf8),
                               info: Data(purpose.utf8), outputByteCount: 32)
    }
}
