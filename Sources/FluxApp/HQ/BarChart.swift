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
