extension Sequence<UInt8> {
    /// Lowercase hexadecimal, two digits a byte (digests, MACs, key ids as Flux stores and shows them).
    var hexString: String {
        map { String(format: "%02x", $0) }.joined()
    }
}
