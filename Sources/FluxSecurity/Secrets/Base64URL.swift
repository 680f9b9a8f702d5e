import Foundation

/// Unpadded base64url (RFC 4648 §5) over Foundation's base64.
///
/// Decoding accepts only the canonical spelling of each byte string: no padding, no character of the standard
/// alphabet (`+`, `/`), no whitespace, no length that leaves one character over, and no set bit in the unused
/// low bits of the last character. So a token compared as text and as bytes cannot be spelt two ways. It is
/// an encoding: it hides and authenticates nothing.
public enum Base64URL {
    /// `bytes` as unpadded base64url.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        // The alphabet is swapped byte by byte: Foundation's replacingOccurrences goes through NSString on Linux.
        let url = Data(bytes).base64EncodedData().compactMap { byte -> UInt8? in
            switch byte {
            case UInt8(ascii: "+"): UInt8(ascii: "-")
            case UInt8(ascii: "/"): UInt8(ascii: "_")
            case UInt8(ascii: "="): nil
            default: byte
            }
        }
        return String(decoding: url, as: UTF8.self)
    }

    /// The bytes `text` encodes, or `nil` for anything but the canonical spelling of some bytes.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let characters = Array(text.utf8)
        // Foundation accepts what this must refuse (padding, the standard alphabet), so only the URL alphabet
        // gets through, in a length that a whole number of bytes can have.
        guard characters.count % 4 != 1, characters.allSatisfy(isURLCharacter) else { return nil }
        var standard = characters.map { byte in
            switch byte {
            case UInt8(ascii: "-"): UInt8(ascii: "+")
            case UInt8(ascii: "_"): UInt8(ascii: "/")
            default: byte
            }
        }
        standard += repeatElement(UInt8(ascii: "="), count: (4 - standard.count % 4) % 4)
        guard let bytes = Data(base64Encoded: Data(standard)) else { return nil }
        // Foundation also ignores the unused low bits of a last, partial group; the canonical spelling has them
        // zero, so those last bytes must encode to exactly the characters given.
        let partial = bytes.count % 3
        guard partial == 0 || encode(bytes.suffix(partial)).utf8.elementsEqual(characters.suffix(partial + 1)) else { return nil }
        return Array(bytes)
    }

    private static func isURLCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"): true
        default: false
        }
    }
}

extension Data {
    /// Decodes unpadded base64url; `nil` for anything ``Base64URL/decode(_:)`` refuses.
    public init?(base64URLEncoded text: String) {
        guard let bytes = Base64URL.decode(text) else { return nil }
        self.init(bytes)
    }

    /// These bytes as unpadded base64url.
    public func base64URLEncodedString() -> String {
        Base64URL.encode(self)
    }
}
