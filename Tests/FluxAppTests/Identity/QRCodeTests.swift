@testable import FluxApp
import Foundation
import Testing

@Suite struct QRCodeTests {
    static let otpauth = "otpauth://totp/Flux:someone%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
        + "&issuer=Flux&algorithm=SHA1&digits=6&period=30"

    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789 /:?&=%")
    /// 300 bytes: more than version 12-M holds, so it needs version information and blocks of two lengths.
    static let long = String((0..<300).map { alphabet[$0 * 7 % alphabet.count] })

    static let texts = [
        "Flux",
        otpauth,
        TOTP.provisioningURI(secret: Array("12345678901234567890".utf8), account: "someone@example.com", issuer: "Flux"),
        long,
        "Grüße aus Zürich, 東京 と Москва — ✓ 🙂",
    ]

    @Test(arguments: texts) func zbarReadsBackTheText(_ text: String) throws {
        // setup
        let code = try QRCode(text)

        // MUT
        let decoded = try Self.decode(Self.graymap(code), fileExtension: "pgm")

        // validate
        #expect(decoded == text)
    }

    @Test(arguments: [QRCode.Correction.low, .medium, .quartile, .high])
    func everyCorrectionLevelScans(_ level: QRCode.Correction) throws {
        let code = try QRCode(Self.otpauth, correction: level)
        #expect(try Self.decode(Self.graymap(code), fileExtension: "pgm") == Self.otpauth)
    }

    /// Rasterised by librsvg as a browser would draw it, the SVG scans: the otpauth URI (version 8) and the
    /// 300-byte text (version 13, with version information).
    @Test(arguments: [otpauth, long]) func svgRendersToAScannableImage(_ text: String) throws {
        // setup
        let code = try QRCode(text)
        let svg = code.svg(moduleSize: 4, quietZone: 4)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("flux-qr-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("code.svg")
        let png = directory.appendingPathComponent("code.png")
        try Data(svg.utf8).write(to: source)

        // MUT
        let rasterizer = try Self.tool("rsvg-convert", package: "librsvg2-bin")
        let converted = try Self.run(rasterizer, ["--output", png.path, source.path])

        // validate
        #expect(converted.status == 0)
        #expect(try Self.decode(Data(contentsOf: png), fileExtension: "png") == text)
        let extent = code.size + 8
        #expect(svg.hasPrefix(#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \#(extent) \#(extent)" "#
            + #"width="\#(extent * 4)" height="\#(extent * 4)" role="img""#))
        #expect(svg.components(separatedBy: "<path").count == 2)
        let path = try #require(svg.firstMatch(of: #/ d="([^"]*)"/#)?.1)
        #expect(path.allSatisfy { "Mhvz0123456789 -".contains($0) })
        #expect(!svg.contains(text) && !svg.contains("Flux"))
    }

    /// Byte-mode capacities at level M from Table 7 of ISO/IEC 18004:2015: version 1 holds 14 bytes,
    /// version 12 holds 287 and 13 holds 331, version 40 holds 2331.
    @Test func theSmallestVersionThatHoldsTheBytesIsChosen() throws {
        #expect(try QRCode(String(repeating: "a", count: 14)).version == 1)
        #expect(try QRCode(String(repeating: "a", count: 15)).version == 2)
        #expect(try QRCode(String(repeating: "é", count: 7)).version == 1)
        #expect(try QRCode(String(repeating: "é", count: 8)).version == 2)
        #expect(try QRCode(Self.long).version == 13)
        #expect(try QRCode(Self.long).size == 69)
        #expect(try QRCode(String(repeating: "a", count: 2331)).version == 40)
        #expect(try QRCode(String(repeating: "a", count: 2953), correction: .low).version == 40)
        #expect(throws: QRCode.TextTooLong.self) { try QRCode(String(repeating: "a", count: 2332)) }
        #expect(throws: QRCode.TextTooLong.self) { try QRCode(String(repeating: "a", count: 2954), correction: .low) }
    }

    @Test func reedSolomonMatchesPublishedVectors() {
        func exponents(_ polynomial: [UInt8]) -> [Int] {
            var powers: [UInt8] = [1]
            while powers.count < 255 { powers.append(QRCode.ReedSolomon.multiply(powers.last!, 2)) }
            return polynomial.map { powers.firstIndex(of: $0)! }
        }
        // Generator polynomials as powers of α, ISO/IEC 18004:2015 Annex A.
        #expect(exponents(QRCode.ReedSolomon.generator(degree: 7)) == [0, 87, 229, 146, 149, 238, 102, 21])
        #expect(exponents(QRCode.ReedSolomon.generator(degree: 10))
            == [0, 251, 67, 46, 61, 118, 70, 64, 94, 32, 45])
        #expect(exponents(QRCode.ReedSolomon.generator(degree: 16))
            == [0, 120, 104, 107, 109, 102, 161, 76, 3, 91, 191, 147, 169, 182, 194, 225, 120])

        // "HELLO WORLD", 1-M, alphanumeric (thonky.com QR code tutorial, error correction coding).
        let helloWorld: [UInt8] = [32, 91, 11, 120, 209, 114, 220, 77, 67, 64, 236, 17, 236, 17, 236, 17]
        #expect(QRCode.ReedSolomon.remainder(of: helloWorld, degree: 10) == [196, 35, 39, 119, 235, 215, 231, 226, 93, 23])
        // "01234567", 1-M, numeric (ISO/IEC 18004:2015 Annex I).
        let digits: [UInt8] = [0x10, 0x20, 0x0C, 0x56, 0x61, 0x80, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11]
        #expect(QRCode.ReedSolomon.remainder(of: digits, degree: 10)
            == [0xA5, 0x24, 0xD4, 0xC1, 0xED, 0x36, 0xC7, 0x87, 0x2C, 0x55])
    }

    /// "'Twas brillig", 1-M, byte mode (Wikiversity, "Reed–Solomon codes for coders"): the data codewords
    /// with terminator and pad, and their error correction.
    @Test func byteModeCodewordsMatchAPublishedVector() {
        let data = QRCode.dataCodewords(Array("'Twas brillig".utf8), version: 1, correction: .medium)
        #expect(data == [0x40, 0xD2, 0x75, 0x47, 0x76, 0x17, 0x32, 0x06, 0x27, 0x26, 0x96, 0xC6, 0xC6, 0x96, 0x70, 0xEC])
        #expect(QRCode.finalSequence(data, version: 1, correction: .medium)
            == data + [0xBC, 0x2A, 0x90, 0x13, 0x6B, 0xAF, 0xEF, 0xFD, 0x4B, 0xE0])
    }

    /// Format information after masking with 101010000010010 (Annex C, Table C.1) and version information
    /// (Annex D, Table D.1).
    @Test func formatAndVersionBitsMatchTheSpecTables() {
        #expect(QRCode.formatBits(.low, mask: 0) == 0b111011111000100)
        #expect(QRCode.formatBits(.medium, mask: 0) == 0b101010000010010)
        #expect(QRCode.formatBits(.medium, mask: 5) == 0b100000011001110)
        #expect(QRCode.formatBits(.quartile, mask: 0) == 0b011010101011111)
        #expect(QRCode.formatBits(.high, mask: 7) == 0b000100000111011)
        #expect(QRCode.versionBits(7) == 0b000111_110010_010100)
        #expect(QRCode.versionBits(8) == 0b001000_010110_111100)
        #expect(QRCode.versionBits(20) == 0b010100_100110_100110)
        #expect(QRCode.versionBits(40) == 0b101000_110001_101001)
    }
}

// MARK: - Rendering and decoding

extension QRCodeTests {
    /// The symbol as a binary graymap (PGM, P5) with the 4-module quiet zone, 4 pixels a module.
    static func graymap(_ code: QRCode) -> Data {
        let scale = 4
        let width = (code.size + 8) * scale
        var pixels = [UInt8](repeating: 255, count: width * width)
        for y in 0..<width {
            for x in 0..<width {
                let (column, row) = (x / scale - 4, y / scale - 4)
                if (0..<code.size).contains(column) && (0..<code.size).contains(row) && code.isDark(x: column, y: row) {
                    pixels[y * width + x] = 0
                }
            }
        }
        return Data("P5\n\(width) \(width)\n255\n".utf8) + pixels
    }

    /// What `zbarimg` reads from the image: the one symbol's text.
    static func decode(_ image: Data, fileExtension: String) throws -> String {
        let zbarimg = try tool("zbarimg", package: "zbar-tools")
        let file = FileManager.default.temporaryDirectory
            .appendingPathComponent("flux-qr-\(UUID().uuidString).\(fileExtension)")
        try image.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try run(zbarimg, ["--quiet", "--raw", file.path])
        #expect(result.status == 0, "zbarimg found no QR code")
        return result.output.hasSuffix("\n") ? String(result.output.dropLast()) : result.output
    }

    /// The path of `name` on PATH. A missing tool fails the test rather than skipping it: scripts/test installs
    /// it, so its absence is a broken machine, not an optional check.
    static func tool(_ name: String, package: String) throws -> String {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        let path = directories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        return try #require(path, "\(name) is missing: apt-get install \(package) (scripts/test installs it)")
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
