import Foundation

/// Unpadded base64url (RFC 4648 §5), table-driven and without Foundation's intermediate copies: the CSRF
/// check decodes a token and the security headers encode a nonce on every request (bench/security.sh).
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    /// Each byte's 6-bit value, or 0xFF for a byte outside the alphabet.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    /// `bytes` as unpadded base64url.
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        // Arrays, Data and raw buffers (the nonce) are read in place; anything else is gathered first.
        bytes.withContiguousStorageIfAvailable(encode(contiguous:)) ?? Array(bytes).withUnsafeBufferPointer(encode(contiguous:))
    }

    private static func encode(contiguous input: UnsafeBufferPointer<UInt8>) -> String {
        let length = (input.count * 4 + 2) / 3
        return String(unsafeUninitializedCapacity: length) { output in
            var out = 0
            var index = 0
            while index + 3 <= input.count {
                let group = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
                output[out] = alphabet[Int(group >> 18 & 63)]
                output[out + 1] = alphabet[Int(group >> 12 & 63)]
                output[out + 2] = alphabet[Int(group >> 6 & 63)]
                output[out + 3] = alphabet[Int(group & 63)]
                out += 4
                index += 3
            }
            let rest = input.count - index
            if rest > 0 {
                let group = UInt32(input[index]) << 16 | (rest == 2 ? UInt32(input[index + 1]) << 8 : 0)
                output[out] = alphabet[Int(group >> 18 & 63)]
                output[out + 1] = alphabet[Int(group >> 12 & 63)]
                if rest == 2 { output[out + 2] = alphabet[Int(group >> 6 & 63)] }
                out += rest + 1
            }
            return out
        }
    }

    /// The bytes `text` encodes; `nil` for any character outside the alphabet (padding included), a length
    /// no encoding has, or unused trailing bits that are not zero, so each byte string has one spelling only.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = text.utf8
        let rest = utf8.count % 4
        guard rest != 1 else { return nil }
        var output = [UInt8]()
        output.reserveCapacity(utf8.count / 4 * 3 + 2)
        var group: UInt32 = 0
        var filled = 0
        for byte in utf8 {
            let value = values[Int(byte)]
            guard value != 0xFF else { return nil }
            group = group << 6 | UInt32(value)
            filled += 1
            if filled == 4 {
                output.append(UInt8(group >> 16 & 0xFF))
                output.append(UInt8(group >> 8 & 0xFF))
                output.append(UInt8(group & 0xFF))
                group = 0
                filled = 0
            }
        }
        switch filled {
        case 2:
            guard group & 0xF == 0 else { return nil }
            output.append(UInt8(group >> 4))
        case 3:
            guard group & 0x3 == 0 else { return nil }
            output.append(UInt8(group >> 10 & 0xFF))
            output.append(UInt8(group >> 2 & 0xFF))
        default: break
        }
        return output
    }
}

extension Data {
    /// Decodes unpadded base64url (``Base64URL/decode(_:)``).
    public init?(base64URLEncoded text: String) {
        guard let bytes = Base64URL.decode(text) else { return nil }
        self.init(bytes)
    }

    /// Unpadded base64url (``Base64URL/encode(_:)``).
    public func base64URLEncodedString() -> String {
        Base64URL.encode(self)
    }
}
