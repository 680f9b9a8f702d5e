import Foundation

/// Judges whether a shared secret (a session key, a metrics token) is strong enough to sign or guard anything.
///
/// The rules answer the failures seen in practice: a secret left unset, a short one, one copied from a public
/// example or placeholder, and a long one with little real randomness (`aaaa…`, `abcd…`, a phrase repeated).
/// A value made by `openssl rand -base64 48` always passes. The checks cannot prove randomness: a long value
/// that only looks random (a leaked key, a hash of a word) passes too.
public struct SecretStrength: Sendable {
    /// Why a secret was refused. The value itself is never carried, so a verdict can be logged or printed.
    public enum Verdict: Sendable, Equatable {
        case strong
        case missing
        case tooShort(minimum: Int)
        case knownPublic
        case lowEntropy

        /// True only for ``strong``.
        public var isAcceptable: Bool { self == .strong }

        /// A short human explanation that never includes the secret.
        public var explanation: String {
            switch self {
            case .strong: "is strong"
            case .missing: "is not set"
            case .tooShort(let minimum): "is shorter than \(minimum) characters"
            case .knownPublic: "is a publicly known value (a placeholder or an example)"
            case .lowEntropy: "has too little randomness (repeated or sequential characters)"
            }
        }
    }

    /// The shortest secret accepted.
    public let minimumLength: Int
    private let knownPublic: Set<String>

    /// Values that have been published as examples and must never guard a real deployment.
    public static let commonPublicValues: Set<String> = [
        "changeme", "change-me", "secret", "your-secret-key", "your_secret_key", "supersecret",
        "replace-me", "replace_me", "development", "password", "keyboard cat",
    ]

    /// - Parameters:
    ///   - minimumLength: the shortest accepted secret, 32 by default.
    ///   - knownPublic: extra values the adopting application has published (its `.env.example` placeholder,
    ///     values from old documentation); compared case-insensitively, in addition to ``commonPublicValues``.
    public init(minimumLength: Int = 32, knownPublic: Set<String> = []) {
        self.minimumLength = minimumLength
        self.knownPublic = Set((knownPublic.union(Self.commonPublicValues)).map { $0.lowercased() })
    }

    /// Evaluates `secret`; `nil` and whitespace-only values are ``Verdict/missing``.
    public func evaluate(_ secret: String?) -> Verdict {
        guard let secret, !secret.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return .missing }
        if knownPublic.contains(secret.lowercased()) { return .knownPublic }
        if secret.count < minimumLength { return .tooShort(minimum: minimumLength) }
        if Self.looksPatterned(Array(secret.unicodeScalars)) { return .lowEntropy }
        return .strong
    }

    /// Shannon entropy over the characters actually used, times the length, is a cheap estimate that catches
    /// small alphabets; the run and period checks catch long values built from a short pattern.
    private static func looksPatterned(_ scalars: [Unicode.Scalar]) -> Bool {
        var counts: [Unicode.Scalar: Int] = [:]
        for scalar in scalars { counts[scalar, default: 0] += 1 }
        if counts.count < 10 { return true }
        let length = Double(scalars.count)
        let bitsPerCharacter = counts.values.reduce(0.0) { total, count in
            let p = Double(count) / length
            return total - p * log2(p)
        }
        if bitsPerCharacter * length < 100 { return true }
        if longestArithmeticRun(scalars) >= 6 { return true }
        return hasShortPeriod(scalars)
    }

    /// Length of the longest run of characters whose code points step by the same amount of -1, 0 or +1
    /// (`aaaaa`, `abcde`, `54321`).
    private static func longestArithmeticRun(_ scalars: [Unicode.Scalar]) -> Int {
        var longest = min(scalars.count, 1)
        var current = 1
        var currentStep: Int?
        for index in scalars.indices.dropFirst() {
            let step = Int(scalars[index].value) - Int(scalars[index - 1].value)
            if abs(step) > 1 {
                current = 1
                currentStep = nil
            } else if step == currentStep {
                current += 1
            } else {
                current = 2
                currentStep = step
            }
            longest = max(longest, current)
        }
        return longest
    }

    /// True when the value is a shorter block repeated (with a possibly partial last block).
    private static func hasShortPeriod(_ scalars: [Unicode.Scalar]) -> Bool {
        let length = scalars.count
        for period in 1...(length / 2) where (period..<length).allSatisfy({ scalars[$0] == scalars[$0 - period] }) {
            return true
        }
        return false
    }
}
