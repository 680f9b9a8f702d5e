import FluxSecurity
import Foundation
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

/// A horizontal bar chart drawn as SVG on the server (no script), with the same figures as a table.
struct BarChart: Encodable, Sendable {
    struct Bar: Encodable, Sendable {
        let label: String
        let value: Int
        let y: Int
        let textY: Int
        let width: Int
        let valueX: Int
    }

    let id: String
    let title: String
    let labelHeading: String
    let bars: [Bar]
    let height: Int

    init(id: String, title: String, labelHeading: String, rows: [(String, Int)]) {
        self.id = id
        self.title = title
        self.labelHeading = labelHeading
        let top = max(rows.map(\.1).max() ?? 0, 1)
        bars = rows.enumerated().map { index, row in
            let width = max(Int((Double(row.1) / Double(top) * 280).rounded()), row.1 > 0 ? 1 : 0)
            return Bar(label: row.0, value: row.1, y: index * 22 + 2, textY: index * 22 + 15, width: width, valueX: 150 + width + 6)
        }
        height = max(rows.count * 22 + 4, 24)
    }
}
