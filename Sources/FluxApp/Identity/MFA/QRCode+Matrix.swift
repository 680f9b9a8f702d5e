extension QRCode {
    /// The modules of one symbol: the function patterns (6.3), the codewords placed around them (7.7),
    /// the data mask (7.8) and the format and version information (7.9, 7.10).
    struct Matrix: Sendable {
        let size: Int
        private var dark: [Bool]
        /// Function patterns and the format and version areas, which hold no data and take no mask.
        private var reserved: [Bool]
        /// How much the mask penalty rules (7.8.3) count against this symbol; set by `apply(mask:correction:)`.
        private(set) var penalty = 0

        subscript(x: Int, y: Int) -> Bool { dark[y * size + x] }

        /// The function patterns of `version`, with the format areas reserved until a mask is chosen.
        init(version: Int) {
            size = 17 + 4 * version
            dark = Array(repeating: false, count: size * size)
            reserved = dark
            drawTimingPatterns()
            drawFinderPatterns()
            drawAlignmentPatterns(version: version)
            drawFormatInformation(0)
            if version >= 7 { drawVersionInformation(QRCode.versionBits(version)) }
        }

        private mutating func setFunction(_ x: Int, _ y: Int, dark isDark: Bool) {
            dark[y * size + x] = isDark
            reserved[y * size + x] = true
        }

        /// Row and column 6 alternate dark and light, starting dark (6.3.5).
        private mutating func drawTimingPatterns() {
            for index in 0..<size {
                setFunction(6, index, dark: index % 2 == 0)
                setFunction(index, 6, dark: index % 2 == 0)
            }
        }

        /// The three 7×7 finders in the corners, each with its light separator (6.3.3, 6.3.4).
        private mutating func drawFinderPatterns() {
            for (centreX, centreY) in [(3, 3), (size - 4, 3), (3, size - 4)] {
                for dy in -4...4 {
                    for dx in -4...4 where (0..<size).contains(centreX + dx) && (0..<size).contains(centreY + dy) {
                        let ring = max(abs(dx), abs(dy))
                        setFunction(centreX + dx, centreY + dy, dark: ring != 2 && ring != 4)
                    }
                }
            }
        }

        /// Centre coordinates of the alignment patterns, rows and columns alike, by version (Annex E, Table E.1).
        private static let alignmentCentres: [[Int]] = [
            [], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34],
            [6, 22, 38], [6, 24, 42], [6, 26, 46], [6, 28, 50], [6, 30, 54], [6, 32, 58], [6, 34, 62],
            [6, 26, 46, 66], [6, 26, 48, 70], [6, 26, 50, 74], [6, 30, 54, 78], [6, 30, 56, 82], [6, 30, 58, 86],
            [6, 34, 62, 90], [6, 28, 50, 72, 94], [6, 26, 50, 74, 98], [6, 30, 54, 78, 102], [6, 28, 54, 80, 106],
            [6, 32, 58, 84, 110], [6, 30, 58, 86, 114], [6, 34, 62, 90, 118], [6, 26, 50, 74, 98, 122],
            [6, 30, 54, 78, 102, 126], [6, 26, 52, 78, 104, 130], [6, 30, 56, 82, 108, 134],
            [6, 34, 60, 86, 112, 138], [6, 30, 58, 86, 114, 142], [6, 34, 62, 90, 118, 146],
            [6, 30, 54, 78, 102, 126, 150], [6, 24, 50, 76, 102, 128, 154], [6, 28, 54, 80, 106, 132, 158],
            [6, 32, 58, 84, 110, 136, 162], [6, 26, 54, 82, 110, 138, 166], [6, 30, 58, 86, 114, 142, 170],
        ]

        /// 5×5 alignment patterns at every pair of centres except the three where the finders are (6.3.6).
        private mutating func drawAlignmentPatterns(version: Int) {
            let centres = Self.alignmentCentres[version - 1]
            guard let first = centres.first, let last = centres.last else { return }
            let finderCorners = [(first, first), (first, last), (last, first)]
            for centreY in centres {
                for centreX in centres where !finderCorners.contains(where: { $0 == (centreX, centreY) }) {
                    for dy in -2...2 {
                        for dx in -2...2 { setFunction(centreX + dx, centreY + dy, dark: max(abs(dx), abs(dy)) != 1) }
                    }
                }
            }
        }

        /// Both copies of the 15 format bits, least significant bit first along each copy, and the dark
        /// module beside the bottom-left finder (7.9.1).
        private mutating func drawFormatInformation(_ bits: Int) {
            func bit(_ index: Int) -> Bool { bits >> index & 1 == 1 }
            for index in 0...5 { setFunction(8, index, dark: bit(index)) }
            setFunction(8, 7, dark: bit(6))
            setFunction(8, 8, dark: bit(7))
            setFunction(7, 8, dark: bit(8))
            for index in 9..<15 { setFunction(14 - index, 8, dark: bit(index)) }
            for index in 0..<8 { setFunction(size - 1 - index, 8, dark: bit(index)) }
            for index in 8..<15 { setFunction(8, size - 15 + index, dark: bit(index)) }
            setFunction(8, size - 8, dark: true)
        }

        /// Both 6×3 copies of the 18 version bits, beside the top-right and bottom-left finders (7.10, Figure 27).
        private mutating func drawVersionInformation(_ bits: Int) {
            for index in 0..<18 {
                let isDark = bits >> index & 1 == 1
                setFunction(size - 11 + index % 3, index / 3, dark: isDark)
                setFunction(index / 3, size - 11 + index % 3, dark: isDark)
            }
        }

        /// The codewords' bits, most significant first, in two-module columns that zigzag up and down from
        /// the bottom right, skipping the vertical timing column (7.7.3). Modules left over stay light, which
        /// are the remainder bits.
        mutating func place(_ codewords: [UInt8]) {
            var bitIndex = 0
            var upward = true
            var right = size - 1
            while right > 0 {
                if right == 6 { right = 5 }
                for step in 0..<size {
                    let y = upward ? size - 1 - step : step
                    for x in [right, right - 1] where !reserved[y * size + x] && bitIndex < codewords.count * 8 {
                        dark[y * size + x] = codewords[bitIndex / 8] >> (7 - bitIndex % 8) & 1 == 1
                        bitIndex += 1
                    }
                }
                upward.toggle()
                right -= 2
            }
        }

        /// Inverts the data modules where the mask's condition holds (7.8.2, Table 10), writes the format
        /// information for it, and scores the result.
        mutating func apply(mask: Int, correction: Correction) {
            for y in 0..<size {
                for x in 0..<size where !reserved[y * size + x] && Self.maskInverts(mask, row: y, column: x) {
                    dark[y * size + x].toggle()
                }
            }
            drawFormatInformation(QRCode.formatBits(correction, mask: mask))
            penalty = scorePenalty()
        }

        private static func maskInverts(_ mask: Int, row i: Int, column j: Int) -> Bool {
            switch mask {
            case 0: (i + j) % 2 == 0
            case 1: i % 2 == 0
            case 2: j % 3 == 0
            case 3: (i + j) % 3 == 0
            case 4: (i / 2 + j / 3) % 2 == 0
            case 5: i * j % 2 + i * j % 3 == 0
            case 6: (i * j % 2 + i * j % 3) % 2 == 0
            default: ((i + j) % 2 + i * j % 3) % 2 == 0
            }
        }
    }
}

// MARK: - Mask scoring (7.8.3, Table 11)

extension QRCode.Matrix {
    private func scorePenalty() -> Int {
        let rows = (0..<size).map { y in (0..<size).map { x in self[x, y] } }
        let columns = (0..<size).map { x in (0..<size).map { y in self[x, y] } }
        return (rows + columns).reduce(0) { $0 + Self.runPenalty($1) + Self.finderLikePenalty($1) }
            + blockPenalty() + balancePenalty()
    }

    /// N1: 3 for each run of five same-coloured modules in a line, plus 1 for each module beyond five.
    private static func runPenalty(_ line: [Bool]) -> Int {
        var penalty = 0
        var runLength = 0
        for (index, module) in line.enumerated() {
            runLength = index > 0 && line[index - 1] == module ? runLength + 1 : 1
            if runLength == 5 { penalty += 3 } else if runLength > 5 { penalty += 1 }
        }
        return penalty
    }

    /// N2: 3 for each 2×2 block of one colour (blocks may overlap).
    private func blockPenalty() -> Int {
        var penalty = 0
        for y in 0..<size - 1 {
            for x in 0..<size - 1
            where self[x, y] == self[x + 1, y] && self[x, y] == self[x, y + 1] && self[x, y] == self[x + 1, y + 1] {
                penalty += 3
            }
        }
        return penalty
    }

    /// N3: 40 for each dark-light-dark-light-dark run of 1:1:3:1:1 with four light modules before or after it,
    /// which a reader could take for a finder. The quiet zone beyond the edge is light too.
    private static func finderLikePenalty(_ line: [Bool]) -> Int {
        let finder = [true, false, true, true, true, false, true]
        let light = [Bool](repeating: false, count: 4)
        let padded = light + line + light
        var penalty = 0
        for start in light.count...(padded.count - light.count - finder.count)
        where padded[start..<start + finder.count].elementsEqual(finder) {
            let before = padded[start - light.count..<start]
            let after = padded[start + finder.count..<start + finder.count + light.count]
            if before.elementsEqual(light) || after.elementsEqual(light) { penalty += 40 }
        }
        return penalty
    }

    /// N4: 10 for each full 5 % by which the share of dark modules departs from 50 %.
    private func balancePenalty() -> Int {
        let darkCount = (0..<size * size).reduce(0) { $0 + (self[$1 % size, $1 / size] ? 1 : 0) }
        return 10 * (abs(darkCount * 20 - size * size * 10) / (size * size))
    }
}
