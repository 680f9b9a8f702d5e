import Foundation

extension Sanitize {
    /// Elements rich text may keep.
    public static let richTextElements: Set<String> = [
        "b", "i", "em", "strong", "p", "br", "ul", "ol", "li", "code", "pre", "blockquote", "a",
    ]

    /// Elements whose content is dropped with them: it is code or markup, never text meant for a reader.
    static let droppedWithContent: Set<String> = [
        "script", "style", "template", "iframe", "noscript", "noembed", "noframes", "xmp", "textarea", "title",
        "object", "embed", "svg", "math", "select", "option", "frameset", "head",
    ]

    /// Rich text from untrusted HTML: only the allow-listed elements survive, with no attribute except a
    /// link's `href` (http, https or mailto), to which `rel="noopener noreferrer"` is added. Every other tag
    /// is dropped (its text kept, escaped), comments and processing instructions vanish, and script-like
    /// elements go with their content. The output is re-serialized from tokens, so it is well formed.
    public static func richText(_ html: String, maxLength: Int = 100_000) -> String {
        var output = ""
        var open: [String] = []
        for token in HTMLTokenizer(bounded(html, maxLength)) {
            switch token {
            case .text(let text):
                output += htmlText(decodeCharacterReferences(text))
            case .startTag(let name, let attributes, _) where richTextElements.contains(name):
                if name == "a" {
                    output += "<a"
                    if let href = attributes.first(where: { $0.name == "href" }).flatMap({ url($0.value) }) {
                        output += " href=\"\(htmlText(href))\""
                    }
                    output += " rel=\"noopener noreferrer\">"
                } else {
                    output += "<\(name)>"
                }
                if name != "br" { open.append(name) }
            case .endTag(let name) where richTextElements.contains(name) && name != "br":
                guard let position = open.lastIndex(of: name) else { continue }
                for closing in open[position...].reversed() { output += "</\(closing)>" }
                open.removeSubrange(position...)
            case .startTag, .endTag, .comment:
                continue
            }
        }
        for closing in open.reversed() { output += "</\(closing)>" }
        return output
    }

    /// Plain text from untrusted HTML: every tag and comment removed, script-like elements with their
    /// content, character references decoded. The result is text, to be escaped for wherever it goes.
    public static func plainText(_ html: String, maxLength: Int = 100_000) -> String {
        var output = ""
        for token in HTMLTokenizer(bounded(html, maxLength)) {
            if case .text(let text) = token { output += decodeCharacterReferences(text) }
        }
        return removingControlCharacters(output, keepNewlines: true)
    }

    /// A visitor's comment: plain text, no control characters, runs of blank lines collapsed, trimmed and
    /// bounded.
    public static func comment(_ text: String, maxLength: Int = 5_000) -> String {
        var cleaned = plainText(text, maxLength: maxLength * 2)
        while cleaned.contains("\n\n\n") { cleaned = cleaned.replacingOccurrences(of: "\n\n\n", with: "\n\n") }
        return bounded(cleaned.trimmingCharacters(in: .whitespacesAndNewlines), maxLength)
    }
}

/// A forgiving HTML tokenizer for sanitizing: it never fails, and anything it cannot read as a tag is text.
struct HTMLTokenizer: Sequence, IteratorProtocol {
    struct Attribute {
        let name: String
        let value: String
    }

    enum Token {
        case text(String)
        case startTag(String, [Attribute], selfClosing: Bool)
        case endTag(String)
        case comment
    }

    private let scalars: [Unicode.Scalar]
    private var position = 0
    /// Set after a start tag whose content is dropped: everything up to its end tag is skipped.
    private var skipUntilEndOf: String?

    init(_ html: String) {
        scalars = Array(html.unicodeScalars)
    }

    mutating func next() -> Token? {
        if let element = skipUntilEndOf {
            skipUntilEndOf = nil
            skipPast(endTagOf: element)
        }
        guard position < scalars.count else { return nil }
        if scalars[position] == "<", let token = readMarkup() {
            if case .startTag(let name, _, let selfClosing) = token, Sanitize.droppedWithContent.contains(name), !selfClosing {
                skipUntilEndOf = name
            }
            return token
        }
        let start = position
        position += 1
        while position < scalars.count, scalars[position] != "<" { position += 1 }
        return .text(String(String.UnicodeScalarView(scalars[start..<position])))
    }

    private func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar)
    }

    private func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        [" ", "\t", "\n", "\r", "\u{0C}"].contains(scalar)
    }

    /// Reads a tag, end tag or comment at `<`; `nil` (and no movement) when it is a literal `<`.
    private mutating func readMarkup() -> Token? {
        var index = position + 1
        guard index < scalars.count else { return nil }
        if scalars[index] == "!" || scalars[index] == "?" {
            // Comments, doctypes, CDATA, processing instructions: dropped whole (to `-->` for a comment).
            let isComment = index + 2 < scalars.count && scalars[index + 1] == "-" && scalars[index + 2] == "-"
            position = isComment ? end(of: "-->", from: index + 3) : end(of: ">", from: index)
            return .comment
        }
        let closing = scalars[index] == "/"
        if closing { index += 1 }
        guard index < scalars.count, isLetter(scalars[index]) else {
            if closing {
                // `</` followed by a non-letter is a bogus comment in HTML: dropped to the next `>`.
                position = end(of: ">", from: index)
                return .comment
            }
            return nil
        }
        let nameStart = index
        while index < scalars.count, !isSpace(scalars[index]), scalars[index] != "/", scalars[index] != ">" { index += 1 }
        let name = String(String.UnicodeScalarView(scalars[nameStart..<index])).lowercased()
        var attributes: [Attribute] = []
        var selfClosing = false
        while index < scalars.count, scalars[index] != ">" {
            if isSpace(scalars[index]) || scalars[index] == "/" {
                selfClosing = scalars[index] == "/"
                index += 1
                continue
            }
            selfClosing = false
            let attributeStart = index
            index += 1
            while index < scalars.count, !isSpace(scalars[index]), !["/", ">", "="].contains(scalars[index]) { index += 1 }
            let attributeName = String(String.UnicodeScalarView(scalars[attributeStart..<index])).lowercased()
            while index < scalars.count, isSpace(scalars[index]) { index += 1 }
            var value = ""
            if index < scalars.count, scalars[index] == "=" {
                index += 1
                while index < scalars.count, isSpace(scalars[index]) { index += 1 }
                if index < scalars.count, scalars[index] == "\"" || scalars[index] == "'" {
                    let quote = scalars[index]
                    let valueStart = index + 1
                    index = valueStart
                    while index < scalars.count, scalars[index] != quote { index += 1 }
                    value = String(String.UnicodeScalarView(scalars[valueStart..<Swift.min(index, scalars.count)]))
                    if index < scalars.count { index += 1 }
                } else {
                    let valueStart = index
                    while index < scalars.count, !isSpace(scalars[index]), scalars[index] != ">" { index += 1 }
                    value = String(String.UnicodeScalarView(scalars[valueStart..<index]))
                }
            }
            attributes.append(Attribute(name: attributeName, value: value))
        }
        guard index < scalars.count else {
            // No closing `>`: a browser would swallow the rest as this tag, so the rest is dropped too.
            position = scalars.count
            return .comment
        }
        position = index + 1
        return closing ? .endTag(name) : .startTag(name, attributes, selfClosing: selfClosing)
    }

    /// The index just past the first `terminator` at or after `from`, or the end of input.
    private func end(of terminator: String, from: Int) -> Int {
        let pattern = Array(terminator.unicodeScalars)
        var index = from
        while index + pattern.count <= scalars.count {
            if Array(scalars[index..<index + pattern.count]) == pattern { return index + pattern.count }
            index += 1
        }
        return scalars.count
    }

    /// Moves past `</element …>`, case-insensitively, or to the end when it never comes.
    private mutating func skipPast(endTagOf element: String) {
        let pattern = Array(("</" + element).unicodeScalars)
        var index = position
        while index + pattern.count <= scalars.count {
            let candidate = scalars[index..<index + pattern.count].map { ("A"..."Z").contains($0) ? Unicode.Scalar($0.value + 32)! : $0 }
            let after = index + pattern.count
            if candidate == pattern, after == scalars.count || isSpace(scalars[after]) || scalars[after] == ">" || scalars[after] == "/" {
                position = end(of: ">", from: after)
                return
            }
            index += 1
        }
        position = scalars.count
    }
}
