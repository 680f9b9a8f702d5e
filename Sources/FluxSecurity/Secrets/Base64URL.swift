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
        String(unsafeUninitializedCapacity: encodedCount(input.count)) { encode(input, into: $0) }
    }

    /// How many characters `byteCount` bytes encode to.
    static func encodedCount(_ byteCount: Int) -> Int {
        (byteCount * 4 + 2) / 3
    }

    /// Encodes `input` into the start of `output`, which holds at least ``encodedCount(_:)`` bytes, and returns
    /// how many it wrote. For callers that encode into text of their own, such as the CSP nonce into its policy.
    static func encode(_ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        precondition(output.count >= encodedCount(input.count), "base64url output buffer too small")
        let alphabet = Self.alphabet
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

    /// The bytes `text` encodes; `nil` for any character outside the alphabet (padding included), a length
    /// no encoding has, or unused trailing bits that are not zero, so each byte string has one spelling only.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        // Native strings are read in place; a bridged or sliced one is gathered first.
        text.utf8.withContiguousStorageIfAvailable(decode(contiguous:)) ?? Array(text.utf8).withUnsafeBufferPointer(decode(contiguous:))
    }

    private static func decode(contiguous input: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard let length = decodedCount(input.count) else { return nil }
        var valid = false
        let output = [UInt8](unsafeUninitializedCapacity: length) { buffer, count in
            valid = decode(input, into: buffer)
            // Every byte is written, valid input or not.
            count = length
        }
        return valid ? output : nil
    }

    /// How many bytes `encodedCount` characters decode to; `nil` for a length no encoding has.
    static func decodedCount(_ encodedCount: Int) -> Int? {
        let rest = encodedCount % 4
        return rest == 1 ? nil : encodedCount / 4 * 3 + max(0, rest - 1)
    }

    /// Decodes `input` into `output`, which holds exactly ``decodedCount(_:)`` bytes, and writes every one of
    /// them; false (the bytes then meaning nothing) for input ``decode(_:)`` refuses. For callers that decode
    /// into a buffer of their own, such as the CSRF check's stack buffer.
    static func decode(_ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) -> Bool {
        guard let length = decodedCount(input.count), output.count == length else { return false }
        let rest = input.count % 4
        var bad: UInt8 = 0
        var group: UInt32 = 0
        values.withUnsafeBufferPointer { values in
            var index = 0
            var out = 0
            // Whole groups of four characters, then the two or three left over; a byte outside the alphabet
            // maps to 0xFF, and every valid value is below 64, so OR-ing the values shows one at the end.
            while index + 4 <= input.count {
                let a = values[Int(input[index])], b = values[Int(input[index + 1])]
                let c = values[Int(input[index + 2])], d = values[Int(input[index + 3])]
                bad |= a | b | c | d
                let bits = UInt32(a & 63) << 18 | UInt32(b & 63) << 12 | UInt32(c & 63) << 6 | UInt32(d & 63)
                output[out] = UInt8(truncatingIfNeeded: bits >> 16)
                output[out + 1] = UInt8(truncatingIfNeeded: bits >> 8)
                output[out + 2] = UInt8(truncatingIfNeeded: bits)
                index += 4
                out += 3
            }
            while index < input.count {
                let value = values[Int(input[index])]
                bad |= value
                group = group << 6 | UInt32(value & 63)
                index += 1
            }
            switch rest {
            case 2:
                output[out] = UInt8(truncatingIfNeeded: group >> 4)
            case 3:
                output[out] = UInt8(truncatingIfNeeded: group >> 10)
                output[out + 1] = UInt8(truncatingIfNeeded: group >> 2)
            default: break
            }
        }
        // The unused low bits of the last character must be zero, or two spellings would decode alike.
        let unusedBits: UInt32 = switch rest {
        case 2: group & 0xF
        case 3: group & 0x3
        default: 0
        }
        return bad & 0xC0 == 0 && unusedBits == 0
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
