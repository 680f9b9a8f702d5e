import Foundation
import NIOCore
import Vapor

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
            guard let found = view.firstRange(of: delimiter) else {
                pending.moveReaderIndex(forwardBy: max(0, view.count - delimiter.count + 1))
                return false
            }
            pending.moveReaderIndex(to: found.upperBound)
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
            let resume = view.index(view.startIndex, offsetBy: max(0, headerBytesSearched - 3))
            guard let end = view[resume...].firstRange(of: [13, 10, 13, 10]) else {
                if view.count > Self.maximumHeaderBytes { throw Failure.headersTooLarge }
                headerBytesSearched = view.count
                return false
            }
            headerBytesSearched = 0
            guard end.lowerBound - view.startIndex <= Self.maximumHeaderBytes else { throw Failure.headersTooLarge }
            for line in view[view.startIndex..<end.lowerBound].split(separator: [13, 10], omittingEmptySubsequences: false) {
                try header(line)
            }
            pending.moveReaderIndex(to: end.upperBound)
            state = .body
        case .body:
            if let found = view.firstRange(of: delimiter) {
                emit(found.lowerBound - view.startIndex)
                onPartComplete()
                pending.moveReaderIndex(to: found.upperBound)
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
