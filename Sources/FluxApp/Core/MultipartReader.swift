import Foundation
import NIOCore
import Vapor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A streaming `multipart/form-data` reader: feed it the body's chunks as they arrive; it reports each
/// part's headers, then its content in pieces, then the part's end, and keeps at most one delimiter's
/// length of content (or one part's headers, at most 16 KiB) in memory.
///
/// Flux's own rather than MultipartKit's parser: MultipartKit 4.7.1 (the version this project can use)
/// indexes a 128-entry table with any byte of a header name, so one byte at or above 0x80 there traps and
/// takes the whole server down (found by the API fuzzer, see Tests/fuzz).
final class MultipartReader {
    enum Failure: Error, Equatable {
        /// The body does not follow multipart's syntax, or ends before its closing delimiter.
        case syntax
        /// A part's headers are larger than ``maximumHeaderBytes``.
        case headersTooLarge
    }

    static let maximumHeaderBytes = 16 * 1024

    var onHeader: (String, String) -> Void = { _, _ in }
    var onBody: (inout ByteBuffer) -> Void = { _ in }
    var onPartComplete: () -> Void = {}

    private enum State {
        case preamble, afterDelimiter, headers, body, epilogue
    }

    /// CRLF, `--` and the boundary: what ends every part. The body's first delimiter has no CRLF before it,
    /// so the reader starts with one pending, as if it had.
    private let delimiter: [UInt8]
    private var pending = ByteBuffer(bytes: [13, 10])
    private var state = State.preamble
    /// How much of a part's headers has been searched for their end already, so headers that arrive a
    /// few bytes at a time are not searched again from the start each time.
    private var headerBytesSearched = 0

    init(boundary: String) {
        delimiter = Array("\r\n--\(boundary)".utf8)
    }

    func execute(_ chunk: ByteBuffer) throws {
        guard state != .epilogue else { return }
        var chunk = chunk
        pending.writeBuffer(&chunk)
        while try step() {}
        pending.discardReadBytes()
    }

    /// Throws unless the closing delimiter has been read.
    func finish() throws {
        guard state == .epilogue else { throw Failure.syntax }
    }

    /// One move of the state machine; `false` when it needs more bytes.
    private func step() throws -> Bool {
        let view = pending.readableBytesView
        switch state {
        case .preamble:
            guard let found = Self.offset(of: delimiter, in: pending) else {
                pending.moveReaderIndex(forwardBy: max(0, view.count - delimiter.count + 1))
                return false
            }
            pending.moveReaderIndex(forwardBy: found + delimiter.count)
            state = .afterDelimiter
        case .afterDelimiter:
            guard view.count >= 2 else { return false }
            let next = (view[view.startIndex], view[view.startIndex + 1])
            pending.moveReaderIndex(forwardBy: 2)
            switch next {
            case (45, 45): state = .epilogue  // "--": the closing delimiter
            case (13, 10): state = .headers
            default: throw Failure.syntax
            }
        case .headers:
            if view.starts(with: [13, 10]) {
                pending.moveReaderIndex(forwardBy: 2)
                state = .body
                return true
            }
            guard let end = Self.offset(of: Self.headersEnd, in: pending, from: max(0, headerBytesSearched - 3)) else {
                if view.count > Self.maximumHeaderBytes { throw Failure.headersTooLarge }
                headerBytesSearched = view.count
                return false
            }
            headerBytesSearched = 0
            guard end <= Self.maximumHeaderBytes else { throw Failure.headersTooLarge }
            for line in view[view.startIndex..<view.startIndex + end].split(separator: [13, 10], omittingEmptySubsequences: false) {
                try header(line)
            }
            pending.moveReaderIndex(forwardBy: end + Self.headersEnd.count)
            state = .body
        case .body:
            if let found = Self.offset(of: delimiter, in: pending) {
                emit(found)
                onPartComplete()
                pending.moveReaderIndex(forwardBy: delimiter.count)
                state = .afterDelimiter
                return true
            }
            // The end may hold the start of a delimiter split across chunks: keep it back.
            emit(max(0, view.count - delimiter.count + 1))
            return false
        case .epilogue:
            return false
        }
        return true
    }

    private static let headersEnd: [UInt8] = [13, 10, 13, 10]

    /// Where `needle` first occurs in `buffer`'s readable bytes at or after `start`, as an offset from its reader
    /// index. By `memchr` for its first byte and `memcmp` for the rest, on the bytes themselves: a generic
    /// collection search reads a ByteBufferView one byte at a time through several calls, which unoptimized (the
    /// debug build the tests run) received uploads at about 1 MB/s, so that a 100 MB upload took minutes.
    static func offset(of needle: [UInt8], in buffer: ByteBuffer, from start: Int = 0) -> Int? {
        buffer.withUnsafeReadableBytes { haystack -> Int? in
            guard let first = needle.first, start >= 0, let base = haystack.baseAddress else { return nil }
            return needle.withUnsafeBytes { pattern -> Int? in
                var position = start
                while haystack.count - position >= needle.count {
                    guard let hit = memchr(base + position, Int32(first), haystack.count - position - needle.count + 1) else { return nil }
                    let index = base.distance(to: UnsafeRawPointer(hit))
                    if memcmp(base + index, pattern.baseAddress!, needle.count) == 0 { return index }
                    position = index + 1
                }
                return nil
            }
        }
    }

    private func emit(_ count: Int) {
        guard count > 0, var piece = pending.readSlice(length: count) else { return }
        onBody(&piece)
    }

    /// `Name: value`, the name an RFC 7230 token.
    private func header(_ line: ByteBufferView.SubSequence) throws {
        guard let colon = line.firstIndex(of: 58), colon > line.startIndex,
            line[line.startIndex..<colon].allSatisfy(Self.isTokenByte)
        else { throw Failure.syntax }
        let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self)
        let value = String(decoding: line[line.index(after: colon)...], as: UTF8.self)
        onHeader(name, value.trimmingCharacters(in: [" ", "\t"]))
    }

    private static let tokenSymbols = Set("!#$%&'*+-.^_`|~".utf8)

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"):
            true
        default:
            tokenSymbols.contains(byte)
        }
    }
}

/// The content decoder for `multipart/form-data`: every route that decodes a body takes JSON, so multipart
/// there is the wrong media type, answered 415 before any parser sees it.
struct MultipartRefused: ContentDecoder {
    func decode<D: Decodable>(_ decodable: D.Type, from body: ByteBuffer, headers: HTTPHeaders) throws -> D {
        throw AppError(.unsupportedMediaType, code: "unsupported_media_type", message: "Send the body as application/json.")
    }
}
