import Foundation

extension Sanitize {
    /// The schemes a link may use; everything else (`javascript:`, `data:`, `vbscript:`, `file:`) is refused.
    public static let linkSchemes: Set<String> = ["http", "https", "mailto"]

    /// A safe absolute link, or `nil`. Entity- and percent-encoded, mixed-case, and whitespace- or
    /// control-character-split spellings of a scheme are all decoded before the scheme is judged, because
    /// browsers decode them before following the link.
    public static func url(_ candidate: String, schemes: Set<String> = linkSchemes) -> String? {
        guard candidate.utf8.count <= 2048 else { return nil }
        let decoded = decodeCharacterReferences(candidate)
        let cleaned = removingControlCharacters(decoded, keepNewlines: false).trimmingCharacters(in: .whitespaces)
        guard let colon = cleaned.firstIndex(of: ":") else { return nil }
        // The scheme as a browser reads it: whitespace and percent-escapes inside it do not hide it.
        let rawScheme = String(cleaned[..<colon]).filter { !$0.isWhitespace }
        let scheme = (rawScheme.removingPercentEncoding ?? rawScheme).lowercased()
        guard schemes.contains(scheme), scheme.allSatisfy({ $0.isASCII && $0.isLetter }) else { return nil }
        let rest = String(cleaned[cleaned.index(after: colon)...])
        guard !rest.contains(where: { $0.isWhitespace && $0 != " " }) else { return nil }
        let normalized = scheme + ":" + rest.replacingOccurrences(of: " ", with: "%20")
        guard let components = URLComponents(string: normalized), components.scheme?.lowercased() == scheme else { return nil }
        if scheme != "mailto" {
            guard let host = components.host, !host.isEmpty, rest.hasPrefix("//") else { return nil }
        }
        return components.string
    }

    /// A redirect target that stays on this site: a path beginning with one `/` (not `//` or `/\`, which
    /// browsers read as another host), or an absolute URL on `origin`. Returns the path to redirect to.
    public static func redirectTarget(_ candidate: String, origin: URL? = nil) -> String? {
        let cleaned = removingControlCharacters(candidate, keepNewlines: false).trimmingCharacters(in: .whitespaces)
        guard cleaned.utf8.count <= 2048, !cleaned.contains("\\") else { return nil }
        if cleaned.hasPrefix("/") {
            guard !cleaned.hasPrefix("//"), let components = URLComponents(string: cleaned), components.host == nil,
                components.scheme == nil
            else { return nil }
            return components.string
        }
        guard let origin, let target = URLComponents(string: cleaned),
            let scheme = target.scheme?.lowercased(), ["http", "https"].contains(scheme),
            scheme == origin.scheme?.lowercased(), target.host?.lowercased() == origin.host?.lowercased(),
            target.port == origin.port, target.user == nil, target.password == nil
        else { return nil }
        var path = target
        path.scheme = nil
        path.host = nil
        path.port = nil
        if path.path.isEmpty { path.path = "/" }
        return path.string
    }

    /// Decodes numeric (`&#106;`, `&#x6A;`) and the common named character references, as a browser
    /// would before acting on an attribute value.
    static func decodeCharacterReferences(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var output = ""
        var index = text.startIndex
        while index < text.endIndex {
            if text[index] == "&", let (decoded, next) = characterReference(in: text, at: index) {
                output += decoded
                index = next
            } else {
                output.append(text[index])
                index = text.index(after: index)
            }
        }
        return output
    }

    private static let namedReferences: [String: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": "\u{A0}", "colon": ":", "tab": "\t",
        "newline": "\n", "sol": "/", "lpar": "(", "rpar": ")", "semi": ";", "comma": ",", "period": ".",
        "excl": "!", "num": "#", "equals": "=", "plus": "+", "grave": "`",
    ]

    /// One reference at `start` (the `&`): its text and the index after it; the `;` may be missing, as
    /// browsers allow for numeric references.
    private static func characterReference(in text: String, at start: String.Index) -> (String, String.Index)? {
        var index = text.index(after: start)
        guard index < text.endIndex else { return nil }
        if text[index] == "#" {
            index = text.index(after: index)
            var hex = false
            if index < text.endIndex, text[index] == "x" || text[index] == "X" {
                hex = true
                index = text.index(after: index)
            }
            let digitsStart = index
            while index < text.endIndex, hex ? text[index].isHexDigit : text[index].isASCII && text[index].isNumber {
                index = text.index(after: index)
            }
            guard digitsStart < index, let value = UInt32(text[digitsStart..<index].prefix(8), radix: hex ? 16 : 10)
            else { return nil }
            if index < text.endIndex, text[index] == ";" { index = text.index(after: index) }
            let scalar = Unicode.Scalar(value == 0 ? 0xFFFD : value) ?? "\u{FFFD}"
            return (String(Character(scalar)), index)
        }
        let nameStart = index
        while index < text.endIndex, text[index].isASCII, text[index].isLetter, text.distance(from: nameStart, to: index) < 10 {
            index = text.index(after: index)
        }
        guard index < text.endIndex, text[index] == ";",
            let decoded = namedReferences[text[nameStart..<index].lowercased()]
        else { return nil }
        return (decoded, text.index(after: index))
    }
}
