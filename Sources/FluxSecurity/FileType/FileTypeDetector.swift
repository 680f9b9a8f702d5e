import Vapor

/// Decides a file's type from its first bytes, before anything is written, and refuses content that does
/// not match what the client declared.
///
/// Only the signatures of the allowed types are accepted, each checked past its magic number (PNG's IHDR,
/// WebP's chunk, an MP4 brand), so a truncated or forged header fails. The prefix is also scanned for
/// markup and script (`<script`, `<html`, `<svg`, `<?php`, …): a polyglot that is both a valid image and
/// an HTML page is refused, because some browser or proxy will one day sniff it as HTML. Only the prefix is
/// read: what lies past it, and whether the file decodes as the type, are not checked.
public struct FileTypeDetector: Sendable {
    /// How many leading bytes ``detect(_:)`` wants; fewer only if the file is shorter.
    public static let prefixLength = 4096

    public let allowed: Set<FileType>

    /// A detector that accepts only the `allowed` types.
    public init(allowed: Set<FileType> = Set(FileType.allCases)) {
        self.allowed = allowed
    }

    /// The type of content starting with `prefix`, or `nil` when it is none of the allowed types.
    public func detect(_ prefix: some Collection<UInt8>) -> FileType? {
        let bytes = Array(prefix.prefix(Self.prefixLength))
        guard let type = Self.signature(of: bytes), allowed.contains(type), !Self.containsMarkup(bytes) else { return nil }
        return type
    }

    /// Detects the type and checks it against the client's declared file name and Content-Type; throws
    /// `415 unsupported_media_type` on any disagreement. `application/octet-stream` declares nothing.
    public func validate(_ prefix: some Collection<UInt8>, filename: String?, contentType: String?) throws(SecurityFailure) -> FileType {
        guard let type = detect(prefix) else {
            throw Self.refusal("The file's content is not an accepted type.")
        }
        if let filename, let dot = filename.lastIndex(of: "."),
            !type.extensions.contains(filename[filename.index(after: dot)...].lowercased())
        {
            throw Self.refusal("The file name's extension does not match its content.")
        }
        if let contentType {
            let declared = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            if !declared.isEmpty, declared != "application/octet-stream", !type.acceptedDeclarations.contains(declared) {
                throw Self.refusal("The declared Content-Type does not match the file's content.")
            }
        }
        return type
    }

    private static func refusal(_ reason: String) -> SecurityFailure {
        SecurityFailure(.unsupportedMediaType, code: "unsupported_media_type", reason: reason)
    }

    static func signature(of b: [UInt8]) -> FileType? {
        func ascii(_ offset: Int, _ text: String) -> Bool {
            let expected = Array(text.utf8)
            return b.count >= offset + expected.count && Array(b[offset..<offset + expected.count]) == expected
        }
        // JPEG: SOI, then a marker (FF xx, xx in C0...FE) and a segment length of at least 2.
        if b.count >= 6, b[0] == 0xFF, b[1] == 0xD8, b[2] == 0xFF, (0xC0...0xFE).contains(b[3]),
            Int(b[4]) << 8 | Int(b[5]) >= 2
        {
            return .jpeg
        }
        // PNG: signature, then the IHDR chunk of length 13 first.
        if b.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), b.count >= 33,
            b[8...11].elementsEqual([0, 0, 0, 13]), ascii(12, "IHDR")
        {
            return .png
        }
        // GIF: header and the logical screen descriptor.
        if (ascii(0, "GIF87a") || ascii(0, "GIF89a")), b.count >= 13 { return .gif }
        // WebP: a RIFF container of form WEBP whose first chunk is an image chunk.
        if ascii(0, "RIFF"), ascii(8, "WEBP"), ascii(12, "VP8 ") || ascii(12, "VP8L") || ascii(12, "VP8X"), b.count >= 20 {
            return .webp
        }
        // ISO base media: an ftyp box first; QuickTime's own brand is MOV, the MP4 family is MP4.
        if b.count >= 12, ascii(4, "ftyp") {
            let size = Int(b[0]) << 24 | Int(b[1]) << 16 | Int(b[2]) << 8 | Int(b[3])
            guard size >= 8 else { return nil }
            let brand = String(decoding: b[8..<12], as: UTF8.self)
            if brand == "qt  " { return .mov }
            if mp4Brands.contains(brand) { return .mp4 }
            return nil
        }
        // Older QuickTime files start with a movie or data atom instead of ftyp.
        if b.count >= 16, ascii(4, "moov") || ascii(4, "mdat") || ascii(4, "wide") || ascii(4, "pnot") { return .mov }
        // PDF: the header with a version.
        if ascii(0, "%PDF-"), b.count >= 8, (0x31...0x32).contains(b[5]), b[6] == 0x2E { return .pdf }
        return isText(b) ? .text : nil
    }

    /// Valid UTF-8 (a sequence cut by the end of a full prefix allowed) without NUL or control characters
    /// other than tab, line feed, form feed and carriage return.
    private static func isText(_ b: [UInt8]) -> Bool {
        guard !b.isEmpty, !b.contains(where: { $0 < 0x20 && ![0x09, 0x0A, 0x0C, 0x0D].contains($0) || $0 == 0x7F }) else { return false }
        if String(validating: b, as: UTF8.self) != nil { return true }
        guard b.count == prefixLength else { return false }
        // The prefix may end inside a character of up to 4 bytes.
        return (1...3).contains { String(validating: b.dropLast($0), as: UTF8.self) != nil }
    }

    private static let mp4Brands: Set<String> = [
        "isom", "iso2", "iso3", "iso4", "iso5", "iso6", "mp41", "mp42", "avc1", "mmp4", "dash", "MSNV", "XAVC",
    ]

    private static let markers: [[UInt8]] = [
        "<script", "<html", "<svg", "<?php", "<!doctype", "<iframe", "<body", "<object", "<embed", "<?xml", "javascript:",
    ].map { Array($0.utf8) }

    /// Case-insensitive search for markup that makes a file renderable as a document.
    static func containsMarkup(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 5 else { return false }
        for start in bytes.indices where bytes[start] == UInt8(ascii: "<") || bytes[start] | 0x20 == UInt8(ascii: "j") {
            for marker in markers where start + marker.count <= bytes.count {
                var matches = true
                for (offset, expected) in marker.enumerated() {
                    let actual = bytes[start + offset]
                    let folded = (0x41...0x5A).contains(actual) ? actual | 0x20 : actual
                    if folded != expected { matches = false; break }
                }
                if matches { return true }
            }
        }
        return false
    }
}
