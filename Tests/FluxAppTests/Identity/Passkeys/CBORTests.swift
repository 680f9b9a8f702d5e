@testable import FluxApp
import Testing

@Suite struct CBORTests {
    /// `text` as bytes, two hexadecimal digits a byte.
    static func bytes(_ text: String) -> [UInt8] {
        let digits = Array(text.utf8)
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
    }

    static func map(_ pairs: (CBOR, CBOR)...) -> CBOR {
        .map(pairs.map { CBOR.Entry(key: $0.0, value: $0.1) })
    }

    /// RFC 8949 Appendix A, the items of the kinds Flux decodes, with the values they stand for.
    static let appendixA: [(String, CBOR)] = [
        ("00", .integer(0)), ("01", .integer(1)), ("0a", .integer(10)), ("17", .integer(23)), ("1818", .integer(24)),
        ("1819", .integer(25)), ("1864", .integer(100)), ("1903e8", .integer(1000)), ("1a000f4240", .integer(1_000_000)),
        ("1b000000e8d4a51000", .integer(1_000_000_000_000)), ("20", .integer(-1)), ("29", .integer(-10)),
        ("3863", .integer(-100)), ("3903e7", .integer(-1000)),
        ("f4", .bool(false)), ("f5", .bool(true)), ("f6", .null),
        ("40", .bytes([])), ("4401020304", .bytes([1, 2, 3, 4])),
        ("60", .text("")), ("6161", .text("a")), ("6449455446", .text("IETF")), ("62225c", .text("\"\\")),
        ("62c3bc", .text("\u{00FC}")), ("63e6b0b4", .text("\u{6C34}")), ("64f0908591", .text("\u{10151}")),
        ("80", .array([])), ("83010203", .array([.integer(1), .integer(2), .integer(3)])),
        ("8301820203820405", .array([.integer(1), .array([.integer(2), .integer(3)]), .array([.integer(4), .integer(5)])])),
        ("98190102030405060708090a0b0c0d0e0f101112131415161718181819", .array((1...25).map { .integer($0) })),
        ("a0", .map([])), ("a201020304", map((.integer(1), .integer(2)), (.integer(3), .integer(4)))),
        ("a26161016162820203", map((.text("a"), .integer(1)), (.text("b"), .array([.integer(2), .integer(3)])))),
        ("826161a161626163", .array([.text("a"), map((.text("b"), .text("c")))])),
        ("a56161614161626142616361436164614461656145", map(
            (.text("a"), .text("A")), (.text("b"), .text("B")), (.text("c"), .text("C")), (.text("d"), .text("D")),
            (.text("e"), .text("E")))),
    ]

    @Test func appendixAVectorsDecode() throws {
        for (hex, value) in Self.appendixA {
            let decoded = try CBOR.decode(Self.bytes(hex))
            #expect(decoded.value == value, "\(hex)")
            #expect(decoded.consumed == hex.count / 2, "\(hex)")
            #expect(value.encoded() == Self.bytes(hex), "\(hex): the test encoder is the preferred serialisation")
        }
    }

    /// Appendix A items Flux refuses on purpose: integers past Int64, floats, undefined and simple values, tags and
    /// every indefinite-length item.
    @Test(arguments: [
        "1bffffffffffffffff", "3bffffffffffffffff", "1b8000000000000000", "3b8000000000000000",
        "f90000", "f98000", "f93c00", "fa47c35000", "fb3ff199999999999a", "f97c00", "f97e00", "fa7f800000", "fbfff0000000000000",
        "f7", "f0", "f8ff",
        "c074323031332d30332d32315432303a30343a30305a", "c11a514b67b0", "c249010000000000000000", "d74401020304",
        "d818456449455446", "d82076687474703a2f2f7777772e6578616d706c652e636f6d",
        "5f42010243030405ff", "7f657374726561646d696e67ff", "9fff", "9f018202039f0405ffff", "9f01820203820405ff",
        "83018202039f0405ff", "bf61610161629f0203ffff", "bf6346756ef563416d7421ff",
    ])
    func unsupportedItemsAreRefused(_ hex: String) {
        #expect(throws: CBOR.DecodingError.self, "\(hex)") { try CBOR.decode(Self.bytes(hex)) }
    }

    @Test func extremesOfInt64Decode() throws {
        #expect(try CBOR.decode(Self.bytes("1b7fffffffffffffff")).value == .integer(.max))
        #expect(try CBOR.decode(Self.bytes("3b7fffffffffffffff")).value == .integer(.min))
        #expect(throws: CBOR.DecodingError(kind: .integerOutOfRange)) { try CBOR.decode(Self.bytes("1b8000000000000000")) }
    }

    /// RFC 8949 §4.1 prefers the shortest head but any width is well-formed: a longer one reads as the same value.
    @Test func nonMinimalHeadsAreAccepted() throws {
        #expect(try CBOR.decode(Self.bytes("1800")).value == .integer(0))
        #expect(try CBOR.decode(Self.bytes("1b0000000000000001")).value == .integer(1))
        #expect(try CBOR.decode(Self.bytes("5a0000000101")).value == .bytes([1]))
        #expect(try CBOR.decode(Self.bytes("b90001190001f5")).value == Self.map((.integer(1), .bool(true))))
    }

    @Test func malformedBytesAreRefused() {
        for hex in ["1c", "1d", "1e", "3f", "ff", "fc", "f818", "f81f"] {
            #expect(throws: CBOR.DecodingError(kind: .malformed), "\(hex)") { try CBOR.decode(Self.bytes(hex)) }
        }
        #expect(throws: CBOR.DecodingError(kind: .invalidUTF8)) { try CBOR.decode(Self.bytes("62c328")) }
        #expect(throws: CBOR.DecodingError(kind: .invalidUTF8), "a UTF-16 surrogate") { try CBOR.decode(Self.bytes("63eda080")) }
        #expect(throws: CBOR.DecodingError(kind: .invalidUTF8), "an overlong encoding") { try CBOR.decode(Self.bytes("62c0af")) }
        #expect(throws: CBOR.DecodingError(kind: .duplicateKey)) { try CBOR.decode(Self.bytes("a201020103")) }
        #expect(throws: CBOR.DecodingError(kind: .invalidKey)) { try CBOR.decode(Self.bytes("a14001")) }
        #expect(throws: CBOR.DecodingError(kind: .invalidKey)) { try CBOR.decode(Self.bytes("a1f601")) }
    }

    /// Every proper prefix of a valid item ends inside it.
    @Test func everyTruncationIsRefused() {
        for (hex, _) in Self.appendixA {
            let whole = Self.bytes(hex)
            for length in 0..<whole.count {
                #expect(throws: CBOR.DecodingError(kind: .truncated), "\(hex) cut to \(length)") {
                    try CBOR.decode(whole[..<length])
                }
            }
        }
    }

    @Test func decodeStopsAfterTheFirstItemAndDecodeWholeRefusesTheRest() throws {
        let bytes = Self.bytes("8201020304")
        let first = try CBOR.decode(bytes)
        #expect(first.value == .array([.integer(1), .integer(2)]))
        #expect(first.consumed == 3)
        #expect(try CBOR.decode(bytes[3...]).value == .integer(3), "a slice is read from its own start")
        #expect(throws: CBOR.DecodingError(kind: .trailingBytes)) { try CBOR.decodeWhole(bytes) }
        #expect(throws: CBOR.DecodingError(kind: .truncated)) { try CBOR.decodeWhole([]) }
    }

    @Test func nestingStopsAtSixteenLevels() throws {
        let sixteen = [UInt8](repeating: 0x81, count: 16) + [0x00]
        _ = try CBOR.decodeWhole(sixteen)
        #expect(throws: CBOR.DecodingError(kind: .tooDeep)) { try CBOR.decode([UInt8](repeating: 0x81, count: 17) + [0x00]) }
        #expect(throws: CBOR.DecodingError(kind: .tooDeep)) { try CBOR.decode([UInt8](repeating: 0x81, count: 100_000)) }
        #expect(throws: CBOR.DecodingError(kind: .tooDeep)) { try CBOR.decode([UInt8](repeating: 0xA1, count: 100_000)) }
    }

    @Test func containersHoldAtMost1024Items() throws {
        _ = try CBOR.decodeWhole(CBOR.array(Array(repeating: .null, count: 1024)).encoded())
        #expect(throws: CBOR.DecodingError(kind: .tooManyItems)) {
            try CBOR.decode(CBOR.array(Array(repeating: .null, count: 1025)).encoded())
        }
        let entries = (0..<1025).map { CBOR.Entry(key: .integer(Int64($0)), value: .null) }
        #expect(throws: CBOR.DecodingError(kind: .tooManyItems)) { try CBOR.decode(CBOR.map(entries).encoded()) }
    }

    /// A head that declares more than the input holds is refused before anything that size is allocated.
    @Test(arguments: ["5bffffffffffffffff", "7bffffffffffffffff", "5a7fffffff00", "7a0000ffff61", "9bffffffffffffffff",
                      "bbffffffffffffffff", "9a00010000", "5b7fffffffffffffff", "5b8000000000000000"])
    func hugeDeclaredLengthsAreRefused(_ hex: String) {
        #expect(throws: CBOR.DecodingError.self, "\(hex)") { try CBOR.decode(Self.bytes(hex)) }
    }

    /// Swift's String == treats "\u{212A}" (KELVIN SIGN) and "K" as equal; CBOR keys are their bytes.
    @Test func textComparesByItsBytes() throws {
        let kelvin = CBOR.text("\u{212A}")
        #expect(kelvin != .text("K"))
        #expect(Set([kelvin, .text("K")]).count == 2)
        let value = try CBOR.decodeWhole(Self.bytes("a2614b0163e284aa02"))
        #expect(value[.text("K")] == .integer(1))
        #expect(value[kelvin] == .integer(2))
        #expect(throws: CBOR.DecodingError(kind: .duplicateKey)) { try CBOR.decode(Self.bytes("a263e284aa0163e284aa02")) }
    }

    @Test func mapLookupFindsAKeyAndNothingElse() {
        let value = Self.map((.integer(1), .text("one")), (.text("two"), .integer(2)))
        #expect(value[.integer(1)] == .text("one"))
        #expect(value[.text("two")] == .integer(2))
        #expect(value[.integer(2)] == nil)
        #expect(CBOR.array([.integer(1)])[.integer(0)] == nil)
    }
}
