import Crypto
import Foundation

/// Pseudonymous client addresses: HMAC-SHA256 under a derived key, so stored hashes can be grouped and
/// counted but not reversed by enumerating the IPv4 space, which a plain SHA-256 would allow in minutes.
public struct AddressHasher: Sendable {
    private let mac: SHA256HMAC

    public init(keys: SecretKeys) {
        mac = SHA256HMAC(key: keys.key(for: "address-hash"))
    }

    /// 128 bits of the MAC as 32 lowercase hex characters.
    public func hash(_ address: String) -> String {
        var address = address
        return address.withUTF8 { mac.code(UnsafeRawBufferPointer($0)) }.prefix(16).map { String(format: "%02x", $0) }.joined()
    }
}
