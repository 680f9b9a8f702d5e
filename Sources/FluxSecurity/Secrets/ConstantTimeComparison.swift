import Crypto
import Foundation

/// Compares secrets without leaking, through timing, how many leading bytes matched.
public enum ConstantTimeComparison {
    /// True when `a` and `b` are equal. Both sides are first reduced to SHA-256 digests so the comparison
    /// takes the same time whatever the lengths, then compared byte by byte without an early exit.
    public static func equals(_ a: some DataProtocol, _ b: some DataProtocol) -> Bool {
        let left = SHA256.hash(data: a)
        let right = SHA256.hash(data: b)
        var difference: UInt8 = 0
        for (x, y) in zip(left, right) { difference |= x ^ y }
        return difference == 0
    }

    /// String convenience over ``equals(_:_:)-(DataProtocol,DataProtocol)``, comparing UTF-8 bytes.
    public static func equals(_ a: String, _ b: String) -> Bool {
        equals(Data(a.utf8), Data(b.utf8))
    }
}
