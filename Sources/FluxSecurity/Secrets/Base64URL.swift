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
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The bytes `text` encodes, or `nil` for anything but the canonical spelling of some bytes.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let padding = String(repeating: "=", count: (4 - text.utf8.count % 4) % 4)
        let standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + padding
        // Foundation accepts what this must refuse (padding in `text`, the standard alphabet, non-zero unused
        // bits); only a text that encoding its own bytes gives back, byte for byte, is canonical.
        guard let bytes = Data(base64Encoded: standard), encode(bytes).utf8.elementsEqual(text.utf8) else { return nil }
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
