/// The file types FluxSecurity recognises by content. A type says what the content looks like, not that it is
/// harmless to open.
public enum FileType: String, Sendable, CaseIterable {
    case jpeg, png, webp, gif, mp4, mov, pdf
    /// UTF-8 text with no control characters but tab, line and page breaks (notes, CSV, logs): a type for
    /// document stores, never for anything served inline.
    case text

    /// The media type to serve it with (what `file --mime-type` reports).
    public var mimeType: String {
        switch self {
        case .jpeg: "image/jpeg"
        case .png: "image/png"
        case .webp: "image/webp"
        case .gif: "image/gif"
        case .mp4: "video/mp4"
        case .mov: "video/quicktime"
        case .pdf: "application/pdf"
        case .text: "text/plain"
        }
    }

    /// The Content-Types a client may honestly declare for it: its own, and the common aliases browsers send.
    public var acceptedDeclarations: Set<String> {
        switch self {
        case .jpeg: [mimeType, "image/jpg"]
        // Browsers name a .csv by the spreadsheet program the system associates with it.
        case .text: [mimeType, "text/csv", "text/markdown", "text/x-log", "application/vnd.ms-excel"]
        default: [mimeType]
        }
    }

    /// File name extensions that honestly name this type.
    public var extensions: Set<String> {
        switch self {
        case .jpeg: ["jpg", "jpeg", "jpe"]
        case .png: ["png"]
        case .webp: ["webp"]
        case .gif: ["gif"]
        case .mp4: ["mp4"]
        case .mov: ["mov", "qt"]
        case .pdf: ["pdf"]
        case .text: ["txt", "csv", "log", "md"]
        }
    }
}
