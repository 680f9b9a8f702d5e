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
        var standard = text.utf8.map { byte in
            switch byte {
            case UInt8(ascii: "-"): UInt8(ascii: "+")
            case UInt8(ascii: "_"): UInt8(ascii: "/")
            default: byte
            }
        }
        standard += repeatElement(UInt8(ascii: "="), count: (4 - standard.count % 4) % 4)
        // Foundation accepts what this must refuse (padding in `text`, the standard alphabet, non-zero unused
        // bits); only a text that encoding its own bytes gives back, byte for byte, is canonical.
        guard let bytes = Data(base64Encoded: Data(standard)), encode(bytes).utf8.elementsEqual(text.utf8) else { return nil }
        return Array(bytes)
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
