/// A QR code (ISO/IEC 18004:2015, Model 2) of a text, for the MFA enrolment page to show the `otpauth://`
/// URI to a phone. The text's UTF-8 bytes go in byte mode into the smallest version (1–40) that holds them at
/// the chosen error-correction level, under the mask the spec's penalty rules prefer.
///
/// No ECI header says "UTF-8": readers assume UTF-8 for byte mode in practice, and an `otpauth` URI is ASCII.
/// Section and table numbers below are those of ISO/IEC 18004:2015.
struct QRCode: Sendable {
    /// How much of the symbol may be damaged and still read: about 7, 15, 25 and 30 %.
    enum Correction: Int, Sendable {
        case low, medium, quartile, high

        /// The two error-correction bits of the format information (7.9.1, Table 12).
        var formatIndicator: Int {
            switch self {
            case .low: 0b01
            case .medium: 0b00
            case .quartile: 0b11
            case .high: 0b10
            }
        }
    }

    /// The text has more bytes than the largest symbol holds at the requested level.
    struct TextTooLong: Error, CustomStringConvertible {
        let byteCount: Int
        let capacity: Int

        var description: String {
            "a QR code holds at most \(capacity) bytes at this error-correction level; the text has \(byteCount)"
        }
    }

    let version: Int
    private let matrix: Matrix

    var size: Int { matrix.size }

    /// Whether the module in column `x`, row `y` (both `0..<size`, from the top left) is dark.
    func isDark(x: Int, y: Int) -> Bool { matrix[x, y] }

    /// Throws `TextTooLong` when the UTF-8 bytes exceed what version 40 holds at `correction` (2331 at `.medium`).
    init(_ text: String, correction: Correction = .medium) throws {
        let bytes = Array(text.utf8)
        guard let version = (1...40).first(where: { Self.fits(bytes.count, version: $0, correction: correction) }) else {
            throw TextTooLong(byteCount: bytes.count, capacity: Self.byteCapacity(version: 40, correction: correction))
        }
        let data = Self.dataCodewords(bytes, version: version, correction: correction)
        var unmasked = Matrix(version: version)
        unmasked.place(Self.finalSequence(data, version: version, correction: correction))
        // Every mask is scored; on a tie the lower mask number wins, as `min` keeps the first.
        let candidates = (0..<8).map { mask in
            var candidate = unmasked
            candidate.apply(mask: mask, correction: correction)
            return candidate
        }
        self.version = version
        self.matrix = candidates.min { $0.penalty < $1.penalty }!
    }

    /// The symbol as a standalone SVG image: one path of the dark modules on a white square that leaves
    /// `quietZone` light modules around the symbol (the spec asks for 4), `moduleSize` pixels per module.
    /// It carries numbers only, never text, so a page can embed it as is; the page names it for assistive
    /// technology, e.g. by wrapping it in an element with `role="img"` and an `aria-label`.
    func svg(moduleSize: Int = 4, quietZone: Int = 4) -> String {
        precondition(moduleSize > 0 && quietZone >= 0)
        let extent = size + 2 * quietZone
        var path = ""
        for y in 0..<size {
            var x = 0
            while x < size {
                guard isDark(x: x, y: y) else {
                    x += 1
                    continue
                }
                let start = x
                while x < size && isDark(x: x, y: y) { x += 1 }
                path += "M\(start + quietZone) \(y + quietZone)h\(x - start)v1h-\(x - start)z"
            }
        }
        // The white square keeps the quiet zone light on a dark page, where a transparent one would not scan.
        return """
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(extent) \(extent)" \
            width="\(extent * moduleSize)" height="\(extent * moduleSize)" role="img" shape-rendering="crispEdges">\
            <rect width="\(extent)" height="\(extent)" fill="#fff"/><path fill="#000" d="\(path)"/></svg>
            """
    }
}

// MARK: - Data codewords (7.4) and error correction (7.5, 7.6)

extension QRCode {
    /// Codewords of each version, data and error correction together (Table 1).
    private static let totalCodewords = [
        26, 44, 70, 100, 134, 172, 196, 242, 292, 346, 404, 466, 532, 581, 655, 733, 815, 901, 991, 1085,
        1156, 1258, 1364, 1474, 1588, 1706, 1828, 1921, 2051, 2185, 2323, 2465, 2611, 2761, 2876, 3034, 3196, 3362,
        3532, 3706,
    ]

    /// Error-correction codewords per block, by level (L, M, Q, H) and version (Table 9).
    private static let errorCorrectionPerBlock = [
        [7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28,
         28, 28, 30, 30, 26, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
        [10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26,
         26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28],
        [13, 22, 18, 26, 18, 24, 18, 22, 20, 24, 28, 26, 24, 20, 30, 24, 28, 28, 26, 30,
         28, 30, 30, 30, 30, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
        [17, 28, 22, 16, 22, 28, 26, 26, 24, 28, 24, 28, 22, 24, 24, 30, 28, 28, 26, 28,
         30, 24, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
    ]

    /// Error-correction blocks, by level (L, M, Q, H) and version (Table 9).
    private static let blockCount = [
        [1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8,
         8, 9, 9, 10, 12, 12, 12, 13, 14, 15, 16, 17, 18, 19, 19, 20, 21, 22, 24, 25],
        [1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16,
         17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49],
        [1, 1, 2, 2, 4, 4, 6, 6, 8, 8, 8, 10, 12, 16, 12, 17, 16, 18, 21, 20,
         23, 23, 25, 27, 29, 34, 34, 35, 38, 40, 43, 45, 48, 51, 53, 56, 59, 62, 65, 68],
        [1, 1, 2, 4, 4, 4, 5, 6, 8, 8, 11, 11, 16, 16, 18, 16, 19, 21, 25, 25,
         25, 34, 30, 32, 35, 37, 40, 42, 45, 48, 51, 54, 57, 60, 63, 66, 70, 74, 77, 81],
    ]

    private static func dataCodewordCount(version: Int, correction: Correction) -> Int {
        totalCodewords[version - 1]
            - errorCorrectionPerBlock[correction.rawValue][version - 1] * blockCount[correction.rawValue][version - 1]
    }

    /// Width of the byte-mode character count indicator (Table 3).
    private static func countIndicatorBits(version: Int) -> Int { version <= 9 ? 8 : 16 }

    private static func fits(_ byteCount: Int, version: Int, correction: Correction) -> Bool {
        byteCount <= byteCapacity(version: version, correction: correction)
    }

    /// Bytes that fit after the 4-bit mode indicator and the character count.
    private static func byteCapacity(version: Int, correction: Correction) -> Int {
        (dataCodewordCount(version: version, correction: correction) * 8 - 4 - countIndicatorBits(version: version)) / 8
    }

    /// The data codewords (7.4): byte-mode indicator 0100, the byte count, the bytes, a terminator of up to
    /// four zero bits, zero bits to the next codeword, then the pad codewords 0xEC and 0x11 in turn.
    static func dataCodewords(_ bytes: [UInt8], version: Int, correction: Correction) -> [UInt8] {
        let capacity = dataCodewordCount(version: version, correction: correction)
        var bits: [Bool] = []
        func append(_ value: Int, width: Int) {
            bits += (0..<width).reversed().map { value >> $0 & 1 == 1 }
        }
        append(0b0100, width: 4)
        append(bytes.count, width: countIndicatorBits(version: version))
        for byte in bytes { append(Int(byte), width: 8) }
        append(0, width: min(4, capacity * 8 - bits.count))
        append(0, width: (8 - bits.count % 8) % 8)
        let codewords = stride(from: 0, to: bits.count, by: 8).map { start in
            bits[start..<start + 8].reduce(UInt8(0)) { $0 << 1 | ($1 ? 1 : 0) }
        }
        return codewords + (0..<capacity - codewords.count).map { $0 % 2 == 0 ? 0xEC : 0x11 }
    }

    /// The data split into blocks, each followed by its Reed–Solomon codewords, interleaved (7.5.2, 7.6).
    /// When the codewords do not divide evenly, the later blocks hold one data codeword more (Table 9).
    static func finalSequence(_ data: [UInt8], version: Int, correction: Correction) -> [UInt8] {
        let blocks = blockCount[correction.rawValue][version - 1]
        let errorCorrection = errorCorrectionPerBlock[correction.rawValue][version - 1]
        let shortBlocks = blocks - totalCodewords[version - 1] % blocks
        let shortLength = totalCodewords[version - 1] / blocks - errorCorrection
        var dataBlocks: [[UInt8]] = []
        var start = 0
        for index in 0..<blocks {
            let length = index < shortBlocks ? shortLength : shortLength + 1
            dataBlocks.append(Array(data[start..<start + length]))
            start += length
        }
        let errorBlocks = dataBlocks.map { ReedSolomon.remainder(of: $0, degree: errorCorrection) }
        return interleave(dataBlocks) + interleave(errorBlocks)
    }

    /// The first codeword of every block, then the second of every block, and so on; short blocks end first.
    private static func interleave(_ blocks: [[UInt8]]) -> [UInt8] {
        let longest = blocks.map(\.count).max() ?? 0
        return (0..<longest).flatMap { index in blocks.compactMap { index < $0.count ? $0[index] : nil } }
    }

    /// Reed–Solomon codes over GF(256) with the field's primitive polynomial x⁸+x⁴+x³+x²+1 (7.5.2).
    enum ReedSolomon {
        static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
            var product = 0
            var a = Int(a)
            var b = Int(b)
            while b > 0 {
                if b & 1 == 1 { product ^= a }
                a <<= 1
                if a & 0x100 != 0 { a ^= 0x11D }
                b >>= 1
            }
            return UInt8(product)
        }

        /// (x − α⁰)(x − α¹)…(x − α^(degree−1)), coefficients from the highest power down (Annex A).
        static func generator(degree: Int) -> [UInt8] {
            var polynomial: [UInt8] = [1]
            var root: UInt8 = 1
            for _ in 0..<degree {
                var product = polynomial + [0]
                for index in 1..<product.count { product[index] ^= multiply(polynomial[index - 1], root) }
                polynomial = product
                root = multiply(root, 2)
            }
            return polynomial
        }

        /// The error-correction codewords of a block: the remainder of data(x)·x^degree divided by the generator.
        static func remainder(of data: [UInt8], degree: Int) -> [UInt8] {
            let divisor = generator(degree: degree).dropFirst()
            var remainder = [UInt8](repeating: 0, count: degree)
            for codeword in data {
                let factor = codeword ^ remainder.removeFirst()
                remainder.append(0)
                for (index, coefficient) in divisor.enumerated() { remainder[index] ^= multiply(coefficient, factor) }
            }
            return remainder
        }
    }
}

// MARK: - Format and version information (7.9, 7.10)

extension QRCode {
    /// Level and mask with their BCH(15,5) check bits (generator 0x537), XORed with 0x5412 so that
    /// no combination is all light (7.9.1, Annex C).
    static func formatBits(_ correction: Correction, mask: Int) -> Int {
        let data = correction.formatIndicator << 3 | mask
        return (data << 10 | bchRemainder(data, generator: 0x537, degree: 10)) ^ 0x5412
    }

    /// The version with its BCH(18,6) check bits (generator 0x1F25), for versions 7 and up (7.10, Annex D).
    static func versionBits(_ version: Int) -> Int {
        version << 12 | bchRemainder(version, generator: 0x1F25, degree: 12)
    }

    private static func bchRemainder(_ value: Int, generator: Int, degree: Int) -> Int {
        var remainder = value << degree
        while remainder != 0, Int.bitWidth - 1 - remainder.leadingZeroBitCount >= degree {
            remainder ^= generator << (Int.bitWidth - 1 - remainder.leadingZeroBitCount - degree)
        }
        return remainder
    }
}
