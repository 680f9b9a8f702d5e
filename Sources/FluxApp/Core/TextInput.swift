import FluxSecurity
import Foundation

/// Text from forms as Flux stores it; markup is kept as text and escaped wherever it is shown.
enum TextInput {
    /// One line: control characters removed, at most `maxLength`, trimmed.
    static func line(_ value: String, maxLength: Int = 10_000) -> String {
        Sanitize.headerValue(value, maxLength: maxLength).trimmingCharacters(in: .whitespaces)
    }

    /// A person's or organization's name: one line of at most 160 characters; `nil` when nothing is left.
    static func name(_ value: String?) -> String? {
        guard let value else { return nil }
        let cleaned = line(value, maxLength: 160)
        return cleaned.isEmpty ? nil : cleaned
    }

    /// Free text: less control characters other than line breaks and tabs, trimmed.
    static func multiline(_ value: String) -> String {
        String(String.UnicodeScalarView(value.unicodeScalars.filter {
            $0 == "\n" || $0 == "\t" || $0.properties.generalCategory != .control
        })).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether `value` has a control character (NUL among them, which PostgreSQL cannot hold in text): such
    /// input to a search or a lookup is refused rather than sent to the database.
    static func hasControlCharacters(_ value: String) -> Bool {
        value.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    /// A search or filter term: at most 100 characters, none of them a control character (the document's
    /// `SearchText`).
    static func isSearchText(_ value: String?) -> Bool {
        guard let value else { return true }
        return value.count <= 100 && !hasControlCharacters(value)
    }

    /// Session ids and visitor hashes: 1 to 100 ASCII letters, digits, `-` or `_`.
    static func isToken(_ value: String) -> Bool {
        (1...100).contains(value.count) && value.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_")
        }
    }

    /// A time in ISO 8601 as clients write it, with or without fractional seconds; `nil` for anything else.
    static func instant(_ text: String) -> Date? {
        (try? Date(text, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true)))
            ?? (try? Date(text, strategy: .iso8601))
    }
}
