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
