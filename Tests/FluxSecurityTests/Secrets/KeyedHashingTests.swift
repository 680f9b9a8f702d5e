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

    /// Keys of every length around SHA-256's 64-byte block (longer ones are hashed first), messages from empty
    /// to several blocks: the same code as swift-crypto's `HMAC<SHA256>`, byte for byte.
    @Test func theHMACIsSwiftCryptosHMACByteForByte() {
        var generator = SystemRandomNumberGenerator()
        let bytes = { (count: Int) in (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) } }
        for keyLength in [0, 1, 16, 31, 32, 33, 63, 64, 65, 100, 128, 200] {
            let key = SymmetricKey(data: bytes(keyLength))
            let mac = SHA256HMAC(key: key)
            for messageLength in [0, 1, 30, 55, 56, 63, 64, 65, 119, 120, 128, 500] {
                let message = bytes(messageLength)
                let ours = message.withUnsafeBytes { Array(mac.code($0)) }
                #expect(ours == Array(HMAC<SHA256>.authenticationCode(for: message, using: key)),
                        "key \(keyLength) bytes, message \(messageLength)")
            }
        }
        // RFC 4231 test case 2: a short key and message with a published code.
        let code = Array("what do ya want for nothing?".utf8).withUnsafeBytes { SHA256HMAC(key: SymmetricKey(data: Array("Jefe".utf8))).code($0) }
        #expect(code.map { String(format: "%02x", $0) }.joined() == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
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
