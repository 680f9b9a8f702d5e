/// What a file is, judged by its first bytes, for stores that take every kind of file (a client's documents:
/// archives, office files, executables, web pages) yet must never let a browser render the dangerous ones.
///
/// Unlike ``FileTypeDetector`` it refuses nothing: every prefix gets a media type to record. Only content that
/// is safe to show in place (images, audio, video, PDF, plain text: ``isInline(_:)``) gets such a type, and
/// only when its prefix carries no markup; a file whose signature says "image" but whose prefix holds
/// `<script` is recorded as `application/octet-stream`, so it is only ever a download. Text with markup is
/// recorded as what it would render as (HTML, SVG, XML, PHP). The file name is consulted only to tell apart
/// formats sharing one container (an OLE2 compound file is a `.doc`, `.xls`, `.ppt` or `.msg`), never to
/// choose a type the content does not show. Only the prefix is read: the rest is not checked.
public enum ContentIdentifier {
    /// Media types a browser may show in place (served `inline` under a sandbox CSP and `nosniff`): images,
    /// audio, video, PDF and plain text. Everything else is served as an attachment.
    public static let inlineTypes: Set<String> = [
        "image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp", "image/avif",
        "video/mp4", "video/quicktime", "video/webm",
        "audio/mpeg", "audio/aac", "audio/wav", "audio/ogg", "audio/flac", "audio/mp4",
        "application/pdf", "text/plain",
    ]

    /// The type recorded for content nothing here recognises (or a media signature carrying markup).
    public static let unknown = "application/octet-stream"

    /// Whether a file recorded as `mimeType` may be shown in place.
    public static func isInline(_ mimeType: String) -> Bool {
        inlineTypes.contains(mimeType.lowercased())
    }

    /// The media type of content starting with `prefix` (its first ``FileTypeDetector/prefixLength`` bytes
    /// are read); `filename` only splits container families, as described above.
    public static func identify(_ prefix: some Collection<UInt8>, filename: String? = nil) -> String {
        let b = Array(prefix.prefix(FileTypeDetector.prefixLength))
        guard !b.isEmpty else { return unknown }
        let markup = FileTypeDetector.containsMarkup(b)
        if let type = FileTypeDetector.signature(of: b) {
            if type == .text { return markup ? markupType(b) : special(text: b) ?? type.mimeType }
            return markup ? unknown : type.mimeType
        }
        if let media = media(b) { return markup ? unknown : media }
        return container(b, filename: filename) ?? unknown
    }

    // MARK: - Signatures

    private static func ascii(_ b: [UInt8], _ offset: Int, _ text: String) -> Bool {
        let expected = Array(text.utf8)
        return b.count >= offset + expected.count && b[offset..<offset + expected.count].elementsEqual(expected)
    }

    private static func contains(_ b: [UInt8], _ text: String, caseInsensitive: Bool = false) -> Bool {
        let needle = Array(text.utf8)
        guard b.count >= needle.count, let first = needle.first else { return false }
        let fold = { (byte: UInt8) in caseInsensitive && (0x41...0x5A).contains(byte) ? byte | 0x20 : byte }
        for start in 0...(b.count - needle.count) where fold(b[start]) == first {
            if needle.indices.allSatisfy({ fold(b[start + $0]) == needle[$0] }) { return true }
        }
        return false
    }

    /// Images, audio and video the detector's allow-list does not know.
    private static func media(_ b: [UInt8]) -> String? {
        if ascii(b, 0, "ID3"), b.count >= 10 { return "audio/mpeg" }
        if b.count >= 4, b[0] == 0xFF, b[1] & 0xE0 == 0xE0 {
            let version = (b[1] >> 3) & 0x3, layer = (b[1] >> 1) & 0x3
            // ADTS (AAC) has layer 00; MPEG audio frames a non-reserved version and layer, and a bitrate index that is not 1111.
            if layer == 0, b[1] & 0xF6 == 0xF0 { return "audio/aac" }
            if version != 1, layer != 0, b[2] >> 4 != 0xF { return "audio/mpeg" }
        }
        if ascii(b, 0, "RIFF"), ascii(b, 8, "WAVE") { return "audio/wav" }
        if ascii(b, 0, "OggS"), b.count >= 27 { return "audio/ogg" }
        if ascii(b, 0, "fLaC") { return "audio/flac" }
        if ascii(b, 4, "ftyp"), b.count >= 12 {
            switch String(decoding: b[8..<12], as: UTF8.self) {
            case "M4A ", "M4B ", "M4P ": return "audio/mp4"
            case "avif", "avis": return "image/avif"
            case "heic", "heix", "mif1", "msf1": return "image/heic"
            case "3gp4", "3gp5", "3gp6", "3g2a": return "video/3gpp"
            default: return nil
            }
        }
        if b.starts(with: [0x1A, 0x45, 0xDF, 0xA3]) { return contains(b, "webm") ? "video/webm" : "video/x-matroska" }
        // BMP: "BM", then a DIB header of a known size at offset 14.
        if ascii(b, 0, "BM"), b.count >= 18, [12, 40, 52, 56, 64, 108, 124].contains(Int(b[14]) | Int(b[15]) << 8), b[16] == 0, b[17] == 0 {
            return "image/bmp"
        }
        if b.starts(with: [0x49, 0x49, 0x2A, 0x00]) || b.starts(with: [0x4D, 0x4D, 0x00, 0x2A]) { return "image/tiff" }
        if b.starts(with: [0, 0, 1, 0]), b.count >= 6, b[4] > 0 { return "image/x-icon" }
        return nil
    }

    /// Archives, office documents, executables and other binary formats: recorded, always a download.
    private static func container(_ b: [UInt8], filename: String?) -> String? {
        let extensionName = filename.flatMap { name in name.lastIndex(of: ".").map { name[name.index(after: $0)...].lowercased() } }
        if ascii(b, 0, "PK\u{03}\u{04}") { return zip(b, extensionName: extensionName) }
        if ascii(b, 0, "PK\u{05}\u{06}") || ascii(b, 0, "PK\u{07}\u{08}") { return "application/zip" }
        if b.starts(with: [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
            return ["doc": "application/msword", "xls": "application/vnd.ms-excel", "ppt": "application/vnd.ms-powerpoint",
                    "msg": "application/vnd.ms-outlook", "msi": "application/x-msi"][extensionName ?? ""] ?? "application/x-ole-storage"
        }
        let signatures: [([UInt8], String)] = [
            ([0x1F, 0x8B], "application/gzip"),
            (Array("BZh".utf8), "application/x-bzip2"),
            ([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], "application/x-xz"),
            ([0x28, 0xB5, 0x2F, 0xFD], "application/zstd"),
            ([0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C], "application/x-7z-compressed"),
            (Array("Rar!".utf8) + [0x1A, 0x07], "application/vnd.rar"),
            (Array("MZ".utf8), "application/vnd.microsoft.portable-executable"),
            ([0x7F] + Array("ELF".utf8), "application/x-executable"),
            ([0xFE, 0xED, 0xFA, 0xCE], "application/x-mach-binary"), ([0xFE, 0xED, 0xFA, 0xCF], "application/x-mach-binary"),
            ([0xCE, 0xFA, 0xED, 0xFE], "application/x-mach-binary"), ([0xCF, 0xFA, 0xED, 0xFE], "application/x-mach-binary"),
            ([0x00] + Array("asm".utf8), "application/wasm"),
            (Array("SQLite format 3".utf8) + [0], "application/vnd.sqlite3"),
        ]
        if let match = signatures.first(where: { b.starts(with: $0.0) }) { return match.1 }
        if ascii(b, 257, "ustar") { return "application/x-tar" }
        return nil
    }

    /// A zip, or the office, e-book and Java formats built on one, by the entry names in its prefix.
    private static func zip(_ b: [UInt8], extensionName: String?) -> String {
        // ODF and EPUB store an uncompressed first entry `mimetype` holding the type itself.
        if ascii(b, 30, "mimetype") {
            let start = 38
            let end = b[start...].prefix(80).firstIndex { !(0x21...0x7E).contains($0) } ?? min(b.count, start + 80)
            let declared = String(decoding: b[start..<end], as: UTF8.self)
            if declared.hasPrefix("application/vnd.oasis.opendocument.") || declared == "application/epub+zip" { return declared }
        }
        if contains(b, "[Content_Types].xml") || contains(b, "_rels/.rels") {
            let office = ["word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                          "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                          "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation"]
            if let kind = office.keys.sorted().first(where: { contains(b, $0) }) { return office[kind]! }
            let byExtension = ["docx": "word/", "xlsx": "xl/", "pptx": "ppt/"]
            if let kind = byExtension[extensionName ?? ""] { return office[kind]! }
        }
        if contains(b, "META-INF/MANIFEST.MF") { return "application/java-archive" }
        return "application/zip"
    }

    /// Text-based formats that are not plain prose: still text, but not for showing in place.
    private static func special(text b: [UInt8]) -> String? {
        let start = b.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(b.dropFirst(3)) : b
        if ascii(start, 0, "{\\rtf") { return "application/rtf" }
        if ascii(start, 0, "%!PS") { return "application/postscript" }
        return nil
    }

    /// What text carrying markup would render as.
    private static func markupType(_ b: [UInt8]) -> String {
        let trimmed = Array(b.drop { [0x20, 0x09, 0x0A, 0x0D, 0x0C, 0xEF, 0xBB, 0xBF].contains($0) })
        if contains(b, "<svg", caseInsensitive: true) { return "image/svg+xml" }
        if ascii(trimmed, 0, "<?xml") { return "application/xml" }
        if contains(b, "<?php", caseInsensitive: true) { return "application/x-httpd-php" }
        return "text/html"
    }
}
