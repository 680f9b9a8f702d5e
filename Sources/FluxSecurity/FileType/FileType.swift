/// The file types FluxSecurity recognises by content.
public enum FileType: String, Sendable, CaseIterable {
    case jpeg, png, webp, gif, mp4, mov, pdf

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
        }
    }
}
