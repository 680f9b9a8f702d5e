/// The industry a visitor's message is about, from words in the five site locales (it, en, es, fr, de);
/// `nil` for anything off-topic. Words match at the start of a word, so "tessuti" finds "tessut".
enum IndustryDetector {
    static let vocabulary: [(industry: String, stems: [String])] = [
        ("textile", ["textile", "fabric", "yarn", "garment", "tessil", "tessut", "filat", "textil", "tejid", "hilad", "tissu", "fil ", "stoff", "garn"]),
        ("food", ["food", "bakery", "pasta", "snack", "meat", "alimentar", "cibo", "panific", "aliment", "comida", "nourriture", "lebensmittel", "nahrung", "bäckerei", "fleisch"]),
        ("rubber", ["rubber", "latex", "gomma", "caucci", "caucho", "goma", "caoutchouc", "gummi", "kautschuk"]),
        ("pharma", ["pharma", "drug", "tablet", "farmac", "medicament", "médicament", "arzneimittel", "tablett"]),
        ("wood", ["wood", "timber", "lumber", "legno", "madera", "bois", "holz"]),
    ]
    static let industries = Set(vocabulary.map(\.industry))

    static func detect(_ message: String) -> String? {
        let words = " " + message.lowercased().map { $0.isLetter ? $0 : " " }.reduce(into: "") { $0.append($1) } + " "
        var best: (industry: String, hits: Int)?
        for entry in vocabulary {
            let hits = entry.stems.filter { words.contains(" " + $0) }.count
            if hits > 0, hits > (best?.hits ?? 0) { best = (entry.industry, hits) }
        }
        return best?.industry
    }
}
