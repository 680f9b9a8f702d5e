import Foundation
import Testing
@testable import FluxSecurity

/// Any content gets a type; only images, audio, video, PDF and plain text without markup get one that may be shown.
@Suite struct ContentIdentifierTests {
    static func bytes(_ text: String, then rest: [UInt8] = []) -> [UInt8] { Array(text.utf8) + rest }
    static let zeros = [UInt8](repeating: 0, count: 64)

    @Test(arguments: [
        // What a browser may show in place.
        (FileTypeDetectorTests.png, "image/png"),
        (FileTypeDetectorTests.jpeg, "image/jpeg"),
        (FileTypeDetectorTests.mp4, "video/mp4"),
        (bytes("%PDF-1.7\n"), "application/pdf"),
        (bytes("ID3\u{04}\0\0\0\0\0\0", then: zeros), "audio/mpeg"),
        ([0xFF, 0xFB, 0x90, 0x64] + zeros, "audio/mpeg"),
        ([0xFF, 0xF1, 0x50, 0x80] + zeros, "audio/aac"),
        (bytes("RIFF\0\0\0\0WAVEfmt ", then: zeros), "audio/wav"),
        (bytes("OggS", then: zeros), "audio/ogg"),
        (bytes("fLaC", then: zeros), "audio/flac"),
        ([0, 0, 0, 0x20] + bytes("ftypM4A ", then: zeros), "audio/mp4"),
        ([0x1A, 0x45, 0xDF, 0xA3] + bytes("\u{42}\u{82}\u{84}webm", then: zeros), "video/webm"),
        (bytes("date,amount\n2026-11-24,12.50\n"), "text/plain"),
        // Recorded, never shown in place.
        (bytes("<!doctype html><title>x</title>"), "text/html"),
        (bytes("hello <script>alert(1)</script>"), "text/html"),
        (bytes("<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"/>"), "image/svg+xml"),
        (bytes("<?xml version=\"1.0\"?><invoice/>"), "application/xml"),
        (bytes("<?php echo 1;"), "application/x-httpd-php"),
        (bytes("{\\rtf1\\ansi hello}"), "application/rtf"),
        (bytes("PK\u{03}\u{04}", then: zeros), "application/zip"),
        (bytes("PK\u{03}\u{04}", then: zeros + bytes("[Content_Types].xml") + zeros + bytes("word/document.xml")),
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (bytes("PK\u{03}\u{04}", then: zeros + bytes("[Content_Types].xml") + zeros + bytes("xl/workbook.xml")),
         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (bytes("PK\u{03}\u{04}", then: [UInt8](repeating: 0, count: 26) + bytes("mimetypeapplication/vnd.oasis.opendocument.text") + zeros),
         "application/vnd.oasis.opendocument.text"),
        ([0x1F, 0x8B, 0x08, 0] + zeros, "application/gzip"),
        ([0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C] + zeros, "application/x-7z-compressed"),
        (bytes("Rar!\u{1A}\u{07}\0", then: zeros), "application/vnd.rar"),
        (bytes("MZ", then: [0x90, 0] + zeros), "application/vnd.microsoft.portable-executable"),
        ([0x7F] + bytes("ELF", then: [2, 1, 1] + zeros), "application/x-executable"),
        ([0x00] + bytes("asm", then: [1, 0, 0, 0]), "application/wasm"),
        ([UInt8](repeating: 0, count: 257) + bytes("ustar\u{00}00", then: zeros), "application/x-tar"),
        ([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1] + zeros, "application/x-ole-storage"),
        ([0x00, 0x01, 0x02, 0x03, 0xFE] + zeros, "application/octet-stream"),
    ] as [([UInt8], String)])
    func everyContentGetsAType(content: [UInt8], expected: String) {
        let type = ContentIdentifier.identify(content, filename: "whatever.bin")
        #expect(type == expected)
        let shown: Set<String> = ["image/png", "image/jpeg", "video/mp4", "application/pdf", "audio/mpeg", "audio/aac", "audio/wav", "audio/ogg",
                                  "audio/flac", "audio/mp4", "video/webm", "text/plain"]
        #expect(ContentIdentifier.isInline(type) == shown.contains(expected))
    }

    @Test func markupInAMediaPrefixMakesItADownloadOnly() {
        for media in [FileTypeDetectorTests.png, FileTypeDetectorTests.jpeg, Self.bytes("%PDF-1.7\n"), Self.bytes("ID3\u{04}\0\0\0\0\0\0")] {
            let polyglot = media + Self.bytes("<html><script>alert(1)</script>")
            #expect(ContentIdentifier.identify(polyglot) == ContentIdentifier.unknown)
            #expect(!ContentIdentifier.isInline(ContentIdentifier.identify(polyglot)))
        }
        // Past the prefix nothing is read, as for the detector.
        let late = FileTypeDetectorTests.png + [UInt8](repeating: 1, count: FileTypeDetector.prefixLength) + Self.bytes("<script>")
        #expect(ContentIdentifier.identify(late) == "image/png")
    }

    @Test func theNameSplitsAContainerFamilyButNeverChoosesTheType() {
        let ole = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1] + Self.zeros
        #expect(ContentIdentifier.identify(ole, filename: "Budget.XLS") == "application/vnd.ms-excel")
        #expect(ContentIdentifier.identify(ole, filename: "letter.doc") == "application/msword")
        let office = Self.bytes("PK\u{03}\u{04}", then: Self.zeros + Self.bytes("[Content_Types].xml"))
        #expect(ContentIdentifier.identify(office, filename: "deck.pptx") == "application/vnd.openxmlformats-officedocument.presentationml.presentation")
        // A name cannot make content something it is not.
        #expect(ContentIdentifier.identify(Self.bytes("<html><body>hi"), filename: "photo.png") == "text/html")
        #expect(ContentIdentifier.identify(Self.bytes("PK\u{03}\u{04}", then: Self.zeros), filename: "report.pdf") == "application/zip")
        #expect(ContentIdentifier.identify([], filename: "empty.txt") == ContentIdentifier.unknown)
        #expect(ContentIdentifier.isInline("IMAGE/PNG") && !ContentIdentifier.isInline("image/svg+xml") && !ContentIdentifier.isInline("text/html"))
    }
}
