/// A CBOR data item (RFC 8949), limited to the kinds WebAuthn sends: integers, byte and text strings, arrays,
/// maps keyed by integers or text, booleans and null.
///
/// Decoding is total: any input either yields an item or throws a `DecodingError`, and it never traps. It is also
/// bounded: nesting stops at `maximumDepth`, a container at `maximumItems`, and a declared length is checked against
/// the bytes that remain before anything is allocated, so a few hostile bytes cannot claim much memory or stack.
/// Floats, tags, indefinite lengths and simple values other than false, true and null are refused rather than
/// skipped: nothing in a passkey needs them, and refusing keeps every accepted item unambiguous.
enum CBOR: Hashable, Sendable {
    case integer(Int64)
    case bytes([UInt8])
    case text(String)
    case array([CBOR])
    /// Entries in the order they were encoded; keys are `.integer` or `.text` and never repeat.
    case map([Entry])
    case bool(Bool)
    case null

    struct Entry: Hashable, Sendable {
        let key: CBOR
        let value: CBOR
    }

    struct DecodingError: Error, Equatable, Sendable {
        enum Kind: Sendable {
            /// The input ends inside an item, or a declared length runs past it.
            case truncated
            /// Bytes that are not well-formed CBOR: a reserved additional-information value, a stray break.
            case malformed
            case invalidUTF8
            /// Well-formed CBOR that Flux refuses on purpose: a float, a tag, an indefinite length, a simple value.
            case unsupported
            /// An integer outside Int64.
            case integerOutOfRange
            case tooDeep
            case tooManyItems
            /// A map key that is neither an integer nor text.
            case invalidKey
            case duplicateKey
            case trailingBytes
        }

        let kind: Kind
    }

    /// Containers nest at most this deep; the outermost container is at depth 1.
    static let maximumDepth = 16
    /// An array holds at most this many items, a map this many entries.
    static let maximumItems = 1024

    /// The first item in `bytes` and how many bytes it took; whatever follows is left alone.
    static func decode(_ bytes: ArraySlice<UInt8>) throws(DecodingError) -> (value: CBOR, consumed: Int) {
        var reader = Reader(bytes: bytes, position: bytes.startIndex)
        let value = try reader.item(depth: 0)
        return (value, reader.position - bytes.startIndex)
    }

    static func decode(_ bytes: [UInt8]) throws(DecodingError) -> (value: CBOR, consumed: Int) {
        try decode(bytes[...])
    }

    /// The one item that `bytes` holds; bytes after it are refused.
    static func decodeWhole(_ bytes: ArraySlice<UInt8>) throws(DecodingError) -> CBOR {
        let (value, consumed) = try decode(bytes)
        guard consumed == bytes.count else { throw DecodingError(kind: .trailingBytes) }
        return value
    }

    static func decodeWhole(_ bytes: [UInt8]) throws(DecodingError) -> CBOR {
        try decodeWhole(bytes[...])
    }

    /// The value under `key` when this is a map that has it.
    subscript(key: CBOR) -> CBOR? {
        guard case .map(let entries) = self else { return nil }
        return entries.first { $0.key == key }?.value
    }

    /// Text compares by its UTF-8 bytes, as in CBOR's data model (RFC 8949 §2), not by Unicode canonical
    /// equivalence as Swift's String does: "\u{212A}" (KELVIN SIGN) is a different map key from "K".
    static func == (lhs: CBOR, rhs: CBOR) -> Bool {
        switch (lhs, rhs) {
        case (.integer(let left), .integer(let right)): left == right
        case (.bytes(let left), .bytes(let right)): left == right
        case (.text(let left), .text(let right)): left.utf8.elementsEqual(right.utf8)
        case (.array(let left), .array(let right)): left == right
        case (.map(let left), .map(let right)): left == right
        case (.bool(let left), .bool(let right)): left == right
        case (.null, .null): true
        default: false
        }
    }

    func hash(into hasher: inout Hasher) {
        switch self {
        case .integer(let value): hasher.combine(0); hasher.combine(value)
        case .bytes(let bytes): hasher.combine(1); hasher.combine(bytes)
        case .text(let text): hasher.combine(2); hasher.combine(Array(text.utf8))
        case .array(let items): hasher.combine(3); hasher.combine(items)
        case .map(let entries): hasher.combine(4); hasher.combine(entries)
        case .bool(let value): hasher.combine(5); hasher.combine(value)
        case .null: hasher.combine(6)
        }
    }
}

/// A cursor over the input; `position` only moves forward and never past `bytes.endIndex`.
private struct Reader {
    let bytes: ArraySlice<UInt8>
    var position: Int

    mutating func item(depth: Int) throws(CBOR.DecodingError) -> CBOR {
        let initial = try byte()
        let major = initial >> 5
        let info = initial & 0x1F
        if major == 7 { return try simple(info) }
        switch info {
        case 28...30: throw failure(.malformed)
        case 31: throw failure(major >= 2 && major <= 5 ? .unsupported : .malformed)
        default: break
        }
        let argument = try self.argument(info)
        switch major {
        case 0:
            guard argument <= UInt64(Int64.max) else { throw failure(.integerOutOfRange) }
            return .integer(Int64(argument))
        case 1:
            guard argument <= UInt64(Int64.max) else { throw failure(.integerOutOfRange) }
            return .integer(-1 - Int64(argument))
        case 2:
            return .bytes(Array(try take(argument)))
        case 3:
            let raw = try take(argument)
            let text = String(decoding: raw, as: UTF8.self)
            // Decoding repairs invalid UTF-8 with U+FFFD, so a round trip that changes the bytes exposes it.
            guard text.utf8.elementsEqual(raw) else { throw failure(.invalidUTF8) }
            return .text(text)
        case 4:
            let count = try containerCount(argument, depth: depth)
            var items: [CBOR] = []
            for _ in 0..<count { items.append(try item(depth: depth + 1)) }
            return .array(items)
        case 5:
            let count = try containerCount(argument, depth: depth)
            var entries: [CBOR.Entry] = []
            var keys: Set<CBOR> = []
            for _ in 0..<count {
                let key = try item(depth: depth + 1)
                switch key {
                case .integer, .text: break
                default: throw failure(.invalidKey)
                }
                guard keys.insert(key).inserted else { throw failure(.duplicateKey) }
                entries.append(CBOR.Entry(key: key, value: try item(depth: depth + 1)))
            }
            return .map(entries)
        default:
            throw failure(.unsupported)
        }
    }

    /// Major type 7: false, true and null; 24 with a value under 32 is malformed (RFC 8949 §3.3).
    private mutating func simple(_ info: UInt8) throws(CBOR.DecodingError) -> CBOR {
        switch info {
        case 20: return .bool(false)
        case 21: return .bool(true)
        case 22: return .null
        case 24:
            guard try byte() >= 32 else { throw failure(.malformed) }
            throw failure(.unsupported)
        case 28...31: throw failure(.malformed)
        default: throw failure(.unsupported)
        }
    }

    /// The count of a definite-length container, checked against the bounds before anything is read.
    private func containerCount(_ argument: UInt64, depth: Int) throws(CBOR.DecodingError) -> Int {
        guard depth < CBOR.maximumDepth else { throw failure(.tooDeep) }
        guard argument <= UInt64(CBOR.maximumItems) else { throw failure(.tooManyItems) }
        return Int(argument)
    }

    /// The argument that additional information 0...27 encodes: the value itself or 1, 2, 4 or 8 bytes big-endian.
    private mutating func argument(_ info: UInt8) throws(CBOR.DecodingError) -> UInt64 {
        let width: UInt64
        switch info {
        case 0...23: return UInt64(info)
        case 24: width = 1
        case 25: width = 2
        case 26: width = 4
        default: width = 8
        }
        return try take(width).reduce(0) { $0 << 8 | UInt64($1) }
    }

    private mutating func byte() throws(CBOR.DecodingError) -> UInt8 {
        let taken = try take(1)
        return taken[taken.startIndex]
    }

    private mutating func take(_ count: UInt64) throws(CBOR.DecodingError) -> ArraySlice<UInt8> {
        guard count <= UInt64(bytes.endIndex - position) else { throw failure(.truncated) }
        let start = position
        position += Int(count)
        return bytes[start..<position]
    }

    private func failure(_ kind: CBOR.DecodingError.Kind) -> CBOR.DecodingError {
        CBOR.DecodingError(kind: kind)
    }
}
