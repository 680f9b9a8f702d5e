import Crypto

/// HMAC-SHA256 (RFC 2104) under one key, the padded key hashed once into an inner and an outer SHA-256 state
/// (RFC 2104 §4), so a code costs only hashing the message and then the inner digest.
///
/// swift-crypto's `HMAC<SHA256>` keeps the same two states, but its one public `update` is generic over
/// `DataProtocol` and is not specialized across modules: under perf, each call from FluxSecurity spent about
/// 0.3 µs looking up generic metadata, more than hashing a CSRF token. This calls `SHA256.update(bufferPointer:)`
/// directly. Tested byte for byte against `HMAC<SHA256>`.
struct SHA256HMAC: Sendable {
    private let inner: SHA256
    private let outer: SHA256

    init(key: SymmetricKey) {
        // A key longer than SHA-256's 64-byte block is hashed first; a shorter one is padded with zeros.
        var block = [UInt8](repeating: 0, count: 64)
        key.withUnsafeBytes { key in
            if key.count > block.count {
                SHA256.hash(data: key).withUnsafeBytes { block.replaceSubrange(0..<$0.count, with: $0) }
            } else {
                block.replaceSubrange(0..<key.count, with: key)
            }
        }
        self.inner = Self.absorbing(block, xor: 0x36)
        self.outer = Self.absorbing(block, xor: 0x5C)
        for index in block.indices { block[index] = 0 }
    }

    /// A SHA-256 state that has hashed `block` with each byte XORed with `pad`. The padded copy is zeroed
    /// before it is freed, as `block` is by the caller: both are key material.
    private static func absorbing(_ block: [UInt8], xor pad: UInt8) -> SHA256 {
        var padded = block.map { $0 ^ pad }
        var state = SHA256()
        padded.withUnsafeBytes { state.update(bufferPointer: $0) }
        for index in padded.indices { padded[index] = 0 }
        return state
    }

    /// The authentication code of `message`.
    func code(_ message: UnsafeRawBufferPointer) -> SHA256.Digest {
        var inner = self.inner
        inner.update(bufferPointer: message)
        var outer = self.outer
        inner.finalize().withUnsafeBytes { outer.update(bufferPointer: $0) }
        return outer.finalize()
    }
}
