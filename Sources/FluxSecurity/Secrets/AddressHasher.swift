import Crypto
import Foundation

/// Pseudonymous client addresses: HMAC-SHA256 under a derived key, so stored hashes can be grouped and
/// counted but not reversed by enumerating the IPv4 space, which a plain SHA-256 would allow in minutes.
/// Whoever holds the secret can still test a guessed address, and one address always has the same hash.
public struct AddressHasher: Sendable {
    private let key: SymmetricKey

    /// Hashes under the key `keys` derive for this use alone.
    public init(keys: SecretKeys) {
        self.init(key: keys.key(for: "address-hash"))
    }

    init(key: SymmetricKey) {
        self.key = key
    }

    /// 128 bits of the MAC as 32 lowercase hex characters.
    public func hash(_ address: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Data(address.utf8), using: key).prefix(16).map { String(format: "%02x", $0) }.joined()
    }
}
