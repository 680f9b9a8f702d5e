import Crypto
import FluxSecurity
import Foundation

/// Seals secrets Flux must read back (TOTP seeds) with AES-GCM under a key derived from SESSION_SECRET for
/// this purpose, so a copy of the database alone does not yield anyone's second factor. Each box names its
/// key by id; boxes sealed before a secret rotation open with SESSION_SECRET_PREVIOUS.
struct SecretBox: Sendable {
    private let current: (id: [UInt8], key: SymmetricKey)
    private let keys: [[UInt8]: SymmetricKey]

    init(secrets: [SecretKeys]) {
        current = (secrets[0].id, secrets[0].key(for: "secret-box"))
        keys = Dictionary(secrets.map { ($0.id, $0.key(for: "secret-box")) }, uniquingKeysWith: { first, _ in first })
    }

    /// key id (4 bytes) ‖ AES-GCM nonce, ciphertext and tag, as base64.
    func seal(_ plaintext: [UInt8]) throws -> String {
        let box = try AES.GCM.seal(plaintext, using: current.key, authenticating: current.id)
        return Data(current.id + Array(box.combined!)).base64EncodedString()
    }

    func open(_ sealed: String) throws -> [UInt8] {
        guard let data = Data(base64Encoded: sealed), data.count > 4, let key = keys[Array(data.prefix(4))] else {
            throw SecretBoxError.unknownKey
        }
        let box = try AES.GCM.SealedBox(combined: data.dropFirst(4))
        return Array(try AES.GCM.open(box, using: key, authenticating: Array(data.prefix(4))))
    }
}

enum SecretBoxError: Error {
    case unknownKey
}
