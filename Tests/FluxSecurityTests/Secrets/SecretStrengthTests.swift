import Foundation
import Testing
@testable import FluxSecurity

@Suite struct SecretStrengthTests {
    let strength = SecretStrength(minimumLength: 32, knownPublic: ["Our-Published-Example-Secret-For-The-Docs-2026"])

    @Test func missingAndBlankSecretsAreMissing() {
        #expect(strength.evaluate(nil) == .missing)
        #expect(strength.evaluate("") == .missing)
        #expect(strength.evaluate("   \n") == .missing)
    }

    @Test func shortSecretIsRefusedWithTheMinimum() {
        #expect(strength.evaluate("k9#Lq2!vX7$mP4@w") == .tooShort(minimum: 32))
        #expect(strength.evaluate(String(repeating: "x", count: 31)) == .tooShort(minimum: 32))
    }

    @Test func publishedValuesAreRefusedWhateverTheirCase() {
        #expect(strength.evaluate("our-published-example-secret-for-the-docs-2026") == .knownPublic)
        #expect(strength.evaluate("CHANGEME") == .knownPublic)
    }

    @Test(arguments: [
        String(repeating: "a", count: 48),
        "abcdefghijklmnopqrstuvwxyz0123456789ABCD",
        "Tr0ub4dor&3xTr0ub4dor&3xTr0ub4dor&3xTr0ub4dor&3x",
        "passwordpasswordpasswordpassword",
        "0101010101010101010101010101010101010101",
        "Q7f!x2Lk9#mZQ7f!x2Lk9#mZQ7f!x2Lk9#mZ",
        "xK9vQ2mT7wR4abcdefgh5nY8pL3sD6fJ1",
    ])
    func patternedLongSecretsHaveLowEntropy(secret: String) {
        #expect(strength.evaluate(secret) == .lowEntropy)
    }

    @Test(arguments: [
        "q4Jm7X1c2ZrV+p9nW0s3bKfT8yLhE6aGdUoR5iNtQwMzSvHxCkPjYlBe",  // base64, like `openssl rand -base64 48`
        "9f86d081884c7d659a2feaa0c55ad015",                           // 128 bits as hex
        "correct-horse-battery-staple-galaxy-umbrella-quartz",        // a long random passphrase
    ])
    func randomLookingSecretsAreStrong(secret: String) {
        #expect(strength.evaluate(secret) == .strong)
    }

    @Test func freshlyGeneratedSecretsAreAlwaysStrong() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let bytes = (0..<48).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            #expect(strength.evaluate(Data(bytes).base64EncodedString()) == .strong)
        }
    }

    @Test func explanationsNeverQuoteTheSecret() {
        let secret = "short-secret-value"
        #expect(!strength.evaluate(secret).explanation.contains(secret))
    }
}

@Suite struct ConstantTimeComparisonTests {
    @Test func equalStringsCompareEqual() {
        #expect(ConstantTimeComparison.equals("metrics-token-1", "metrics-token-1"))
    }

    @Test func differentStringsAndLengthsCompareUnequal() {
        #expect(!ConstantTimeComparison.equals("metrics-token-1", "metrics-token-2"))
        #expect(!ConstantTimeComparison.equals("metrics-token", "metrics-token-1"))
        #expect(!ConstantTimeComparison.equals("", "x"))
    }
}
