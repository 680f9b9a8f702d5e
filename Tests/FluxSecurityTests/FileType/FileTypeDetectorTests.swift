import Foundation
import Testing
@testable import FluxSecurity

@Suite struct FileTypeDetectorTests {
    let detector = FileTypeDetector()
    static let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + Array("IHDR".utf8) + [UInt8](repeating: 1, count: 17)
    static let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10] + Array("JFIF".utf8) + [UInt8](repeating: 0, count: 10)
    static let mp4: [UInt8] = [0, 0, 0, 0x18] + Array("ftypisom".utf8) + [UInt8](repeating: 0, count: 12)
    static let mov: [UInt8] = [0, 0, 0, 0x14] + Array("ftypqt  ".utf8) + [UInt8](repeating: 0, count: 12)

    @Test func signaturesAreRecognised() {
        #expect(detector.detect(Self.png) == .png)
        #expect(detector.detect(Self.jpeg) == .jpeg)
        #expect(detector.detect(Self.mp4) == .mp4)
        #expect(detector.detect(Self.mov) == .mov)
        #expect(detector.detect(Array("%PDF-1.7\n".utf8)) == .pdf)
        #expect(detector.detect(Array("GIF89a".utf8) + [UInt8](repeating: 0, count: 7)) == .gif)
        #expect(detector.detect(Array("RIFF".utf8) + [0, 0, 0, 0] + Array("WEBPVP8L".utf8) + [UInt8](repeating: 0, count: 8)) == .webp)
    }

    @Test func matchingDeclarationsPass() throws {
        #expect(try detector.validate(Self.png, filename: "Photo.PNG", contentType: "image/png") == .png)
        #expect(try detector.validate(Self.jpeg, filename: "a.jpeg", contentType: "image/jpg") == .jpeg)
        #expect(try detector.validate(Self.mp4, filename: nil, contentType: "application/octet-stream") == .mp4)
        #expect(try detector.validate(Self.mov, filename: "clip.mov", contentType: nil) == .mov)
    }

    @Test(arguments: [
        ("photo.jpg", "image/png"),   // extension says JPEG, content is PNG
        ("photo.png", "image/jpeg"),  // Content-Type says JPEG
        ("photo.png", "text/html"),
        ("photo.png.html", nil),
        ("photo", "image/gif"),
    ] as [(String, String?)])
    func disagreeingDeclarationsAre415(filename: String, contentType: String?) {
        let error = #expect(throws: SecurityFailure.self) {
            try detector.validate(Self.png, filename: filename, contentType: contentType)
        }
        #expect(error?.status == .unsupportedMediaType && error?.code == "unsupported_media_type")
    }

    @Test func onlyAllowedTypesAreDetected() {
        let imagesOnly = FileTypeDetector(allowed: [.png, .jpeg])
        #expect(imagesOnly.detect(Self.png) == .png)
        #expect(imagesOnly.detect(Self.mp4) == nil)
    }

    @Test func markupAnywhereInThePrefixIsRefused() {
        #expect(detector.detect(Self.png + Array("<ScRiPt>".utf8)) == nil)
        #expect(detector.detect(Self.jpeg + [UInt8](repeating: 0, count: 3000) + Array("<svg".utf8)) == nil)
        // Past the prefix the detector does not look (the upload stores only what it checked).
        #expect(detector.detect(Self.jpeg + [UInt8](repeating: 0, count: 4100) + Array("<svg".utf8)) == .jpeg)
    }

    @Test func plainTextIsRecognisedAndBinaryOrMarkupIsNot() throws {
        #expect(detector.detect(Array("date,amount\n2026-11-24,12.50\r\n".utf8)) == .text)
        #expect(detector.detect(Array("Città: Roma\tnote".utf8)) == .text)
        // A prefix cut inside a multibyte character is still text.
        let cut = Array(String(repeating: "é", count: FileTypeDetector.prefixLength).utf8.prefix(FileTypeDetector.prefixLength - 1)) + [0xC3]
        #expect(detector.detect(cut) == .text)
        #expect(detector.detect([0x41, 0x00, 0x42]) == nil)
        #expect(detector.detect([0x41, 0x1B, 0x5B, 0x33]) == nil)
        #expect(detector.detect([0x41, 0xFF, 0xFE]) == nil)
        #expect(detector.detect(Array("notes <script>alert(1)</script>".utf8)) == nil)
        #expect(try detector.validate(Array("a,b\n".utf8), filename: "report.csv", contentType: "application/vnd.ms-excel") == .text)
        #expect(throws: SecurityFailure.self) { try detector.validate(Array("a,b\n".utf8), filename: "report.html", contentType: nil) }
        #expect(throws: SecurityFailure.self) { try detector.validate(Array("a,b\n".utf8), filename: "report.txt", contentType: "text/html") }
    }
}
