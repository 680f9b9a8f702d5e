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
        var inner = SHA256()
        var outer = SHA256()
        var pad = block.map { $0 ^ 0x36 }
        pad.withUnsafeBytes { inner.update(bufferPointer: $0) }
        pad = block.map { $0 ^ 0x5C }
        pad.withUnsafeBytes { outer.update(bufferPointer: $0) }
        for index in block.indices {
            block[index] = 0
            pad[index] = 0
        }
        self.inner = inner
        self.outer = outer
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
