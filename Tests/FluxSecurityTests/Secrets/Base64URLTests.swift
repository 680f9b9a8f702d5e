import Foundation
import Testing
@testable import FluxSecurity

@Suite struct Base64URLTests {
    /// Foundation's base64 with the URL alphabet and no padding: what RFC 4648 §5 says the text must be.
    private static func reference(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    @Test func encodesAsTheRFCSaysAndDecodesBackForEveryLength() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let text = Base64URL.encode(bytes)
            #expect(text == Self.reference(bytes))
            #expect(Base64URL.decode(text) == bytes)
        }
        #expect(Base64URL.encode(Array("any carnal pleas".utf8)) == "YW55IGNhcm5hbCBwbGVhcw")
        #expect(Base64URL.encode([0xFB, 0xFF, 0xBF]) == "-_-_")
        // Any sequence of bytes, not only arrays.
        let sequence = (0..<70).lazy.map { UInt8($0 * 3 % 256) }
        #expect(Base64URL.encode(sequence) == Self.reference(Array(sequence)))
    }

    @Test func refusesEverythingOutsideTheAlphabetAndEveryNonCanonicalSpelling() {
        for text in ["YQ==", "+/+/", "ab cd", "abc\n", "é", "a", "abcde", "YR", "YWF"] {
            #expect(Base64URL.decode(text) == nil, "\(text)")
        }
        #expect(Base64URL.decode("YQ") == [0x61])
        #expect(Base64URL.decode("YWE") == [0x61, 0x61])
        #expect(Base64URL.decode("") == [])
    }
}
