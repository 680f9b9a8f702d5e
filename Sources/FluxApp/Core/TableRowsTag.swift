import FluxSecurity
import LeafKit

/// `#tableRows(rows)`: the rows of a long table. Leaf's loop costs about 2 µs per value printed (copying the context and
/// starting a serializer per row, splitting key paths, escaping scalar by scalar): a 200-event transcript spent 40 % of
/// its time there. Each row is a dictionary of `cells`, an array whose items are text or `["text": …, "class": …]`, and
/// an optional `class`. Leaf does not escape this tag's output, so the tag escapes every value itself, text and class
/// alike, with `Sanitize.htmlText` inside double quotes.
struct TableRowsTag: UnsafeUnescapedLeafTag {
    struct Malformed: Error {}

    func render(_ ctx: LeafContext) throws -> LeafData {
        guard ctx.parameters.count == 1, let rows = ctx.parameters[0].array else { throw Malformed() }
        return .string(try Self.html(rows))
    }

    static func html(_ rows: [LeafData]) throws -> String {
        var html = ""
        for row in rows {
            guard let fields = row.dictionary, let cells = fields["cells"]?.array else { throw Malformed() }
            html += fields["class"]?.string.map { "<tr class=\"\(Sanitize.htmlText($0))\">" } ?? "<tr>"
            for cell in cells {
                // Asked by type first: LeafData's accessors try every conversion (building a set each time) when the
                // value is of another type, which cost more than the whole table.
                switch cell.celf {
                case .dictionary:
                    let attributes = cell.dictionary ?? [:]
                    html += attributes["class"]?.string.map { "<td class=\"\(Sanitize.htmlText($0))\">" } ?? "<td>"
                    html += Sanitize.htmlText(attributes["text"]?.string ?? "")
                case .string:
                    html += "<td>" + Sanitize.htmlText(cell.string ?? "")
                default:
                    throw Malformed()
                }
                html += "</td>"
            }
            html += "</tr>"
        }
        return html
    }
}
