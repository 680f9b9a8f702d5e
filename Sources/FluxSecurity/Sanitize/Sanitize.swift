import Foundation

/// Context-aware escaping and sanitizing. Each function is for one output context: choosing the function
/// for the place the value goes is the whole defence, so the names say where. A value escaped for one
/// context is not safe in another (HTML text inside a `<script>`, say).
public enum Sanitize {
    /// Escapes text for an HTML element's content or a quoted attribute value: `& < > " '`.
    public static func htmlText(_ text: String) -> String {
        // Every character replaced is ASCII, and no ASCII byte occurs inside a multi-byte UTF-8 sequence, so
        // the bytes can be escaped one by one.
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "&"): output.append(contentsOf: "&amp;".utf8)
            case UInt8(ascii: "<"): output.append(contentsOf: "&lt;".utf8)
            case UInt8(ascii: ">"): output.append(contentsOf: "&gt;".utf8)
            case UInt8(ascii: "\""): output.append(contentsOf: "&quot;".utf8)
            case UInt8(ascii: "'"): output.append(contentsOf: "&#39;".utf8)
            default: output.append(byte)
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Escapes text for an HTML attribute value: every ASCII character that is not a letter or digit becomes
    /// a numeric reference, so the value cannot end its attribute even when unquoted.
    public static func htmlAttribute(_ text: String) -> String {
        var output = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 128, !(scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)) {
                output += "&#x\(String(scalar.value, radix: 16, uppercase: true));"
            } else {
                output.unicodeScalars.append(scalar)
            }
        }
        return output
    }

    /// Escapes text for a JavaScript string literal inside a `<script>` block: quotes, backslash, line
    /// terminators and `<`, `>`, `&` as `\uXXXX`, so `</script>` or `<!--` cannot appear.
    public static func javaScriptString(_ text: String) -> String {
        var output = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\", "\"", "'", "<", ">", "&", "/", "`", "\u{2028}", "\u{2029}":
                output += String(format: "\\u%04X", scalar.value)
            case _ where scalar.value < 0x20:
                output += String(format: "\\u%04X", scalar.value)
            default:
                output.unicodeScalars.append(scalar)
            }
        }
        return output
    }

    /// A CSV cell that a spreadsheet will not run as a formula: a cell starting with `= + - @`, tab or
    /// carriage return is prefixed with `'`, then the cell is quoted when it needs to be.
    ///
    /// Everything is judged by Unicode scalar: as Characters, "\r\n" is one grapheme equal to neither "\r" nor
    /// "\n", and a combining mark after `"` or `,` hides it the same way, yet a CSV reader sees the bytes.
    public static func csvCell(_ text: String) -> String {
        let scalars = text.unicodeScalars
        let formula = scalars.first.map { ["=", "+", "-", "@", "\t", "\r"].contains($0) } ?? false
        guard scalars.contains(where: { [",", "\"", "\n", "\r"].contains($0) }) else { return formula ? "'" + text : text }
        var cell = String.UnicodeScalarView()
        cell.append("\"")
        if formula { cell.append("'") }
        for scalar in scalars {
            if scalar == "\"" { cell.append("\"") }
            cell.append(scalar)
        }
        cell.append("\"")
        return String(cell)
    }

    /// Removes C0 and C1 control characters (and DEL), keeping newlines and tabs when asked.
    static func removingControlCharacters(_ text: String, keepNewlines: Bool) -> String {
        var output = ""
        for scalar in text.unicodeScalars {
            let value = scalar.value
            if keepNewlines, scalar == "\n" || scalar == "\t" {
                output.unicodeScalars.append(scalar)
            } else if value < 0x20 || (0x7F...0x9F).contains(value) || [0x2028, 0x2029, 0xFEFF].contains(value) {
                continue
            } else {
                output.unicodeScalars.append(scalar)
            }
        }
        return output
    }

    /// Cuts `text` to at most `limit` characters without splitting a grapheme.
    static func bounded(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(limit))
    }
}
