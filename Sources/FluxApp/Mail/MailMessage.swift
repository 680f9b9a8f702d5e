import FluxSecurity
import Foundation

/// An email address with an optional display name.
struct MailAddress: Sendable, Equatable, Codable {
    let name: String?
    let address: String

    /// `address` must pass ``Sanitize/email(_:)``; the name loses control characters (no header injection).
    init?(name: String? = nil, address: String) {
        guard let valid = Sanitize.email(address) else { return nil }
        self.address = valid
        let cleaned = name.map { Sanitize.headerValue($0, maxLength: 120).trimmingCharacters(in: .whitespaces) }
        self.name = cleaned?.isEmpty == false ? cleaned : nil
    }

    /// `Name <address>` or `address`, as MAIL_FROM is written.
    init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasSuffix(">"), let open = trimmed.lastIndex(of: "<") {
            let name = trimmed[..<open].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            self.init(name: name, address: String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)]))
        } else {
            self.init(address: trimmed)
        }
    }

    /// The header form: an ASCII name as a quoted string (quotes and backslashes escaped), any other as an
    /// RFC 2047 encoded word, so no character of it is read as syntax (commas, angle brackets) by a client.
    var header: String {
        guard let name else { return "<\(address)>" }
        if name.unicodeScalars.allSatisfy({ $0.isASCII }) {
            let quoted = name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            return "\"\(quoted)\" <\(address)>"
        }
        return "=?UTF-8?B?\(Data(name.utf8).base64EncodedString())?= <\(address)>"
    }
}

/// One message: a plain-text part and an HTML part, as every Flux template provides.
struct MailMessage: Sendable, Codable, Equatable {
    let to: MailAddress
    let subject: String
    let text: String
    let html: String
}

enum MIME {
    /// `=?UTF-8?B?…?=` for anything but plain printable ASCII; control characters (CR, LF) are removed
    /// first, so a subject or name can never start a header of its own.
    static func encodedWord(_ text: String) -> String {
        let cleaned = Sanitize.headerValue(text, maxLength: 200)
        if cleaned.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f }) && !cleaned.contains("=?") {
            return cleaned
        }
        return "=?UTF-8?B?\(Data(cleaned.utf8).base64EncodedString())?="
    }

    /// The RFC 5322 message: headers, then multipart/alternative with base64 text and HTML parts (base64
    /// keeps every line short and no line starting with a dot).
    static func render(_ message: MailMessage, from: MailAddress, messageID: String, date: Date) -> String {
        let boundary = "flux-" + UUID().uuidString
        func base64Lines(_ text: String) -> String {
            let encoded = Data(text.utf8).base64EncodedString()
            return stride(from: 0, to: encoded.count, by: 76).map { offset in
                let start = encoded.index(encoded.startIndex, offsetBy: offset)
                return String(encoded[start..<(encoded.index(start, offsetBy: 76, limitedBy: encoded.endIndex) ?? encoded.endIndex)])
            }.joined(separator: "\r\n")
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return [
            "From: \(from.header)",
            "To: \(message.to.header)",
            "Subject: \(encodedWord(message.subject))",
            "Date: \(formatter.string(from: date))",
            "Message-ID: <\(messageID)>",
            "MIME-Version: 1.0",
            "Content-Type: multipart/alternative; boundary=\"\(boundary)\"",
            "",
            "--\(boundary)",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64",
            "",
            base64Lines(message.text),
            "--\(boundary)",
            "Content-Type: text/html; charset=utf-8",
            "Content-Transfer-Encoding: base64",
            "",
            base64Lines(message.html),
            "--\(boundary)--",
            "",
        ].joined(separator: "\r\n")
    }
}
