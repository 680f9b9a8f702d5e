@testable import FluxApp
import Foundation
import NIOCore
import Testing
import VaporTesting

@Suite struct MultipartReaderTests {
    struct Part: Equatable {
        var headers: [String] = []
        var body: [UInt8] = []
    }

    /// Feeds `body` in chunks of `size` bytes and collects the parts the reader reports.
    func read(_ body: [UInt8], boundary: String = "XyZ", chunk size: Int) throws -> [Part] {
        let reader = MultipartReader(boundary: boundary)
        var parts: [Part] = []
        var current = Part()
        reader.onHeader = { name, value in current.headers.append("\(name)=\(value)") }
        reader.onBody = { buffer in current.body += buffer.readBytes(length: buffer.readableBytes) ?? [] }
        reader.onPartComplete = {
            parts.append(current)
            current = Part()
        }
        var offset = 0
        while offset < body.count {
            try reader.execute(ByteBuffer(bytes: body[offset..<min(body.count, offset + size)]))
            offset += size
        }
        try reader.finish()
        return parts
    }

    /// Holds near-misses of the delimiter, so a part's end is only ever the whole of it.
    static let binary: [UInt8] = (0..<600).map { UInt8($0 % 256) } + Array("\r\n--XyQ\r\n-\r\n--Xy".utf8)

    static var twoParts: [UInt8] {
        Array("preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n".utf8)
            + Array("--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\nContent-Type:  application/octet-stream\r\n\r\n".utf8)
            + binary + Array("\r\n--XyZ--\r\nepilogue".utf8)
    }

    @Test func partsReadTheSameWhereverTheChunksAreCut() throws {
        let expected = [
            Part(headers: [#"Content-Disposition=form-data; name="note""#], body: Array("hello".utf8)),
            Part(headers: [#"Content-Disposition=form-data; name="file"; filename="a.bin""#, "Content-Type=application/octet-stream"],
                 body: Self.binary),
        ]
        for size in [1, 2, 3, 5, 7, 16, 64, 1000, 100_000] {
            #expect(try read(Self.twoParts, chunk: size) == expected, "chunks of \(size)")
        }
    }

    @Test func aPartWithoutHeadersIsRead() throws {
        let body = Array("--XyZ\r\n\r\nbare\r\n--XyZ--".utf8)
        #expect(try read(body, chunk: 4) == [Part(headers: [], body: Array("bare".utf8))])
    }

    @Test func malformedBodiesAreRefusedNotTrapped() throws {
        let cases: [(String, [UInt8])] = [
            ("a header name byte over 0x7F (trapped MultipartKit 4.7.1)", Array("--XyZ\r\n".utf8) + [0xC3, 0xA9] + Array(": x\r\n\r\nbody\r\n--XyZ--".utf8)),
            ("a header line without a colon", Array("--XyZ\r\nTrue\r\n\r\nbody\r\n--XyZ--".utf8)),
            ("text straight after the delimiter", Array("--XyZ\r\nTrue--XyZ--\r\n".utf8)),
            ("garbage after a delimiter", Array("--XyZ!!\r\n\r\nx\r\n--XyZ--".utf8)),
            ("no closing delimiter", Array("--XyZ\r\n\r\nbody never ends".utf8)),
            ("no delimiter at all", Array("just text".utf8)),
            ("headers over 16 KiB", Array("--XyZ\r\nX-Long: ".utf8) + [UInt8](repeating: 97, count: 17_000) + Array("\r\n\r\nx\r\n--XyZ--".utf8)),
        ]
        for (name, body) in cases {
            for size in [1, 7, 100_000] {
                #expect(throws: MultipartReader.Failure.self, "\(name), chunks of \(size)") { try read(body, chunk: size) }
            }
        }
    }

    @Test func aJSONRouteSentMultipartAnswers415() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            var headers = try await csrfHeaders(tester, json: false)
            headers.replaceOrAdd(name: .contentType, value: "multipart/form-data; boundary=B")
            let body = Array("--B\r\n".utf8) + [0xFF] + Array(": x\r\n\r\ny\r\n--B--\r\n".utf8)
            let response = try await tester.sendRequest(.POST, "/api/consultation", headers: headers) { req in
                req.body = ByteBuffer(bytes: body)
            }
            #expect(response.status == .unsupportedMediaType)
            #expect(errorCode(response) == "unsupported_media_type")
        }
    }
}
