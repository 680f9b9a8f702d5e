import Foundation
import Logging

/// Delivers one rendered message. The outbox calls it; it never sees the database.
protocol MailClient: Sendable {
    func send(_ message: MailMessage, from: MailAddress, messageID: String) async throws
}

/// Development without SMTP_URL: each message becomes an .eml file under DATA_DIR/mail (and a log line),
/// so every mail flow works with no mail server.
struct FileMailClient: MailClient {
    let directory: URL
    let logger: Logger

    func send(_ message: MailMessage, from: MailAddress, messageID: String) async throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let file = directory.appendingPathComponent("\(Int(Date().timeIntervalSince1970))-\(messageID.prefix(36)).eml")
        let rendered = MIME.render(message, from: from, messageID: messageID, date: Date())
        guard FileManager.default.createFile(atPath: file.path, contents: Data(rendered.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown)
        }
        logger.info("mail written to a file (no SMTP_URL)", metadata: ["file": .string(file.path), "to": .string(message.to.address)])
    }
}
