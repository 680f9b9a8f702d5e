import Foundation

extension Sanitize {
    private static let windowsReservedNames = Set(["con", "prn", "aux", "nul"] + (1...9).flatMap { ["com\($0)", "lpt\($0)"] })

    /// A file name safe to show and to store as metadata: the last path component only (no traversal),
    /// no control or reserved characters, no leading dots, not a device name, at most `maxBytes` UTF-8 bytes
    /// with the extension kept. Never empty.
    public static func filename(_ name: String, maxBytes: Int = 200) -> String {
        let lastComponent = name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        var cleaned = removingControlCharacters(lastComponent, keepNewlines: false)
            .map { "<>:\"|?*".contains($0) ? "_" : String($0) }.joined()
            .trimmingCharacters(in: .whitespaces)
        while cleaned.hasPrefix(".") { cleaned.removeFirst() }
        while cleaned.hasSuffix(".") || cleaned.hasSuffix(" ") { cleaned.removeLast() }
        let stem = cleaned.split(separator: ".", maxSplits: 1).first.map { $0.lowercased() } ?? ""
        if windowsReservedNames.contains(stem) { cleaned = "_" + cleaned }
        if cleaned.isEmpty { cleaned = "file" }
        guard cleaned.utf8.count > maxBytes else { return cleaned }
        let dot = cleaned.lastIndex(of: ".")
        let suffix = dot.map { String(cleaned[$0...]) }.flatMap { $0.utf8.count <= 16 ? $0 : nil } ?? ""
        var base = String(cleaned.dropLast(suffix.count))
        while base.utf8.count + suffix.utf8.count > maxBytes { base.removeLast() }
        return base + suffix
    }

    /// An email address in RFC 5321 shape (dot-atom local part of at most 64 bytes, a dotted domain of
    /// letters, digits and hyphens, at most 254 bytes in all), trimmed with the domain lowercased; else `nil`.
    public static func email(_ address: String) -> String? {
        let trimmed = address.trimmingCharacters(in: .whitespaces)
        guard trimmed.utf8.count <= 254, let at = trimmed.lastIndex(of: "@") else { return nil }
        let local = String(trimmed[..<at])
        let domain = trimmed[trimmed.index(after: at)...].lowercased()
        let atext = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~")
        guard (1...64).contains(local.utf8.count), !local.hasPrefix("."), !local.hasSuffix("."), !local.contains(".."),
            local.unicodeScalars.allSatisfy({ $0 == "." || atext.contains($0) })
        else { return nil }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, domain.utf8.count <= 253,
            labels.allSatisfy({ label in
                (1...63).contains(label.count) && !label.hasPrefix("-") && !label.hasSuffix("-")
                    && label.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") }
            }),
            labels.last!.contains(where: { $0.isLetter })
        else { return nil }
        return local + "@" + domain
    }

    /// A phone number as `+` and digits (7 to 15 digits, as E.164 allows); spaces, dots, dashes and
    /// parentheses are accepted as separators. Anything else is `nil`.
    public static func phone(_ number: String) -> String? {
        let trimmed = number.trimmingCharacters(in: .whitespaces)
        guard trimmed.count <= 32 else { return nil }
        var digits = ""
        for (offset, character) in trimmed.enumerated() {
            if character.isASCII, character.isNumber {
                digits.append(character)
            } else if character == "+", offset == 0 {
                continue
            } else if !" .-()".contains(character) {
                return nil
            }
        }
        guard (7...15).contains(digits.count) else { return nil }
        return (trimmed.hasPrefix("+") ? "+" : "") + digits
    }

    /// A search query: no control characters or markup brackets, whitespace collapsed, at most `maxLength`.
    public static func searchQuery(_ query: String, maxLength: Int = 200) -> String {
        let cleaned = removingControlCharacters(query, keepNewlines: false).filter { $0 != "<" && $0 != ">" }
        return bounded(cleaned.split(whereSeparator: \.isWhitespace).joined(separator: " "), maxLength)
    }

    /// Escapes `%`, `_` and the escape character itself for a SQL `LIKE … ESCAPE '\'` pattern, so user text
    /// matches literally. Bind the result as a parameter; this is not a defence against SQL injection.
    public static func likePattern(_ text: String) -> String {
        var output = ""
        for character in text {
            if character == "\\" || character == "%" || character == "_" { output.append("\\") }
            output.append(character)
        }
        return output
    }

    /// A value safe for an HTTP header: CR, LF and every other control character removed, so a value can
    /// never start a new header or end the header block.
    public static func headerValue(_ value: String, maxLength: Int = 1024) -> String {
        bounded(removingControlCharacters(value, keepNewlines: false), maxLength)
    }

    /// A URL slug: lowercase ASCII letters and digits separated by single hyphens, accents folded,
    /// at most `maxLength`; `nil` when nothing is left.
    public static func slug(_ text: String, maxLength: Int = 80) -> String? {
        let folded = text.folding(options: [.diacriticInsensitive, .caseInsensitive, .widthInsensitive], locale: Locale(identifier: "en_US_POSIX")).lowercased()
        var slug = ""
        for scalar in folded.unicodeScalars {
            if scalar.isASCII, ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) {
                slug.unicodeScalars.append(scalar)
            } else if !slug.isEmpty, !slug.hasSuffix("-") {
                slug.append("-")
            }
        }
        var bounded = String(slug.prefix(maxLength))
        while bounded.hasSuffix("-") { bounded.removeLast() }
        return bounded.isEmpty ? nil : bounded
    }

    /// An identifier (a key, a code, a handle): an ASCII letter, then letters, digits, `_` or `-`, at most
    /// `maxLength` in all; else `nil`.
    public static func identifier(_ text: String, maxLength: Int = 64) -> String? {
        guard let first = text.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic,
            text.unicodeScalars.count <= maxLength,
            text.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") })
        else { return nil }
        return text
    }
}
