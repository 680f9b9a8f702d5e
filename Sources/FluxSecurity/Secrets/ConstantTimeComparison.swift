import Foundation

/// Compares secrets without leaking, through timing, how many leading bytes matched. The length is not
/// hidden.
public enum ConstantTimeComparison {
    /// True when `a` and `b` are equal. Values of different lengths are unequal at once: only the length,
    /// which a token's format makes public anyway, can be learnt from the time taken; equal-length values
    /// are compared byte by byte with no early exit.
    public static func equals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }

    /// String convenience over ``equals(_:_:)-(Collection<UInt8>,Collection<UInt8>)``, comparing UTF-8 bytes.
    public static func equals(_ a: String, _ b: String) -> Bool {
        // Arrays, not the strings' UTF-8 views: stepping two views in step costs more than the copies.
        equals(Array(a.utf8), Array(b.utf8))
    }
}
