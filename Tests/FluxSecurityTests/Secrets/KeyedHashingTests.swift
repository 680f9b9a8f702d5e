import Crypto
import Foundation
import Testing
@testable import FluxSecurity

@Suite struct KeyedHashingTests {
    @Test func purposesGetDistinctKeysAndNeverTheRawSecret() {
        let secret = "q4Jm7X1c2ZrV+p9nW0s3bKfT8yLhE6aGdUoR5iNtQwMzSvHxCkPjYlBe"
        let keys = SecretKeys(secret: secret)
        let csrf = keys.key(for: "csrf").withUnsafeBytes { Array($0) }
        let tokens = keys.key(for: "access-token").withUnsafeBytes { Array($0) }
        #expect(csrf.count == 32)
        #expect(csrf != tokens)
        #expect(csrf == SecretKeys(secret: secret).key(for: "csrf").withUnsafeBytes { Array($0) })
        #expect(csrf != Array(secret.utf8.prefix(32)))
    }

    /// RFC 4231's HMAC-SHA-256 vectors whose data is text (cases 1, 2, 6 and 7: a short key, a key shorter
    /// than the data, keys longer than SHA-256's block), through Flux's address hasher, which keeps the first
    /// 128 bits as RFC 4231 case 5 does.
    @Test func addressHashesAreHMACSHA256AsRFC4231Says() {
        let cases: [(key: [UInt8], data: String, mac: String)] = [
            ([UInt8](repeating: 0x0B, count: 20), "Hi There",
             "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (Array("Jefe".utf8), "what do ya want for nothing?",
             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            ([UInt8](repeating: 0xAA, count: 131), "Test Using Larger Than Block-Size Key - Hash Key First",
             "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
            ([UInt8](repeating: 0xAA, count: 131),
             "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
             "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
        ]
        for (key, data, mac) in cases {
            #expect(AddressHasher(key: SymmetricKey(data: key)).hash(data) == String(mac.prefix(32)), "\(data)")
        }
    }

    @Test func addressHashesAreStableKeyedAndNotPlainSHA256() {
        let hasher = AddressHasher(keys: SecretKeys(secret: "first-secret-first-secret-first-secret-x1"))
        let other = AddressHasher(keys: SecretKeys(secret: "second-secret-second-secret-second-sec-y2"))
        let hash = hasher.hash("203.0.113.7")
        #expect(hash.count == 32 && hash.allSatisfy(\.isHexDigit))
        #expect(hash == hasher.hash("203.0.113.7"))
        #expect(hash != hasher.hash("203.0.113.8"))
        #expect(hash != other.hash("203.0.113.7"))
        let plain = SHA256.hash(data: Data("203.0.113.7".utf8)).map { String(format: "%02x", $0) }.joined()
        #expect(!plain.hasPrefix(hash))
    }
}
