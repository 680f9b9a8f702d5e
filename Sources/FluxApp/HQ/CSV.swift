import Vapor

/// A CSV download (RFC 4180) that a spreadsheet opens as data: every field quoted, quotes doubled, and a
/// field that a spreadsheet would run as a formula (starting with =, +, -, @, tab or carriage return, the
/// characters OWASP lists) prefixed with an apostrophe so it stays text.
struct CSV {
    private var text: String

    init(header: [String]) {
        text = ""
        append(header)
    }

    static func field(_ value: String) -> String {
        var value = value
        if let first = value.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { value = "'" + value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    mutating func append(_ row: [String]) {
        text += row.map(Self.field).joined(separator: ",") + "\r\n"
    }

    func response(filename: String) -> Response {
        let response = Response(status: .ok, body: .init(string: text))
        response.headers.contentType = HTTPMediaType(type: "text", subType: "csv", parameters: ["charset": "utf-8"])
        response.headers.contentDisposition = .init(.attachment, filename: filename)
        return response
    }
}
